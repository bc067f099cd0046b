"""``guard demo``: a scripted agent session against the built-in simulator, through the guard.

Five scenes on one virtual clock (the simulator's, also handed to the guard, whose retry and
cooldown waits move it instead of sleeping), so the session takes no real time and, for one
seed, always goes the same way:

1. normal play: a trade opens, a few bets move the P&L;
2. a losing streak trips ``consecutive_loss``: the next bet is refused locally, the trade close
   still goes through;
3. a midnight key rotation: one 401 trips ``auth`` and dead-letters the bet, later calls with the
   old key are refused locally (no retry storm), the rotated key resumes;
4. a 5xx storm on the casino trips ``error_rate`` for the casino alone; escrow still answers; one
   probe after the cooldown heals it;
5. a withdrawal moves the balance without counting as a loss.

The summary is read back from the guard's SQLite file (the audit table, the dead letters).
``--json`` prints only that summary, with nothing random in it (no trace ids, idempotency keys,
wall-clock times or absolute paths the user did not type).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ._breakers import LOSS_BREAKERS
from ._dlq import DeadLetters
from ._exceptions import BreakerOpenError
from ._settings import GuardSettings
from ._store import SyncStore
from ._transport import AsyncGuardTransport
from .sim import SimClock, create_app

MIDNIGHT = 1_767_225_600.0  # 2026-01-01T00:00:00Z: when the casino key rotates
START = MIDNIGHT - 20 * 60  # the session starts at 23:40 UTC
CASINO = "https://casino.purpleflea.com/api/v1"
TRADING = "https://trading.purpleflea.com/v1"
ESCROW = "https://escrow.purpleflea.com/escrow"
SIM = "http://simulator"  # the unguarded client's base: /_sim controls answer on any host
ADDRESS = "0x" + "ab12" * 10  # where the withdrawal goes
FUNDING = 100
ORDER = {"coin": "BTC", "side": "long", "size_usd": 500, "leverage": 5}
RESET_REASON = "demo: operator reviewed the streak"
# The demo's thresholds; every other setting is the default (GUARD_* variables are ignored).
DEMO_SETTINGS: dict[str, Any] = {
    "consecutive_loss_limit": 5,
    "error_min_calls": 5,
    "cooldown_s": 30,
}
SHOWN_SETTINGS = (
    "consecutive_loss_limit", "balance_drop_pct", "error_rate_pct", "error_min_calls",
    "error_window_s", "cooldown_s", "retry_attempts",
)  # fmt: skip
LEDGER_FIELDS = (
    "realized_pnl", "fees", "balance", "high_water_mark", "drawdown_pct",
    "loss_streak", "wins", "losses",
)  # fmt: skip
DEAD_LETTER_FIELDS = (
    "id", "service", "operation", "outcome", "status", "http_status", "attempts", "error",
)  # fmt: skip

Reply = httpx.Response | BreakerOpenError


def demo_settings(db: Path) -> GuardSettings:
    """Every setting given explicitly: no GUARD_* variable of the shell changes the demo (and
    no alert webhook hears of a simulated outage)."""
    values = {name: info.default for name, info in GuardSettings.model_fields.items()}
    values.update(DEMO_SETTINGS, db_path=db)
    return GuardSettings(**values)


def usd(value: Any, *, sign: bool = False) -> str:
    """``$1.23``; ``+$1.23`` / ``-$1.23`` with ``sign`` (from a number or a decimal string)."""
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    text = f"${abs(amount):,.2f}"
    return "-" + text if amount < 0 else ("+" + text if sign else text)


def hms(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def status_of(reply: Reply) -> int | None:
    return reply.status_code if isinstance(reply, httpx.Response) else None


class Out:
    """The live account of the session: a line or a small panel per step; silent for --json."""

    def __init__(self, console: Console | None) -> None:
        self.console = console

    def say(self, markup: Any) -> None:
        if self.console is not None:
            self.console.print(markup, highlight=False)

    def scene(self, number: int, title: str, at: float, intro: str) -> None:
        if self.console is not None:
            self.console.print()
            self.console.rule(f"[bold]{number}/5  {title}[/]  [dim]{hms(at)} UTC[/]", align="left")
            self.say(f"[dim]{intro}[/]")

    def ok(self, text: str) -> None:
        self.say(f"  [green]✓[/] {text}")

    def bad(self, text: str) -> None:
        self.say(f"  [red]✗[/] {text}")

    def note(self, text: str) -> None:
        self.say(f"    [dim]{text}[/]")

    def refused(self, denied: BreakerOpenError, what: str, *, brief: bool = False) -> None:
        why = "" if brief else f": {escape(denied.reason)}"
        self.say(
            f"  [yellow]⊘[/] {what}: [bold yellow]refused locally[/] by [bold]{denied.breaker}[/]"
            f"{why} ({type(denied).__name__}, nothing sent)"
        )


@dataclass
class Session:
    """The agent's guarded client, the unguarded simulator controls and the shared clock."""

    out: Out
    clock: SimClock
    agent: httpx.AsyncClient  # every call of the agent goes through the guard
    sim: httpx.AsyncClient  # unguarded: /_sim controls, funding, the server's request log
    transport: AsyncGuardTransport
    db: Path
    casino_key: str = ""
    trading_key: str = ""
    position_id: str = ""
    bets: int = 0

    def at(self, epoch: float) -> float:
        """Move the clock to ``epoch`` (never back): each scene starts at a fixed time, so the
        jitter of retry waits never reaches a later scene."""
        self.clock.set(max(epoch, self.clock.now()))
        return self.clock.now()

    async def call(
        self, method: str, url: str, *, key: str | None = None, body: Any = None
    ) -> Reply:
        """One call of the agent: the response, or the guard's refusal (nothing was sent)."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            return await self.agent.request(method, url, json=body, headers=headers)
        except BreakerOpenError as denied:
            return denied

    async def bet(self, chance: int, amount: float, *, key: str | None = None) -> Reply:
        """A bet on the casino's custom game; a fixed client seed keeps rolls off the clock."""
        self.bets += 1
        body = {"win_probability": chance, "amount": amount, "client_seed": f"demo-{self.bets}"}
        return await self.call(
            "POST", f"{CASINO}/games/custom", key=key or self.casino_key, body=body
        )

    async def show_bet(self, chance: int, amount: float) -> Reply:
        """A bet, and one line about it."""
        reply = await self.bet(chance, amount)
        label = f"bet {self.bets:<2d} {chance:>2d}% game {usd(amount)}"
        if isinstance(reply, BreakerOpenError):
            self.out.refused(reply, label)
        elif reply.status_code != 200:
            self.out.bad(f"{label}: HTTP {reply.status_code}")
        else:
            body = reply.json(parse_float=Decimal)
            pnl = Decimal(str(body["amount_won"])) - Decimal(str(body["amount_bet"]))
            won = "[green]won [/]" if body["won"] else "[red]lost[/]"
            ledger = self.ledger()
            self.out.ok(
                f"{label}  {won} {usd(pnl, sign=True):>7}  balance {usd(body['new_balance'])}"
                f"  P&L {usd(ledger['realized_pnl'], sign=True)}  streak {ledger['loss_streak']}"
            )
        return reply

    async def requests(self, service: str) -> list[dict[str, Any]]:
        """What reached the simulator for ``service``, oldest first."""
        r = await self.sim.get("/_sim/requests", params={"service": service, "limit": 10**6})
        rows: list[dict[str, Any]] = r.json()["requests"]
        return rows

    def ledger(self) -> dict[str, Any]:
        ledger: dict[str, Any] = self.transport.snapshot()["ledger"]
        return ledger

    def breaker(self, name: str, scope: str | None = None) -> str:
        entry = self.transport.snapshot()["breakers"][name]
        if scope is not None:
            entry = entry["scopes"].get(scope, {"state": "closed"})
        return str(entry["state"])

    def latest_dead_letter(self) -> str:
        """``#id (outcome)`` of the newest dead letter, read back from the database: the guard
        commits it before the agent sees the failure."""
        store = SyncStore(self.db, create=False)
        try:
            rows = DeadLetters(store).list("all", limit=1)
        finally:
            store.close()
        return f"#{rows[0]['id']} ({rows[0]['outcome']})" if rows else "none"


