"""guard: a risk guard for AI agents that move money through HTTP (an httpx transport wrapper).

    transport = guard.AsyncGuardTransport(httpx.AsyncHTTPTransport())
    async with httpx.AsyncClient(mounts={"all://*purpleflea.com": transport}) as client:
        ...

The library adds no log sink on import; ``guard.configure_logging()`` (or
``logger.enable("guard")``) opts in.
"""

from loguru import logger as _logger

from ._exceptions import BreakerOpenError, ConfigError, GuardError, KeyExpiredError
from ._log import configure_logging
from ._settings import GuardSettings
from ._transport import AsyncGuardTransport, GuardTransport

__version__ = "0.1.0"

__all__ = [
    "AsyncGuardTransport",
    "BreakerOpenError",
    "ConfigError",
    "GuardError",
    "GuardSettings",
    "GuardTransport",
    "KeyExpiredError",
    "__version__",
    "configure_logging",
]

_logger.disable("guard")
