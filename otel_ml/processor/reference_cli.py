"""``otel-ml reference``: build and inspect reference profiles (P2).

    otel-ml reference build train.csv -o iris.profile.json --model iris --version 3
    otel-ml reference show iris.profile.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from otel_ml.errors import UserError

__all__ = ["register"]

_BUILD_EPILOG = """\
column roles (overridable):
  prediction  columns named prediction, predictions, pred, y_pred, predicted
  confidence  columns named confidence, conf: the probability of the predicted class, in
              [1/k, 1] for k classes (a column below 1/k is refused: see
              --confidence-from-positive). Columns named proba, probability, score are never
              guessed: they usually hold P(positive class); give them a role or use --features
  target      columns named target, label, labels, y, y_true, ground_truth
              (its distribution is the prediction reference when there is no prediction column)
  proba       only with --proba: one probability column per class, in class order (sorted
              labels, as scikit-learn's classes_); gives per-class calibration, so the processor
              estimates precision / recall / F1 as well as accuracy
  features    every other column, or exactly --features
file types: .csv (blank cells are missing values), .parquet / .pq (needs pyarrow:
otel-ml[parquet]), .npy (structured arrays, or --columns to name the columns of a plain 2-D array)
"""


def _names(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated column names")
    return names


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def register(subparsers) -> None:
    """Add the ``reference`` subcommand (with ``build`` and ``show``) to the ``otel-ml`` parser."""
    parser = subparsers.add_parser(
        "reference", help="build or inspect reference profiles of a model's data",
        description="Reference profiles: what a model's features, predictions and confidences looked "
                    "like in training; the processor measures drift against them.")
    parser.set_defaults(func=lambda args: _usage(parser))
    sub = parser.add_subparsers(dest="reference_command", metavar="ACTION")

    build = sub.add_parser(
        "build", help="build a profile from CSV / Parquet / .npy files",
        description="Build a reference profile from data files.", epilog=_BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("data", nargs="+", metavar="DATA", help="data files (same columns in each)")
    build.add_argument("-o", "--output", required=True, metavar="PROFILE", help="profile file to write (JSON)")
    build.add_argument("--model", required=True, help="model name the profile is for")
    build.add_argument("--version", default=None,
                       help="model version (default: '*', every version of the model)")
    build.add_argument("--features", type=_names, default=None, metavar="A,B", help="feature columns")
    build.add_argument("--prediction", default=None, metavar="COL", help="prediction column")
    build.add_argument("--confidence", default=None, metavar="COL",
                       help="confidence column: probability of the predicted class, in [1/k, 1]")
    build.add_argument("--confidence-from-positive", action="store_true",
                       help="the --confidence column holds P(positive class) of a binary model: "
                            "convert it to the predicted class's probability, max(p, 1 - p)")
    build.add_argument("--proba", type=_names, default=None, metavar="A,B,...",
                       help="per-class probability columns, in class order (sorted labels)")
    build.add_argument("--target", default=None, metavar="COL", help="target (label) column")
    build.add_argument("--categorical", type=_names, default=[], metavar="A,B",
                       help="columns to treat as categorical even if numeric")
    build.add_argument("--columns", type=_names, default=None, metavar="A,B",
                       help="names of the columns of a plain 2-D .npy array, in order")
    build.add_argument("--bins", type=_positive, default=10,
                       help="reference-quantile bins for PSI / Jensen-Shannon (default 10)")
    build.add_argument("--sample", type=_positive, default=5000,
                       help="keep at most this many values per numeric column for KS / Wasserstein "
                            "(uniform subsample; default 5000)")
    build.add_argument("--quiet", action="store_true", help="print nothing on success")
    build.add_argument("--report-against", metavar="CURRENT", default=None,
                       help="also write the drift report of CURRENT against this data (otel-ml report)")
    build.add_argument("--report", metavar="HTML", default=None,
                       help="where --report-against writes (default: PROFILE with .report.html)")
    build.set_defaults(func=_build)

    show = sub.add_parser("show", help="print every section of a profile file",
                          description="Print a profile's model, version and rows, every column with its "
                                      "reference and data-quality rates, and the performance section "
                                      "(baseline metrics, calibration).")
    show.add_argument("profile", metavar="PROFILE")
    show.set_defaults(func=_show)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _build(args: argparse.Namespace) -> int:
    from otel_ml.processor.reference_build import build_reference, describe

    out = Path(args.output)
    if args.report and not args.report_against:
        raise UserError("--report: needs --report-against CURRENT (the data to compare with)")
    if not out.parent.exists():
        raise UserError(f"-o {out}: directory {out.parent} does not exist")
    profile, roles = build_reference(
        args.data, args.model, args.version, features=args.features, prediction=args.prediction,
        confidence=args.confidence, target=args.target, proba=args.proba,
        confidence_from_positive=args.confidence_from_positive, categorical=args.categorical,
        columns=args.columns, bins=args.bins, sample=args.sample)
    profile.save(out)
    if not args.quiet:
        print(describe(profile, roles))
        print(f"wrote {out}")
    if args.report_against:
        from otel_ml.report.cli import report_against_reference
        return report_against_reference(args, roles, out)
    return 0


def _show(args: argparse.Namespace) -> int:
    from otel_ml.processor.profile import Profile
    from otel_ml.processor.reference_build import describe

    print(describe(Profile.load(args.profile)))
    return 0