# --- the scenes ----------------------------------------------------------------------------


async def normal_play(s: Session) -> dict[str, Any]:
    s.out.scene(1, "Normal play", s.at(START), "The agent opens a trade and plays a 75% game.")
    agent = (await s.agent.post(f"{CASINO}/auth/register", json={})).json()
    s.casino_key = agent["api_key"]
    await s.sim.post("/_sim/credit", json={"agent_id": agent["agent_id"], "amount": FUNDING})
    s.out.ok(f"casino account registered and funded with {usd(FUNDING)} (a simulated deposit)")
    s.trading_key = (await s.agent.post(f"{TRADING}/auth/register", json={})).json()["api_key"]
    opened = await s.call("POST", f"{TRADING}/trade/open", key=s.trading_key, body=ORDER)
    if isinstance(opened, httpx.Response) and opened.status_code == 200:
        trade = opened.json()
        s.position_id = trade["position_id"]
        s.out.ok(
            f"trade open: BTC long ${ORDER['size_usd']} x{ORDER['leverage']} at "
            f"{trade['entry_price']:,.0f}, fee {usd(trade['fee'])}"
        )
    for _ in range(8):
        s.clock.advance(20)
        await s.show_bet(75, 1.0)
    ledger = s.ledger()
    return {"bets": 8, "realized_pnl": ledger["realized_pnl"], "balance": ledger["balance"]}


