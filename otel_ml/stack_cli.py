"""``otel-ml stack``: the Prometheus / Alertmanager / Grafana / Collector stack this package carries."""

from __future__ import annotations

import argparse

__all__ = ["register"]

_DESCRIPTION = """\
The deployable stack shipped inside the package: Prometheus rules and rule tests, Alertmanager
routing and templates, Grafana provisioning and dashboards, Tempo and Thanos configuration,
Collector configurations, example processor and remediation configurations, and the
docker-compose.yml with the Dockerfile it builds.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("stack", help="write out the shipped Prometheus/Grafana/Collector stack",
                              description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="stack_command", metavar="{export,path}")
    e = sub.add_parser("export", help="write the whole stack into DIR (docker compose runs from there)")
    e.add_argument("dir", metavar="DIR", help="target directory (created; must be empty unless --force)")
    e.add_argument("--force", action="store_true", help="write into a non-empty DIR, overwriting stack files")
    e.set_defaults(func=_export)
    w = sub.add_parser("path", help="print where this installation keeps the stack files")
    w.set_defaults(func=_path)
    p.set_defaults(func=_usage(p))


def _usage(parser: argparse.ArgumentParser):
    def run(_args) -> int:
        parser.print_help()
        return 2
    return run


def _export(args: argparse.Namespace) -> int:
    from otel_ml.stack_files import export_stack

    written = export_stack(args.dir, force=args.force)
    print(f"wrote {len(written)} stack entries to {args.dir}: " + ", ".join(p.name for p in written))
    print(f"next: cd {args.dir} && cp .env.example .env && docker compose up -d --build   (see README.md)")
    return 0


def _path(_args: argparse.Namespace) -> int:
    from otel_ml.stack_files import stack_root

    print(stack_root())
    return 0
