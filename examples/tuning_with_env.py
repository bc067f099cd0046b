"""Tuning the guard with ``GUARD_*`` environment variables, catching a bad value, and trying new
thresholds in shadow mode before enforcing them.

Every threshold of ``guard.GuardSettings`` is read from ``GUARD_`` + its name upper-cased
(``consecutive_loss_limit`` -> ``GUARD_CONSECUTIVE_LOSS_LIMIT``); keyword arguments win over the
environment. Normally the variables come from the shell or the deployment, e.g.::

    GUARD_CONSECUTIVE_LOSS_LIMIT=3 GUARD_MODE=shadow python my_agent.py

This example sets them in ``os.environ`` at the top so that it runs on its own. It then shows
that a bad value raises ``guard.ConfigError`` naming the variable and what it accepts, and that
with ``GUARD_MODE=shadow`` a tripped breaker blocks nothing but counts ``would_deny``. The
simulator runs in process (``httpx.ASGITransport``); the database goes to a temporary
directory. Run it with::

    python examples/tuning_with_env.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import httpx
from loguru import logger

import guard
from guard.sim import SimClock, create_app

WORKDIR = Path(tempfile.mkdtemp(prefix="guard-example-"))

# What a deployment would export; set here so the example runs on its own. guard reads the
# environment when a GuardSettings() is built, not at import, so this may come after the imports.
os.environ.update(
    {
        "GUARD_AGENT_ID": "dice-bot",
        "GUARD_DB_PATH": str(WORKDIR / "guard.db"),
        "GUARD_CONSECUTIVE_LOSS_LIMIT": "3",
        "GUARD_BALANCE_DROP_PCT": "25",
        "GUARD_RETRY_ATTEMPTS": "3",
        "GUARD_LOG_LEVEL": "warning",  # case does not matter
    }
)

CASINO = "https://casino.purpleflea.com/api/v1"


def show_settings() -> None:
    settings = guard.GuardSettings()  # reads GUARD_* now, at construction
    print(f"database in {WORKDIR}")
    print("settings read from the environment:")
    for name in ("agent_id", "mode", "consecutive_loss_limit", "balance_drop_pct"):
        print(f"  {guard.GuardSettings.env_name(name):30} -> {name} = {getattr(settings, name)!r}")
    print(f"  {'GUARD_RETRY_ATTEMPTS':30} -> retry_attempts = {settings.retry_attempts!r}")
    print(f"  {'GUARD_LOG_LEVEL':30} -> log_level = {settings.log_level!r}")
    print(f"  (not set: error_rate_pct keeps its default {settings.error_rate_pct!r})")
    # A keyword wins over the environment.
    tighter = guard.GuardSettings(consecutive_loss_limit=2)
    print(f"GuardSettings(consecutive_loss_limit=2) -> {tighter.consecutive_loss_limit}")


def show_bad_value() -> None:
    os.environ["GUARD_BALANCE_DROP_PCT"] = "150"
    os.environ["GUARD_RETRY_ATTEMPTS"] = "0"
    try:
        guard.GuardSettings()
    except guard.ConfigError as exc:  # also a ValueError; `guard config` exits 2 with it
        print(f"bad values refused with guard.ConfigError ({len(exc.problems)} problems):")
        for line in exc.problems:
            print(f"  {line}")
    else:
        raise AssertionError("150 % should have been refused")
    finally:
        os.environ["GUARD_BALANCE_DROP_PCT"] = "25"
        os.environ["GUARD_RETRY_ATTEMPTS"] = "3"


async def shadow_run() -> None:
    """Shadow mode: the new limit of 3 losses in a row is measured, not enforced."""
    os.environ["GUARD_MODE"] = "shadow"
    # Show guard's own events at GUARD_LOG_LEVEL (warning): the trip and each "would deny".
    # loguru starts with a default stderr handler of its own, which would print every event a
    # second time: an app that configures its logging removes it first.
    logger.remove()
    guard.configure_logging(json=False, sink=sys.stdout)
    # A seed and a frozen clock make the run repeatable (bets without a client_seed draw on
    # the time, as the real casino does).
    sim = create_app(seed=4, clock=SimClock(start=1_767_225_600))
    transport = guard.AsyncGuardTransport(httpx.ASGITransport(app=sim))  # GuardSettings() inside
    async with (
        httpx.AsyncClient(mounts={"all://*purpleflea.com": transport}) as client,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://sim") as control,
    ):
        agent = (await client.post(f"{CASINO}/auth/register", json={})).json()
        # Simulator-only: fund the account as an on-chain deposit would.
        await control.post("/_sim/credit", json={"agent_id": agent["agent_id"], "amount": 100})
        auth = {"Authorization": f"Bearer {agent['api_key']}"}
        print(f"shadow mode ({transport.snapshot()['mode']}): 12 bets on a 10 % game")
        line = []
        for _ in range(12):
            r = await client.post(
                f"{CASINO}/games/custom", json={"win_probability": 10, "amount": 0.5}, headers=auth
            )
            r.raise_for_status()  # never a BreakerOpenError in shadow mode
            line.append("W" if r.json()["won"] else "L")
        print(f"  all 12 sent: {' '.join(line)}")
        snapshot = transport.snapshot()
        for name in ("consecutive_loss", "balance_drop"):
            b = snapshot["breakers"][name]
            print(f"  {name}: {b['state']} ({b['reason'] or 'not tripped'})")
        print("  counts:", json.dumps(snapshot["counts"]))
        stopped_at = 12 - snapshot["counts"]["would_deny"] + 1
        print(f"  in enforce mode, bet {stopped_at} and every bet after it would have been refused")
        print("  ledger:", json.dumps(snapshot["ledger"]))
    assert snapshot["counts"]["would_deny"] > 0
    assert snapshot["counts"]["denied"] == 0


def main() -> int:
    show_settings()
    show_bad_value()
    asyncio.run(shadow_run())
    print("happy with the would_deny count? drop GUARD_MODE=shadow (enforce is the default)")
    # Breakers tripped during the trial are stored with their mode: in enforce mode the same
    # database does not let them block, and the streak that tripped them starts afresh.
    db = os.environ["GUARD_DB_PATH"]
    print(f"the trial's trips stay in the audit trail: guard status --db {db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
