"""The HTML report in a real browser (headless Chromium): it renders offline, with pictures, no errors."""

import json
import zlib

import numpy as np
import pytest

from otel_ml.report import drift_report
from tests.report.browser import Page, png_size
from tests.report.data import frames

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    ref, cur = frames(seed=8, n_ref=4000, n_cur=3000, shifts={"x1": 0.4, "x2": 1.2},
                      colors_cur=["red", "green", "teal", "violet"])
    for i in range(6):  # more features, some with missing values
        ref[f"z{i}"] = np.random.default_rng(i).gamma(2.0, size=4000)
        cur[f"z{i}"] = np.random.default_rng(50 + i).gamma(2.0 + 0.3 * i, size=3000)
    cur["z0"][:300] = np.nan
    rep = drift_report(ref, cur, target="label", prediction="pred", probabilities=["proba_0", "proba_1"])
    path = tmp_path_factory.mktemp("html") / "report.html"
    rep.to_html(path)
    return path, rep


@pytest.fixture(scope="module")
def page():
    p = Page()
    yield p
    p.close()


def test_page_renders_offline_with_pictures_and_no_errors(page, page_file, tmp_path):
    path, rep = page_file
    url = path.as_uri()
    page.open(url)
    opened = page.evaluate("document.querySelectorAll('details[open]').length")
    assert opened == min(5, len(rep.drifted))
    sizes = json.loads(page.evaluate(
        "(() => { document.querySelectorAll('details').forEach(d => d.open = true);"
        " return JSON.stringify([...document.querySelectorAll('svg')].map(s => {"
        " const r = s.getBoundingClientRect(); return [r.width, r.height]; })); })()"))
    assert len(sizes) == len(rep.features) + len(rep.predictions)
    assert all(w > 100 and h > 50 for w, h in sizes), sizes
    # Summary table: worst first, each name links to its section.
    first = page.evaluate("document.querySelector('table:nth-of-type(2) tr:nth-child(2) a').textContent")
    assert first == rep.ranking()[0]
    assert page.evaluate("[...document.querySelectorAll('a[href^=\"#\"]')].every("
                         "a => document.getElementById(a.getAttribute('href').slice(1)))")
    # Text the user reads: the unseen categories and the accuracy table.
    body = page.evaluate("document.body.innerText")
    assert "teal (unseen)" in body and "violet" in body and "current (estimated)" in body
    shot = page.screenshot()
    (tmp_path / "report.png").write_bytes(shot)
    width, height = png_size(shot)
    assert width >= 800 and height >= 600
    assert _distinct_colours(shot) > 20  # a rendered page, not a blank one
    assert page.requests() == [url], page.requests()  # the document itself, nothing fetched
    assert page.errors() == []


def _distinct_colours(png: bytes) -> int:
    """Rough count of distinct pixel values (decodes an 8-bit RGB(A) non-interlaced PNG's first rows)."""
    pos, chunks = 8, []
    meta = None
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        kind = png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            meta = data
        elif kind == b"IDAT":
            chunks.append(data)
        pos += 12 + length
    width = int.from_bytes(meta[0:4], "big")
    channels = {2: 3, 6: 4}[meta[9]]
    raw = zlib.decompress(b"".join(chunks))
    stride = 1 + width * channels
    rows = min(len(raw) // stride, 400)
    # Filter bytes are ignored: with filters the values still differ wherever the picture does.
    pixels = {raw[r * stride + 1 + i: r * stride + 1 + i + channels]
              for r in range(rows) for i in range(0, width * channels, channels * 7)}
    return len(pixels)


def test_wide_page_keeps_tables_short_and_links_open_collapsed_sections(page, tmp_path):
    rng = np.random.default_rng(3)
    ref = {f"f{i:02d}": rng.normal(size=2000) for i in range(45)}
    cur = {f"f{i:02d}": rng.normal(0.6 if i < 3 else 0.0, size=1500) for i in range(45)}
    rep = drift_report(ref, cur)
    path = tmp_path / "wide.html"
    rep.to_html(path)
    page.events.clear()
    page.open(path.as_uri())
    first_table_rows = page.evaluate("document.querySelectorAll('h2 + table tr').length")
    assert first_table_rows == 1 + 30
    assert "15 more features" in page.evaluate("document.body.innerText")
    last = rep.ranking()[-1]
    anchor = f"feature-{list(rep.features).index(last)}"
    section = f"document.getElementById('{anchor}').closest('details')"
    assert page.evaluate(f"{section}.open") is False
    page.evaluate(f"document.querySelector('a[href=\"#{anchor}\"]').click()")
    assert page.evaluate(f"{section}.open") is True  # the link opens its section
    assert page.errors() == [] and page.requests() == [path.as_uri()]
