"""Where the deployable stack lives in this installation, and ``export_stack`` to write it out.

A wheel carries the stack under ``otel_ml/_stack/`` (copied there at build time); a source
checkout (or an editable install of one) has it at the repository root. Either way the same
files come out: prometheus/, grafana/, collector-config/, examples/, docker-compose.yml and
the Dockerfile with the build context it needs (pyproject.toml, README.md and the package).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from otel_ml.errors import UserError
from otel_ml.stack_layout import BUILD_CONTEXT_ENTRIES, IGNORED_NAMES, PACKAGED_DIR, STACK_ENTRIES

__all__ = ["stack_root", "export_stack"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def stack_root() -> Path:
    """The folder holding ``prometheus/``, ``grafana/`` ... for this installation."""
    packaged = _PACKAGE_DIR / PACKAGED_DIR
    if (packaged / "prometheus").is_dir():
        return packaged
    checkout = _PACKAGE_DIR.parent
    if (checkout / "prometheus").is_dir() and (checkout / "docker-compose.yml").is_file():
        return checkout
    raise UserError(f"this installation of otel_ml ({_PACKAGE_DIR}) carries no stack files "
                    "(prometheus/, grafana/, ...): install it from a wheel or a source checkout "
                    "(pip install .), not from a copy of the package folder")


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(*IGNORED_NAMES), dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)


def export_stack(dest: str | Path, *, force: bool = False) -> list[Path]:
    """Write the whole stack into ``dest`` (created; must be empty unless ``force``).

    Returns the top-level paths written. ``docker compose up --build`` then runs from ``dest``.
    """
    root = stack_root()
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{dest}: exists and is not a directory")
    try:
        if dest.is_dir() and any(dest.iterdir()) and not force:
            raise UserError(f"{dest}: directory is not empty (pass --force to overwrite the stack files in it)")
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for name in (*STACK_ENTRIES, *BUILD_CONTEXT_ENTRIES):
            source = root / name
            if not source.exists():
                if name in BUILD_CONTEXT_ENTRIES:
                    continue  # LICENSE may be absent from an old checkout; the image builds without it
                raise UserError(f"the stack in {root} is incomplete: {name} is missing")
            _copy(source, dest / name)
            written.append(dest / name)
        # the Dockerfile builds the image from the package source: copy the installed package
        package = dest / "otel_ml"
        shutil.copytree(_PACKAGE_DIR, package, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(PACKAGED_DIR, *IGNORED_NAMES))
        written.append(package)
    except OSError as exc:
        raise UserError(f"cannot write the stack to {dest}: {exc.strerror or exc}") from None
    return written
