"""``otel-ml``: the command-line entry point.

Subcommands live beside the code they drive and register themselves here explicitly:
``processor`` (otel_ml.processor.cli), ``reference`` (otel_ml.processor.reference_cli), ``remediate`` (otel_ml.remediation.cli),
``demo`` (otel_ml.demo.cli). A user mistake prints one line to stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from otel_ml.errors import UserError
from otel_ml.version import __version__

# subcommand -> module defining register(subparsers); each parser sets `func` (args -> int).
_SUBCOMMANDS = {
    "processor": "otel_ml.processor.cli",
    "reference": "otel_ml.processor.reference_cli",
    "report": "otel_ml.report.cli",
    "remediate": "otel_ml.remediation.cli",
    "demo": "otel_ml.demo.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-ml",
        description="OpenTelemetry observability for ML serving: drift/accuracy processor, "
        "reference profiles, alert remediation and a demo.",
    )
    parser.add_argument("--version", action="version", version=f"otel-ml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name in _SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if (exc.name or "").startswith("otel_ml"):
                raise  # a broken install of otel_ml itself, not a missing optional extra
            missing = exc.name or str(exc)
            stub = sub.add_parser(command, help=f"(unavailable: {missing} missing)")
            stub.set_defaults(func=_missing_extra(missing))
            continue
        module.register(sub)
    return parser


def _missing_extra(missing: str):
    def run(_args) -> int:
        raise UserError(f"this command needs '{missing}': pip install 'otel-ml[processor]'")
    return run


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"otel-ml {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
