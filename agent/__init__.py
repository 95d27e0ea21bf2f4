"""Edge agent for in-vehicle devices.

The public surface is small: :class:`AgentError` (the one root exception), the event
model in :mod:`agent.events` and the configuration in :mod:`agent.config`.
"""

from agent.errors import AgentError, ConfigError

__all__ = ["AgentError", "ConfigError", "__version__"]
__version__ = "0.1.0"