async def losing_streak(s: Session) -> dict[str, Any]:
    limit = DEMO_SETTINGS["consecutive_loss_limit"]
    s.out.scene(
        2,
        "A losing streak",
        s.at(MIDNIGHT - 10 * 60),
        f"The agent switches to a 5% game. At {limit} losing settlements in a row the guard stops "
        "risk-increasing calls before they leave the process.",
    )
    if s.breaker("consecutive_loss") != "closed":
        s.out.note("(with this seed the breaker already tripped during normal play)")
    denied, sent = None, 0
    for _ in range(200):
        s.clock.advance(5)
        before = len(await s.requests("casino"))
        reply = await s.show_bet(5, 0.5)
        if isinstance(reply, BreakerOpenError):
            denied = reply
            if len(await s.requests("casino")) == before:
                s.out.note("the casino's request log did not grow: the bet never left")
            shown = escape(json.dumps(reply.to_dict(), indent=2))
            s.out.say(Panel(shown, title="what the agent gets: denied.to_dict()", expand=False))
            break
        sent += 1
    s.clock.advance(30)
    close: dict[str, Any] = {"status": None}
    if s.position_id:
        position = {"position_id": s.position_id}
        reply = await s.call("POST", f"{TRADING}/trade/close", key=s.trading_key, body=position)
        close["status"] = status_of(reply)
        if isinstance(reply, BreakerOpenError):
            s.out.refused(reply, "trade close")
        elif reply.status_code == 200:
            trade = reply.json(parse_float=Decimal)
            close["pnl"] = str(Decimal(str(trade["pnl"])) - Decimal(str(trade["fee"])))
            s.out.ok(
                f"trade close (risk-reducing) still goes through: {reply.status_code}, "
                f"P&L {usd(close['pnl'], sign=True)} after fees"
            )
    state = s.breaker("consecutive_loss")
    s.out.note(f"consecutive_loss stays {state} until an operator resets it")
    refused = None if denied is None else {"breaker": denied.breaker, "reason": denied.reason}
    return {"bets_sent": sent, "refused": refused, "trade_close": close, "breaker": state}


async def key_rotation(s: Session) -> dict[str, Any]:
    s.out.scene(
        3,
        "The midnight key rotation",
        s.at(MIDNIGHT - 60),
        "An operator reviews the streak and resets the breaker. At midnight the casino rotates "
        "the agent's key; the agent does not know yet.",
    )
    for name in LOSS_BREAKERS:
        if s.breaker(name) != "closed":
            s.transport.reset(name, reason=RESET_REASON)
            s.out.ok(f'operator: reset {name}, reason "{RESET_REASON}" (audited)')
    s.at(MIDNIGHT)
    old = s.casino_key
    rotated = (await s.sim.post("/_sim/keys/rotate", json={"api_key": old})).json()["api_key"]
    s.out.note("00:00:00 the casino rotates the key (POST /_sim/keys/rotate)")
    mark = len(await s.requests("casino"))
    reply = await s.bet(50, 0.5, key=old)
    s.out.bad(
        f"bet {s.bets} with the old key: [bold red]HTTP {status_of(reply)}[/]; [bold]auth[/] "
        f"is {s.breaker('auth')} for this key; dead letter {s.latest_dead_letter()}"
    )
    bet = {"win_probability": 50, "amount": 0.5}
    tries = [
        ("retry the bet", "POST", f"{CASINO}/games/custom", bet),
        ("balance check", "GET", f"{CASINO}/auth/balance", None),
        ("bet again", "POST", f"{CASINO}/games/custom", bet),
        ("withdrawal", "POST", f"{CASINO}/auth/withdraw", {"amount": 5, "address": ADDRESS}),
    ]
    refused = 0
    for number, (what, method, url, body) in enumerate(tries):
        s.clock.advance(15)
        again = await s.call(method, url, key=old, body=body)
        if isinstance(again, BreakerOpenError):
            refused += 1
            s.out.refused(again, what, brief=number > 0)
    log = (await s.requests("casino"))[mark:]
    unauthorized = sum(row["status"] == 401 for row in log)
    s.out.note(
        f"GET /_sim/requests: since the rotation the casino saw {len(log)} request(s), "
        f"{unauthorized} of them 401, while the agent tried {1 + len(tries)} times: no retry storm"
    )
    s.at(MIDNIGHT + 5 * 60)
    s.casino_key = rotated
    s.out.note("00:05:00 the agent is given the rotated key")
    resumed = await s.show_bet(50, 0.5)
    auth = s.breaker("auth")
    s.out.note(f"auth is {auth} again; the old key stays refused locally (retired)")
    return {
        "first_status": status_of(reply),
        "server_requests": len(log),
        "server_401s": unauthorized,
        "refused_locally": refused,
        "resumed_status": status_of(resumed),
        "breaker": auth,
    }


