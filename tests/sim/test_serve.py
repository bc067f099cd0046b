"""guard.sim.serve: the simulator over loopback HTTP from a thread."""

from __future__ import annotations

import httpx

from guard.sim import create_app, serve


def test_serve_answers_over_http_and_stops() -> None:
    """A served simulator answers real HTTP on a free loopback port, and stops on exit."""
    with serve(create_app(seed=1)) as base:
        assert base.startswith("http://127.0.0.1:")
        r = httpx.post(f"{base}/casino/api/v1/auth/register", json={})
        assert r.status_code == 201
    try:
        httpx.get(f"{base}/_sim", timeout=1)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the server still answers after exit")
