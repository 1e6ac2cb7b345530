"""The one error type users see: a one-line cause and what to do, never a traceback."""


class ConformanceError(Exception):
    """A failure the user can act on. `str(err)` is the one line the CLI prints."""

    exit_code = 2


class ConfigError(ConformanceError):
    """A configuration file or option is wrong; the message names the file and the field."""
