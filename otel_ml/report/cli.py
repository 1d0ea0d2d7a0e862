"""``otel-ml report``: the drift report of two data files, as HTML and / or JSON.

    otel-ml report train.csv last_week.csv -o report.html --json report.json --target label
"""

from __future__ import annotations

import argparse
import sys

from otel_ml.errors import UserError

__all__ = ["register", "write_report"]

_EPILOG = """\
REFERENCE is a .csv / .parquet / .npy file or a profile written by `otel-ml reference build`
(.json); CURRENT is a data file. Features are the columns both share, less the role columns.
--proba names one probability column per class: class=column pairs (0=p_neg,1=p_pos), or columns
whose names end in the class (proba_0,proba_1). Exit status: 0, 1 when --fail-on is reached,
2 on bad input. Progress goes to stderr when a run takes over a second.
"""

_LEVELS = {"info": 1, "warning": 2, "critical": 3}


def _names(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated column names")
    return names


def register(subparsers) -> None:
    """Add the ``report`` subcommand to the ``otel-ml`` parser."""
    p = subparsers.add_parser(
        "report", help="drift report of current data against a reference (HTML / JSON)",
        description="Compare CURRENT with REFERENCE using the processor's drift statistics, severity tiers "
                    "and multiple-testing correction; write a self-contained HTML page and / or JSON.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reference", metavar="REFERENCE", help="reference data file or profile (.json)")
    p.add_argument("current", metavar="CURRENT", help="current data file")
    add_report_options(p)
    p.set_defaults(func=_run)


def add_report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="HTML", default=None, help="HTML report to write")
    p.add_argument("--json", metavar="JSON", default=None, help="JSON report to write (docs/report.md)")
    p.add_argument("--features", type=_names, default=None, metavar="A,B", help="feature columns to compare")
    p.add_argument("--target", default=None, metavar="COL", help="label column (realized accuracy)")
    p.add_argument("--prediction", default=None, metavar="COL", help="prediction column")
    p.add_argument("--proba", type=_names, default=None, metavar="COL,...", help="class-probability columns")
    p.add_argument("--confidence", default=None, metavar="COL", help="confidence column (0..1)")
    p.add_argument("--categorical", type=_names, default=[], metavar="A,B",
                   help="columns to treat as categorical even if numeric")
    p.add_argument("--fail-on", choices=sorted(_LEVELS, key=_LEVELS.get), default=None,
                   help="exit 1 when a feature reaches this severity")
    p.add_argument("--quiet", action="store_true", help="print no summary")


def _run(args: argparse.Namespace) -> int:
    return write_report(args.reference, args.current, args, "otel-ml report: ")


def write_report(reference, current, args: argparse.Namespace, prefix: str) -> int:
    """Compute the report and write what ``args`` ask for; shared with ``reference build --report-against``."""
    from otel_ml.report.build import drift_report
    from otel_ml.report.progress import Progress

    for flag, path in (("-o", args.output), ("--json", args.json)):
        if path is not None and path == current:
            raise UserError(f"{flag} {path}: would overwrite the current data")
    progress = Progress(prefix)
    try:
        report = drift_report(reference, current, features=args.features, target=args.target,
                              prediction=args.prediction, probabilities=args.proba, confidence=args.confidence,
                              categorical=args.categorical, progress=progress)
        if args.json:
            progress(f"writing {args.json}")
            report.to_json(args.json)
        if args.output:
            from otel_ml.report.html import render
            from otel_ml.report.model import write_text

            write_text(args.output, render(report, progress))
    finally:
        progress.close()
    if not args.quiet:
        print(repr(report))
        for path in (args.output, args.json):
            if path:
                print(f"wrote {path}")
    worst = report.summary()["worst_severity"]
    if args.fail_on and worst >= _LEVELS[args.fail_on]:
        print(f"{prefix}a feature reached severity {args.fail_on} or above (--fail-on)", file=sys.stderr)
        return 1
    return 0


def report_against_reference(args: argparse.Namespace, roles, profile_path) -> int:
    """``reference build --report-against CURRENT``: the report of CURRENT against the full
    reference data, with the roles the build used (those CURRENT lacks are left out)."""
    from pathlib import Path

    from otel_ml.report.inputs import load_data

    current = load_data(args.report_against, "current")
    has = current.columns.keys()
    html = args.report or str(Path(profile_path).with_suffix("")) + ".report.html"
    ns = argparse.Namespace(
        output=html, json=None, features=[f for f in roles.features if f in has] or None,
        target=roles.target if roles.target in has else None,
        prediction=roles.prediction if roles.prediction in has else None, proba=None,
        confidence=roles.confidence if roles.confidence in has else None, categorical=args.categorical,
        fail_on=None, quiet=args.quiet)
    return write_report(args.data if len(args.data) > 1 else args.data[0], current, ns, "otel-ml reference: ")
