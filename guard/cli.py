"""The ``guard`` command line: ``guard config`` and ``guard sim`` (more land with their issues).

Errors are one line on stderr with exit code 2 (bad input) or 1 (not found / nothing done);
never a traceback.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from ._exceptions import ConfigError
from ._settings import GuardSettings, unknown_env_vars

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


def main() -> None:
    """Console-script entry point."""
    app()
