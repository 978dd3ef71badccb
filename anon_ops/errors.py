"""The errors anon-ops raises on bad input: each names the field or value at fault."""


class AnonOpsError(Exception):
    """Base of every error anon-ops raises on purpose."""


class ConfigError(AnonOpsError, ValueError):
    """An invalid job configuration; the message names the offending field."""


class DataError(AnonOpsError, ValueError):
    """Input data that cannot be processed with the configuration (missing column, uncovered value…)."""


class AbortedError(AnonOpsError):
    """The work was aborted on request."""