async def casino_storm(s: Session) -> dict[str, Any]:
    start = s.at(MIDNIGHT + 30 * 60)
    s.out.scene(
        4,
        "A 5xx storm on the casino",
        start,
        "The casino answers 503 to everything. A 503 means the bet never ran, so the guard may "
        "retry it; every attempt counts in the casino's error window.",
    )
    for _ in range(2):
        s.clock.advance(10)
        await s.show_bet(50, 0.5)
    await s.sim.post("/_sim/faults", json={"service": "casino", "error_rate": 1})
    s.out.note("the casino fails: POST /_sim/faults {service: casino, error_rate: 1}")
    mark = len(await s.requests("casino"))
    reply = await s.bet(50, 0.5)
    attempts = len((await s.requests("casino"))[mark:])
    stopped = attempts < demo_settings(s.db).retry_attempts
    s.out.bad(
        f"bet {s.bets}: [bold red]HTTP {status_of(reply)}[/] after {attempts} attempts; "
        f"[bold]error_rate[/] is {s.breaker('error_rate', 'casino')} for the casino"
        + (" and refused the next retry" if stopped else "")
        + f"; dead letter {s.latest_dead_letter()}"
    )
    s.at(start + 30)
    after = await s.show_bet(50, 0.5)
    escrow = await s.call("GET", f"{ESCROW}/stats")
    s.out.ok(f"GET /escrow/stats: {status_of(escrow)} (escrow is another service: unaffected)")
    await s.sim.delete("/_sim/faults")
    s.at(start + 60)
    s.out.note(
        f"the casino recovers (DELETE /_sim/faults); {hms(s.clock.now())} the "
        f"{DEMO_SETTINGS['cooldown_s']} s cooldown is over: one probe may go"
    )
    mark = len(await s.requests("casino"))
    probe = await s.call("GET", f"{CASINO}/auth/balance", key=s.casino_key)
    reached = len((await s.requests("casino"))[mark:])
    state = s.breaker("error_rate", "casino")
    s.out.ok(
        f"balance check, the probe: {status_of(probe)} ({reached} request); error_rate {state}"
    )
    s.clock.advance(10)
    await s.show_bet(50, 0.5)
    return {
        "bet_status": status_of(reply),
        "attempts": attempts,
        "next_bet_refused_by": after.breaker if isinstance(after, BreakerOpenError) else None,
        "escrow_status": status_of(escrow),
        "probe_status": status_of(probe),
        "probe_requests": reached,
        "breaker": state,
    }


