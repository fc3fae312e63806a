"""The `spotsched` command: one typer app; each command group lives in its own module."""

from __future__ import annotations

import typer

from scheduler import __version__

app = typer.Typer(
    name="spotsched",
    help="A cost-aware spot GPU scheduler daemon for RunPod.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"spotsched {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Run GPU jobs on RunPod spot pods as cheaply as their limits and deadlines allow."""


def _register() -> None:
    from scheduler.cli import (
        backtest_cmd,
        demo_cmd,
        emulator_cmd,
        fleet_cmd,
        jobs_cmd,
        money_cmd,
        run_cmd,
    )

    for module in (demo_cmd, run_cmd, jobs_cmd, fleet_cmd, money_cmd, emulator_cmd, backtest_cmd):
        module.register(app)


def main() -> None:
    _register()
    app()
