"""Reference-vs-current pictures drawn with matplotlib's SVG backend, returned as inline ``<svg>`` text.

Text stays text (``svg.fonttype: none``), so a picture is a few kilobytes and the page needs no
font files; ids get a per-picture prefix so that many pictures can share one page.
"""

from __future__ import annotations

import io
import re

import numpy as np

from otel_ml.errors import UserError
from otel_ml.report.columns import CategoricalPlot, NumericPlot

__all__ = ["numeric_svg", "categorical_svg", "REFERENCE_COLOR", "CURRENT_COLOR", "UNSEEN_COLOR"]

REFERENCE_COLOR = "#4c72b0"
CURRENT_COLOR = "#dd8452"
UNSEEN_COLOR = "#c44e52"
_RC = {"svg.fonttype": "none", "svg.hashsalt": "otel-ml-report", "font.size": 9,
       "axes.spines.top": False, "axes.spines.right": False}
_ID = re.compile(r'id="([^"]+)"')


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("the HTML report draws with matplotlib: pip install 'otel-ml[report]'") from None

    fig = Figure(figsize=(width, height))  # fixed margins: a layout engine would double the cost
    FigureCanvasSVG(fig)
    return fig


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise UserError("the HTML report draws with matplotlib: pip install 'otel-ml[report]'") from None
    return matplotlib


def _svg(fig, prefix: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    for old in set(_ID.findall(text)):
        new = f"{prefix}-{old}"
        text = text.replace(f'id="{old}"', f'id="{new}"').replace(f"#{old})", f"#{new})") \
                   .replace(f'href="#{old}"', f'href="#{new}"')
    return text


def numeric_svg(plot: NumericPlot, prefix: str) -> str:
    """Overlaid step densities of reference and current."""
    matplotlib = _matplotlib()

    with matplotlib.rc_context(_RC):
        fig = _figure(5.8, 2.3)
        fig.subplots_adjust(left=0.09, right=0.98, bottom=0.2, top=0.96)
        ax = fig.add_subplot()
        ax.stairs(plot.reference, plot.edges, fill=True, alpha=0.45, color=REFERENCE_COLOR, label="reference")
        ax.stairs(plot.current, plot.edges, fill=True, alpha=0.45, color=CURRENT_COLOR, label="current")
        ax.set_ylabel("density")
        ax.legend(frameon=False, loc="upper right")
        if plot.outside > 0:
            ax.set_xlabel(f"{plot.outside:.1%} of values outside the drawn range")
        return _svg(fig, prefix)


def categorical_svg(plot: CategoricalPlot, prefix: str) -> str:
    """Paired horizontal bars of category shares; unseen categories hatched and labelled."""
    matplotlib = _matplotlib()

    with matplotlib.rc_context(_RC):
        n = len(plot.labels)
        height = max(1.4, 0.32 * n + 0.7)
        fig = _figure(6.4, height)
        labels = [(f"{lab[:28]} (unseen)" if unseen else lab[:36]) for lab, unseen in zip(plot.labels, plot.unseen)]
        left = min(0.45, 0.05 + 0.0105 * max(map(len, labels), default=1))
        fig.subplots_adjust(left=left, right=0.8, bottom=0.5 / height, top=1 - 0.15 / height)
        ax = fig.add_subplot()
        y = np.arange(n)
        ax.barh(y - 0.2, plot.reference, height=0.4, color=REFERENCE_COLOR, label="reference")
        bars = ax.barh(y + 0.2, plot.current, height=0.4, color=CURRENT_COLOR, label="current")
        for bar, unseen in zip(bars, plot.unseen):
            if unseen:
                bar.set_color(UNSEEN_COLOR)
                bar.set_hatch("//")
        ax.set_yticks(y, labels)
        for tick, unseen in zip(ax.get_yticklabels(), plot.unseen):
            if unseen:
                tick.set_color(UNSEEN_COLOR)
        ax.invert_yaxis()
        ax.set_xlabel("share of rows")
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig, prefix)
