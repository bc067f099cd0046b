"""Serve the simulator over real HTTP on loopback from a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._app import create_app


@contextmanager
def serve(app: Any = None, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` (any ASGI app; a new unseeded simulator by default) with uvicorn in a thread.

    Yields the base URL (``http://127.0.0.1:<port>``; port 0 picks a free one) and stops the
    server on exit. For sync clients, the CLI and examples, which cannot use
    ``httpx.ASGITransport``.
    """
    import uvicorn

    config = uvicorn.Config(app or create_app(), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
