"""The agent's exceptions: one root, a subclass per kind of failure a caller can act on."""


class AgentError(Exception):
    """Root of every exception the agent raises on purpose."""


class ConfigError(AgentError):
    """The configuration file or environment is invalid; the message is one line for a human."""


class StorageError(AgentError):
    """The local store cannot accept or return data (disk full, corrupt database, ...)."""


class UplinkError(AgentError):
    """The cloud refused or could not be reached; the caller retries later."""


class SourceError(AgentError):
    """A vehicle source (GNSS, CAN, OBD, camera) failed or sent something unusable."""


class ModelError(AgentError):
    """A driver-monitoring model is missing, corrupt or failed to load."""