async def withdrawal(s: Session) -> dict[str, Any]:
    s.out.scene(
        5,
        "A withdrawal",
        s.at(MIDNIGHT + 40 * 60),
        "Money leaving the account is a cash flow, not a loss: the balance and its high-water "
        "mark fall in step, so the drawdown in percent, the P&L and the streak stay as they were.",
    )
    before = s.ledger()
    body = {"amount": 10, "address": ADDRESS}
    reply = await s.call("POST", f"{CASINO}/auth/withdraw", key=s.casino_key, body=body)
    after = s.ledger()
    s.out.ok(f"withdraw $10.00 to {ADDRESS[:8]}…: {status_of(reply)}")

    table = Table("", "before", "after", box=None, padding=(0, 2), pad_edge=False)
    for name, key in (("balance", "balance"), ("high-water mark", "high_water_mark")):
        table.add_row(f"    {name}", usd(before[key]), usd(after[key]))
    table.add_row("    drawdown %", f"{before['drawdown_pct']}%", f"{after['drawdown_pct']}%")
    pnl = [usd(ledger["realized_pnl"], sign=True) for ledger in (before, after)]
    table.add_row("    realized P&L", *pnl)
    table.add_row("    loss streak", str(before["loss_streak"]), str(after["loss_streak"]))
    s.out.say(table)
    return {
        "status": status_of(reply),
        "balance": [before["balance"], after["balance"]],
        "realized_pnl": [before["realized_pnl"], after["realized_pnl"]],
        "loss_streak": [before["loss_streak"], after["loss_streak"]],
        "drawdown_pct": [before["drawdown_pct"], after["drawdown_pct"]],
    }


SCENES = (
    ("normal_play", normal_play),
    ("losing_streak", losing_streak),
    ("key_rotation", key_rotation),
    ("casino_storm", casino_storm),
    ("withdrawal", withdrawal),
)


# --- the session and its summary -------------------------------------------------------------


async def play(db: Path, seed: int, out: Out) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every scene on a fresh simulator: what each scene saw, and the guard's last snapshot."""
    clock = SimClock(start=START)
    app = create_app(seed=seed, clock=clock, rate_limits=False)

    async def sleep(seconds: float) -> None:  # retry waits move the virtual clock
        clock.advance(seconds)

    transport = AsyncGuardTransport(
        httpx.ASGITransport(app=app), settings=demo_settings(db), clock=clock.now, sleep=sleep
    )
    scenes: dict[str, Any] = {}
    try:
        async with (
            httpx.AsyncClient(mounts={"all://*purpleflea.com": transport}) as agent,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SIM) as sim,
        ):
            s = Session(out, clock, agent, sim, transport, db)
            for name, scene in SCENES:
                scenes[name] = await scene(s)
    finally:
        await transport.aclose()  # the client closed it already; this is a no-op then
    return scenes, transport.snapshot()


