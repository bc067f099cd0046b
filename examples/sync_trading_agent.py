"""A sync trading agent behind the guard: P&L settled from each close, and a loss breaker that
stops new positions but never traps an open one.

It shows ``guard.GuardTransport`` on a plain ``httpx.Client``: every trade open and close is
settled from its reply (a close is ``pnl - fee``, an open ``-fee``) into the guard's ledger.
With ``consecutive_loss_limit=2``, two losing closes in a row open the ``consecutive_loss``
breaker: the next ``trade/open`` is refused before it leaves the process
(``guard.BreakerOpenError``), while ``trade/close`` (risk-reducing) still goes through, so the
agent can always get out of a position it already holds.

The simulator runs over real loopback HTTP in a thread (``guard.sim.serve``); the trading API
is under ``<base>/trading/v1``. Prices are moved with the simulator-only ``POST /_sim/price``
(``POST /_sim/clock {"advance_s": N}`` would let the seeded walk move them instead), through an
unguarded client. Run it with::

    python examples/sync_trading_agent.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import httpx

import guard
from guard.sim import SimClock, create_app, serve


def money(value: object) -> Decimal:
    return Decimal(str(value))


def main() -> int:
    db = Path(tempfile.mkdtemp(prefix="guard-example-")) / "guard.db"
    print(f"guard database: {db}")
    settings = guard.GuardSettings(db_path=db, agent_id="trader", consecutive_loss_limit=2)
    transport = guard.GuardTransport(httpx.HTTPTransport(), settings=settings)

    with (
        # A frozen simulator clock: prices move only when we say so.
        serve(create_app(seed=11, clock=SimClock(start=1_767_225_600))) as base,
        # The agent's client: every call goes through the guard (`transport=` guards every
        # host; against the real API, `mounts={"all://*purpleflea.com": transport}`).
        httpx.Client(transport=transport, base_url=f"{base}/trading/v1") as client,
        # Simulator controls go through an unguarded client: the guard would count them as
        # unknown risk-increasing calls.
        httpx.Client(base_url=base) as control,
    ):
        r = client.post("/auth/register", json={})  # the simulator makes an HL wallet for us
        r.raise_for_status()
        agent = r.json()
        auth = {"Authorization": f"Bearer {agent['api_key']}"}
        print(f"registered trading agent {agent['agent_id']}")

        pnls: list[Decimal] = []
        fees: list[Decimal] = []

        def set_price(coin: str, price: float) -> None:
            control.post("/_sim/price", json={"coin": coin, "price": price}).raise_for_status()

        def open_(coin: str, side: str, size_usd: float) -> dict[str, object]:
            order = {"coin": coin, "side": side, "size_usd": size_usd, "leverage": 3}
            r = client.post("/trade/open", json=order, headers=auth)
            r.raise_for_status()
            opened: dict[str, object] = r.json()
            fees.append(money(opened["fee"]))
            print(f"  open  {side:5} {coin} ${size_usd} at {opened['entry_price']}")
            return opened

        def close(position: dict[str, object]) -> None:
            r = client.post(
                "/trade/close", json={"position_id": position["position_id"]}, headers=auth
            )
            r.raise_for_status()
            closed = r.json()
            pnls.append(money(closed["pnl"]))
            fees.append(money(closed["fee"]))
            print(
                f"  close {closed['side']:5} {closed['coin']} at {closed['exit_price']}: "
                f"pnl {closed['pnl']:+.2f}, fee {closed['fee']:.2f}"
            )

        # A position opened early and kept: it will be closed while the breaker is open.
        set_price("BTC", 95_000)
        held = open_("BTC", "long", 500)

        # Three round trips on ETH: one win, then two losses in a row.
        for n, exit_price in enumerate((3_400, 3_250, 3_150), start=1):
            print(f"round {n}:")
            set_price("ETH", 3_300)
            position = open_("ETH", "long", 1_000)
            set_price("ETH", exit_price)
            close(position)

        breaker = transport.snapshot()["breakers"]["consecutive_loss"]
        print(f"consecutive_loss breaker: {breaker['state']} ({breaker['reason']})")

        # A new position is risk-increasing: refused locally, nothing is sent.
        try:
            open_("ETH", "long", 1_000)
        except guard.BreakerOpenError as denied:
            print("new open refused before it left the process:")
            print(json.dumps(denied.to_dict(), indent=2))
        else:
            raise AssertionError("the loss breaker should have refused the open")

        # Closing reduces risk: allowed even with the loss breaker open.
        print("closing the BTC position opened before the breaker tripped:")
        set_price("BTC", 96_900)
        close(held)

        sent = control.get("/_sim/requests", params={"service": "trading"}).json()["requests"]
        opens = sum(1 for q in sent if q["path"].endswith("/trade/open"))
        print(f"trade/open requests that reached the server: {opens} (5 tried, 1 refused)")

        ledger = transport.snapshot()["ledger"]
        print("guard ledger:", json.dumps(ledger))
        # Realized P&L is every close's pnl minus every fee (open and close fees alike).
        expected = sum(pnls, Decimal(0)) - sum(fees, Decimal(0))
        print(
            f"sum(pnl) {sum(pnls, Decimal(0)):+} - fees {sum(fees, Decimal(0))} = {expected:+}; "
            f"guard says realized_pnl {ledger['realized_pnl']}, fees {ledger['fees']}"
        )
        assert money(ledger["realized_pnl"]) == expected
        assert money(ledger["fees"]) == sum(fees, Decimal(0))
        # The breaker stays open (GUARD_LOSS_COOLDOWN_S=0) until an operator resets it, even
        # though the winning close ended the streak:
        state = transport.snapshot()["breakers"]["consecutive_loss"]["state"]
        print(f"consecutive_loss breaker still {state}; an operator clears it with:")
        print(f"  guard reset consecutive_loss --reason 'reviewed' --db {db} --agent trader")
    return 0


if __name__ == "__main__":
    sys.exit(main())
