"""Which top-level files and folders of the repository are the deployable stack.

The wheel carries them under ``otel_ml/_stack/`` (copied at build time by ``setup.py`` from the
repository root, which stays their one source); ``otel-ml stack export`` writes them back out.
Standard library only: ``setup.py`` loads this file before otel_ml is installed.
"""

#: The stack itself: rules and rule tests, Alertmanager routing and templates, Grafana
#: provisioning and dashboards, Tempo, Thanos, Collector configurations, example configurations
#: and the compose file with the image it builds.
STACK_ENTRIES = (
    "prometheus",
    "grafana",
    "collector-config",
    "examples",
    "docker-compose.yml",
    "Dockerfile",
    ".dockerignore",
    ".env.example",
)
#: What the Dockerfile's build context needs besides the otel_ml package itself.
BUILD_CONTEXT_ENTRIES = ("pyproject.toml", "README.md", "LICENSE")
#: Folder of the installed package that holds the copies.
PACKAGED_DIR = "_stack"
#: Never copied: caches and editor leftovers.
IGNORED_NAMES = ("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", "*~", "*.swp")