def read_back(db: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The audit trail (oldest first) and the dead letters (by id), from the database."""
    store = SyncStore(db, create=False)
    try:
        audit = list(reversed(store.audit(demo_settings(db).agent_id, 1000)))
        letters = sorted(DeadLetters(store).list("all"), key=lambda row: int(row["id"]))
    finally:
        store.close()
    return audit, letters


def summarize(
    directory: str, seed: int, result: tuple[dict[str, Any], dict[str, Any]], db: Path
) -> dict[str, Any]:
    """The JSON summary. Audit times are left out: retry waits carry jitter."""
    (scenes, snapshot), (audit, letters) = result, read_back(db)
    settings, shown_db = demo_settings(db), str(Path(directory) / "guard.db")
    return {
        "seed": seed,
        "dir": directory,
        "db": shown_db,
        "settings": {GuardSettings.env_name(k): getattr(settings, k) for k in SHOWN_SETTINGS},
        "scenes": scenes,
        "ledger": {k: snapshot["ledger"][k] for k in LEDGER_FIELDS},
        "counts": {k: snapshot["counts"][k] for k in ("calls", "denied", "dead_letters")},
        "trips": [
            {"breaker": a["breaker"], "scope": a["scope"], "reason": a["reason"]}
            for a in audit
            if (a["from_state"], a["to_state"]) == ("closed", "open")
        ],
        "audit": [
            {k: a[k] for k in ("breaker", "scope", "from_state", "to_state", "reason", "actor")}
            for a in audit
        ],
        "dead_letters": [{k: row[k] for k in DEAD_LETTER_FIELDS} for row in letters],
        "next_commands": next_commands(shown_db, letters),
    }


def next_commands(db_path: str, letters: list[dict[str, Any]]) -> list[str]:
    db = shlex.quote(db_path)
    one = str(letters[-1]["id"]) if letters else "ID"
    return [
        f"guard status --db {db}",
        f"guard dlq list --db {db}",
        f"guard dlq show {one} --db {db}",
        f"GUARD_API_KEY=<current key> guard dlq replay {one} --db {db}",
    ]


def show_intro(console: Console, directory: str, seed: int, db: Path) -> None:
    settings, shown_db = demo_settings(db), str(Path(directory) / "guard.db")
    shown = ", ".join(
        f"{GuardSettings.env_name(k)}={getattr(settings, k):g}" for k in SHOWN_SETTINGS
    )
    text = (
        "An agent moves money through the Purple Flea APIs with guard as its httpx transport. "
        f"The simulator runs in this process on the real hostnames (seed {seed}), on a virtual "
        "clock: retries and cooldowns take no real time.\n"
        f"[dim]Demo thresholds (GUARD_* environment variables in real use): {shown}.[/]\n"
        f"Breaker state, audit trail and dead letters: [bold]{escape(shown_db)}[/]"
    )
    console.print(Panel(text, title="[bold]guard demo[/]", border_style="magenta", expand=False))


def show_summary(
    console: Console, summary: dict[str, Any], audit: list[dict[str, Any]], elapsed: float
) -> None:
    ledger, counts = summary["ledger"], summary["counts"]
    tripped = ", ".join(f"[red]{t['breaker']}[/]" for t in summary["trips"]) or "none"
    console.print()
    console.rule("[bold]Summary[/]", align="left")
    console.print(
        f"realized P&L [bold]{usd(ledger['realized_pnl'], sign=True)}[/] "
        f"(fees {usd(ledger['fees'])}), balance [bold]{usd(ledger['balance'])}[/], "
        f"{ledger['wins']} won / {ledger['losses']} lost; {counts['calls']} calls sent, "
        f"{counts['denied']} refused locally, {counts['dead_letters']} dead-lettered.\n"
        f"Breakers that tripped: {tripped}. Why, and what closed them (the audit table):",
        highlight=False,
    )
    trail = Table("time", "breaker", "change", "why")
    for a in audit:
        colour = {"open": "red", "half_open": "yellow"}.get(a["to_state"], "green")
        by = " [dim](operator)[/]" if a["actor"] == "operator" else ""
        trail.add_row(
            hms(a["at"]),
            f"{a['breaker']}\n[dim]{escape(a['scope'])}[/]",
            f"{a['from_state']} → [{colour}]{a['to_state']}[/]",
            escape(a["reason"]) + by,
        )
    console.print(trail)
    letters = Table("id", "operation", "outcome", "attempts", "error", title="Dead letters",
                    title_justify="left")  # fmt: skip
    for row in summary["dead_letters"]:
        letters.add_row(
            str(row["id"]),
            f"{row['service']} {row['operation']}",
            row["outcome"],
            str(row["attempts"]),
            escape(row["error"]),
        )
    console.print(letters)
    status, dlq, show, replay = (escape(c) for c in summary["next_commands"])
    text = (
        f"[bold]{status}[/]\n  breakers, ledger, latency and error rates as the guard left them\n"
        f"[bold]{dlq}[/]\n  the failed money operations (--json for machines)\n"
        f"[bold]{show}[/]\n  one of them: error, outcome, the redacted request\n"
        f"[bold]{replay}[/]\n  re-sends a not_executed entry with its Idempotency-Key and the key "
        "in GUARD_API_KEY (read from the environment, never stored or printed). The demo's "
        "entries carry simulator keys and the real Purple Flea hostnames: replaying one would "
        "reach the real API, so use replay on your own agent's entries."
    )
    console.print(f"[dim]done in {elapsed:.1f} s of real time[/]", highlight=False)
    console.print(Panel(text, title="Try next", border_style="cyan", expand=False))


# --- entry point -----------------------------------------------------------------------------


class DemoDirError(Exception):
    """The demo's directory or its database cannot be prepared (one line to show)."""


def fresh_db(directory: str) -> Path:
    """``directory`` created, with a new, empty guard database in it (an old one, and its
    -wal/-shm files, removed)."""
    db = Path(directory) / "guard.db"
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        SyncStore(db).close()
    except (OSError, sqlite3.Error) as exc:
        raise DemoDirError(f"cannot prepare {db}: {exc}") from None
    return db


def run(directory: str, *, seed: int = 7, as_json: bool = False) -> dict[str, Any]:
    """Run the demo into ``directory``; print it as it happens (or, with ``as_json``, print only
    the JSON summary) and return the summary. Raises :class:`DemoDirError` when ``directory``
    or its database cannot be prepared."""
    started = time.perf_counter()
    console = None if as_json else Console(highlight=False)
    db = fresh_db(directory)
    if console is not None:
        show_intro(console, directory, seed, db)
    summary = summarize(directory, seed, asyncio.run(play(db, seed, Out(console))), db)
    if console is None:
        print(json.dumps(summary, indent=2))
    else:
        show_summary(console, summary, read_back(db)[0], time.perf_counter() - started)
    return summary
