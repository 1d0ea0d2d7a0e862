"""Build hook: the wheel carries the deployable stack (``otel_ml/stack_layout.py`` lists it).

The repository's top-level ``prometheus/``, ``grafana/``, ``collector-config/``, ``examples/``
and ``docker-compose.yml`` stay the one source; ``build_py`` copies them into the build tree
under ``otel_ml/_stack/``, so no copy is ever committed. Editable installs skip the copy (the
package then finds the stack in the checkout). Everything else is in pyproject.toml.
"""

import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _layout():
    spec = importlib.util.spec_from_file_location("_otel_ml_stack_layout", ROOT / "otel_ml" / "stack_layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithStack(build_py):
    """``build_py`` plus the stack files under ``otel_ml/_stack/``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        layout = _layout()
        target = Path(self.build_lib) / "otel_ml" / layout.PACKAGED_DIR
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        ignore = shutil.ignore_patterns(*layout.IGNORED_NAMES)
        for name in (*layout.STACK_ENTRIES, *layout.BUILD_CONTEXT_ENTRIES):
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=ignore)
            elif source.is_file():
                shutil.copy2(source, target / name)
            else:
                raise SystemExit(f"setup.py: {source} is missing; the wheel must carry the whole stack")


setup(cmdclass={"build_py": BuildPyWithStack})
