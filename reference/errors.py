"""The reference's own failure types: what `nvcf-reference` prints as one line, never a traceback."""


class ReferenceFailure(Exception):
    """The server cannot start or go on (a port, a database, a file); `str(err)` is the whole message."""

    exit_code = 2


class ConfigError(ReferenceFailure):
    """A flag or a file the server was given is wrong; the message names it."""
