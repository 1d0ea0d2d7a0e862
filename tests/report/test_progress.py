"""Progress lines: silent for a quick run, every stage once a run has passed the threshold."""

import io

from otel_ml.report.progress import Progress
from tests.support.waiting import wait_until


def test_quick_run_prints_nothing():
    out = io.StringIO()
    p = Progress("otel-ml report: ", after_s=30.0, stream=out)
    p("reading the reference data")
    p("computing drift")
    p.close()
    assert out.getvalue() == ""


def test_slow_run_prints_the_current_stage_then_every_later_one():
    out = io.StringIO()
    p = Progress("otel-ml report: ", after_s=0.01, stream=out)
    p("reading the reference data")
    wait_until(lambda: out.getvalue(), timeout=10, message="the first progress line")
    p("computing drift")
    p.close()
    p("rendering")  # after close: nothing more
    lines = out.getvalue().splitlines()
    assert [ln.rsplit(" (", 1)[0] for ln in lines] == ["otel-ml report: reading the reference data",
                                                       "otel-ml report: computing drift"]
    assert all(ln.endswith(" s)") for ln in lines)
