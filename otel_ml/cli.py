"""``otel-ml``: the command-line entry point.

Subcommands live beside the code they drive and register themselves here explicitly:
``processor`` (otel_ml.processor.cli), ``reference`` (otel_ml.processor.reference_cli),
``remediate`` (otel_ml.remediation.cli), ``demo`` (otel_ml.demo.cli), ``stack``
(otel_ml.stack_cli) and ``report`` (otel_ml.report.cli). A user mistake, a
missing optional extra included, prints one line to stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from otel_ml.errors import OtelMlError
from otel_ml.version import __version__

# subcommand -> module defining register(subparsers); each parser sets `func` (args -> int).
_SUBCOMMANDS = {
    "processor": "otel_ml.processor.cli",
    "reference": "otel_ml.processor.reference_cli",
    "report": "otel_ml.report.cli",
    "remediate": "otel_ml.remediation.cli",
    "demo": "otel_ml.demo.cli",
    "stack": "otel_ml.stack_cli",
}
#: Extras each subcommand needs as a whole (named in the install line of a missing-module error).
_COMMAND_EXTRAS = {
    "processor": ("processor",),
    "reference": ("processor",),
    "remediate": ("processor",),
    "demo": ("processor", "sklearn"),
    "stack": (),
    "report": ("report",),
}
#: Top-level module -> the extra of pyproject.toml that installs it.
_MODULE_EXTRA = {
    "opentelemetry": "sdk", "prometheus_client": "sdk", "google": "processor", "grpc": "processor",
    "scipy": "processor", "yaml": "processor", "datasketches": "processor", "aiohttp": "processor",
    "sklearn": "sklearn", "threadpoolctl": "sklearn", "pyarrow": "parquet", "pynvml": "gpu",
    "torch": "torch", "onnxruntime": "onnx", "matplotlib": "report", "pandas": "report",
}


def _declared_extras() -> set[str] | None:
    """Extras of the installed distribution (None when its metadata cannot be read)."""
    from importlib import metadata

    try:
        return set(metadata.metadata("otel-ml").get_all("Provides-Extra") or [])
    except metadata.PackageNotFoundError:
        return None


def missing_extra_message(command: str, exc: ImportError) -> str:
    """One line naming the module that could not be imported and the extra that installs it."""
    module = exc.name or ""
    top = module.split(".")[0]
    wanted = [e for e in _COMMAND_EXTRAS.get(command, ()) if e]
    extra = _MODULE_EXTRA.get(top)
    if extra and extra not in wanted:
        wanted.append(extra)
    declared = _declared_extras()
    if declared is not None:
        wanted = [e for e in wanted if e in declared]
    spec = f"[{','.join(wanted)}]" if wanted else ""
    install = f"pip install 'otel-ml{spec}' (from a checkout: pip install '.{spec}')"
    if isinstance(exc, ModuleNotFoundError):
        what = f"the Python module '{module}' is not installed"
    else:  # the module is there but lacks a name: an installed version older than the floor
        what = f"{exc} (an installed version is older than otel-ml supports)"
        install = install.replace("pip install", "pip install -U", 1)
    return f"{what}; install the extra: {install}"


def _is_own_module(exc: ImportError) -> bool:
    return (exc.name or "").split(".")[0] == "otel_ml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-ml",
        description="OpenTelemetry observability for ML serving: drift/accuracy processor, "
        "reference profiles, alert remediation, the shipped Prometheus/Grafana stack and a demo.",
    )
    parser.add_argument("--version", action="version", version=f"otel-ml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, module_name in _SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue  # a subcommand this version does not have
            if _is_own_module(exc):
                raise  # a broken install of otel_ml itself, not a missing optional extra
            stub = sub.add_parser(command, help=f"(unavailable: {exc.name or exc} missing)", add_help=False)
            stub.add_argument("_ignored", nargs=argparse.REMAINDER)  # any arguments: the answer is the install line
            stub.set_defaults(func=_missing_extra(command, exc))
            continue
        module.register(sub)
    return parser


def _missing_extra(command: str, exc: ImportError):
    message = missing_extra_message(command, exc)

    def run(_args) -> int:
        raise OtelMlError(message)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    prefix = f"otel-ml {args.command}: error:"
    try:
        return int(args.func(args) or 0)
    except OtelMlError as exc:
        print(f"{prefix} {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional extra imported only once the command runs
        if _is_own_module(exc):
            raise
        print(f"{prefix} {missing_extra_message(args.command, exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or socket the command was pointed at: the user's to fix
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prefix} {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
