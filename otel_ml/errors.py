"""Named errors. A ``UserError`` is a mistake the user can fix; the CLI prints it as one line."""


class OtelMlError(Exception):
    """Base of every error otel_ml raises on purpose."""


class UserError(OtelMlError):
    """Bad input from the user (missing file, bad flag, invalid config); printed without traceback."""


class ConfigError(UserError):
    """Invalid configuration. The message names the offending key, e.g. ``windows.size: must be > 0``."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class InvalidTelemetryError(OtelMlError, ValueError):
    """A value handed to the otel_ml API cannot be recorded (e.g. confidences of the wrong shape)."""
