"""guard: a risk guard for AI agents that move money through HTTP (an httpx transport wrapper).

The library adds no log sink on import; an application opts in with ``logger.enable("guard")``.
"""

from loguru import logger as _logger

from ._exceptions import ConfigError, GuardError
from ._settings import GuardSettings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "GuardError",
    "GuardSettings",
    "__version__",
]

_logger.disable("guard")
