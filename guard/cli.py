"""The ``guard`` command line: config, sim, status and reset (more land with their issues).

Errors are one line on stderr with exit code 2 (bad input) or 1 (not found / nothing done);
never a traceback.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ._breakers import BREAKERS
from ._cli_dlq import dlq_app
from ._engine import Engine
from ._exceptions import ConfigError
from ._settings import GuardSettings, unknown_env_vars
from ._store import SyncStore, ledger_statement, transition_statements

app = typer.Typer(
    name="guard",
    help="Risk guard for AI agents that move money through the Purple Flea APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr and give the exit to raise."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def load_settings() -> GuardSettings:
    """The settings from the environment, or one stderr line per problem and exit 2."""
    try:
        return GuardSettings()
    except ConfigError as exc:
        for line in exc.problems:
            typer.echo(line, err=True)
        raise typer.Exit(2) from None


@app.command()
def config(
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
) -> None:
    """Print the effective settings (secrets masked), or what is wrong with them (exit 2)."""
    settings = load_settings()
    for name in unknown_env_vars():
        typer.echo(f"warning: {name} is not a guard setting and is ignored", err=True)
    values = settings.public_dict()
    if as_json:
        typer.echo(json.dumps(values, indent=2))
        return
    table = Table(title="guard settings", title_justify="left")
    table.add_column("env var", style="bold")
    table.add_column("value")
    table.add_column("meaning", style="dim")
    for name, value in values.items():
        meaning = GuardSettings.model_fields[name].description or ""
        shown = "unset" if value is None else str(value)
        table.add_row(GuardSettings.env_name(name), shown, meaning)
    Console().print(table)


@app.command()
def sim(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8765, min=0, max=65535, help="Port to listen on."),
    seed: int | None = typer.Option(None, help="Seed for repeatable keys, ids, rolls and prices."),
    rate_limits: bool = typer.Option(True, help="Apply the real per-IP and per-agent limits."),
) -> None:
    """Serve the Purple Flea simulator over HTTP (loopback paths such as /casino/api/v1/...)."""
    try:
        import uvicorn

        from .sim import create_app
    except ImportError:
        raise fail("guard sim needs the 'sim' extra: pip install 'pf-guard[sim]'") from None
    typer.echo(
        f"Purple Flea simulator on http://{host}:{port} "
        f"(casino: /casino/api/v1, trading: /trading/v1, escrow: /escrow, controls: /_sim)"
    )
    uvicorn.run(
        create_app(seed=seed, rate_limits=rate_limits), host=host, port=port, log_level="warning"
    )


DB_HELP = "SQLite file of the guard (default: GUARD_DB_PATH)."
AGENT_HELP = "Agent whose state to use (default: GUARD_AGENT_ID)."


def open_store(db: Path | None, settings: GuardSettings) -> SyncStore:
    """The guard database, or one line and exit 1 when there is none."""
    path = db or settings.db_path
    try:
        return SyncStore(path, create=False)
    except FileNotFoundError:
        raise fail(f"no guard database at {path} (set GUARD_DB_PATH or pass --db)", 1) from None


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    agent: str | None = typer.Option(None, "--agent", help=AGENT_HELP),
) -> None:
    """Show breakers, ledger, latency and error rates, as the guard last wrote them."""
    settings = load_settings()
    agent_id = agent or settings.agent_id
    store = open_store(db, settings)
    try:
        rows = store.load(agent_id)[0]
        saved = store.snapshot(agent_id)
        agents = store.agents()
    finally:
        store.close()
    if saved is None and not rows:
        known = ", ".join(agents) or "none"
        raise fail(
            f"no state for agent {agent_id!r} in {db or settings.db_path} (agents: {known})", 1
        )
    updated_at, snapshot = saved if saved else (None, {})
    breakers = [{k: r[k] for k in ("name", "scope", "state", "reason", "opened_at")} for r in rows]
    reasons = [
        f"{b['name']} {b['state']} for {b['scope']}" for b in breakers if b["state"] != "closed"
    ]
    quiet = settings.silence_warn_s
    if updated_at is not None and quiet > 0 and time.time() - updated_at >= quiet:
        reasons.append(
            f"nothing written for {time.time() - updated_at:.0f}s (GUARD_SILENCE_WARN_S)"
        )
    report: dict[str, Any] = {
        "agent_id": agent_id,
        "updated_at": updated_at,
        "health": {"status": "degraded" if reasons else "ok", "reasons": reasons},
        "breakers": breakers,
        **{k: snapshot.get(k) for k in ("ledger", "services", "counts")},
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console()
    console.print(
        f"[bold]guard status[/] for agent [bold]{agent_id}[/] (written {_when(updated_at)})"
    )
    health = report["health"]
    colour = "green" if health["status"] == "ok" else "yellow"
    console.print(f"health: [{colour}]{health['status']}[/]  " + "; ".join(health["reasons"]))
    table = Table("breaker", "scope", "state", "reason", "opened", title_justify="left")
    for b in breakers:
        style = {"open": "red", "half_open": "yellow"}.get(b["state"], "green")
        table.add_row(
            b["name"],
            b["scope"],
            f"[{style}]{b['state']}[/]",
            b["reason"] or "-",
            _when(b["opened_at"]),
        )
    if not breakers:
        table.add_row("(all)", "-", "[green]closed[/]", "never tripped", "-")
    console.print(table)
    ledger = report["ledger"] or {}
    if ledger:
        console.print("ledger: " + ", ".join(f"{k}={v}" for k, v in ledger.items()))
    services = Table("service", "calls", "errors", "error %", "p50 ms", "p95 ms", "p99 ms")
    for name, st in (report["services"] or {}).items():
        services.add_row(
            name,
            *(
                str(st.get(k))
                for k in ("calls", "errors", "error_rate_pct", "p50_ms", "p95_ms", "p99_ms")
            ),
        )
    console.print(services)


@app.command()
def reset(
    breaker: str | None = typer.Argument(None, help=f"One of: {', '.join(BREAKERS)}."),
    all_: bool = typer.Option(False, "--all", help="Reset every breaker."),
    reason: str = typer.Option(..., "--reason", help="Why (written to the audit table)."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    agent: str | None = typer.Option(None, "--agent", help=AGENT_HELP),
) -> None:
    """Close a tripped breaker (or --all), as an audited operator act."""
    if (breaker is None) == (not all_):
        raise fail("name one breaker or pass --all (not both)")
    if breaker is not None and breaker not in BREAKERS:
        raise fail(f"unknown breaker {breaker!r}; one of: {', '.join(BREAKERS)}")
    if not reason.strip():
        raise fail("--reason must say why (it is audited)")
    settings = load_settings()
    agent_id = agent or settings.agent_id
    store = open_store(db, settings)
    try:
        rows, retired, ledger = store.load(agent_id)
        now = time.time()
        engine = Engine(settings)  # the same reset as transport.reset(), on the stored state
        engine.restore(rows, retired, ledger, now)
        transitions = engine.reset(breaker, reason=reason, now=now)
        if not transitions and len(engine.retired_keys) == len(retired):
            raise fail(
                f"nothing to reset: no open {breaker or 'breaker'} for agent {agent_id!r}", 1
            )
        closed = [engine.breakers[(t.breaker, t.scope)] for t in transitions]
        statements = transition_statements(agent_id, closed, transitions, engine.retired_keys, now)
        if ledger is not None:  # what tripped a loss breaker must not re-trip it on restart
            statements.append(ledger_statement(agent_id, engine.ledger.to_state()))
        store.write(statements)
    finally:
        store.close()
    for t in transitions:
        typer.echo(f"reset {t.breaker} ({t.scope}): {t.before.value} -> closed")
    if len(engine.retired_keys) != len(retired):
        typer.echo(f"forgot {len(retired)} replaced key(s): they may be tried again")


@app.command()
def demo(
    directory: str = typer.Option(
        "guard-demo", "--dir", help="Where to write guard.db (created; an old one is replaced)."
    ),
    seed: int = typer.Option(7, "--seed", help="Simulator seed: the same seed, the same session."),
    as_json: bool = typer.Option(False, "--json", help="Print only a JSON summary."),
) -> None:
    """Watch a scripted agent hit a losing streak, a key rotation and a 5xx storm, guarded."""
    try:
        from ._demo import DemoDirError, run
    except ImportError:
        raise fail("guard demo needs the 'sim' extra: pip install 'pf-guard[sim]'") from None
    try:
        run(directory, seed=seed, as_json=as_json)
    except DemoDirError as exc:
        raise fail(str(exc)) from None


app.add_typer(dlq_app, name="dlq", help="Inspect, resolve and replay failed money operations.")


def main() -> None:
    """Console-script entry point."""
    app()
