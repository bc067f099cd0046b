"""A local Purple Flea simulator, faithful to the public server code (see ``create_app``).

Routes by Host (``casino.purpleflea.com`` ...) so clients keep the real base URLs through
``httpx.ASGITransport``, and by path prefix on loopback (``http://127.0.0.1:8765/casino/api/v1/...``).
Everything under ``/_sim/`` is a simulator control and not part of the real API.
"""

from ._app import SimApp, create_app
from ._core import SimClock
from ._serve import serve

__all__ = ["SimApp", "SimClock", "create_app", "serve"]
