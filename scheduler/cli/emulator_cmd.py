"""`spotsched emulator`: run the local RunPod emulator as an HTTP server.

Prints exactly one line, `spotsched emulator listening on http://HOST:PORT`, once the socket
listens, then serves until SIGINT/SIGTERM and exits 0. The API key is never printed.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from scheduler.domain.clock import Clock, SystemClock, VirtualClock


def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 8765,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="SPOTSCHED_EMULATOR_API_KEY",
            show_default=False,
            help="The only API key accepted (default: any non-empty key).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the market model, ids, faults.")] = 0,
    market: Annotated[
        Path | None,
        typer.Option("--market", exists=True, dir_okay=False, help="Market file (JSON) to replay."),
    ] = None,
    market_gpu_type: Annotated[
        str | None, typer.Option(help="GPU type id that a bare availability trace applies to.")
    ] = None,
    market_cloud_type: Annotated[str, typer.Option(help="Cloud type of a bare trace.")] = "SECURE",
    market_spot_price: Annotated[
        float | None, typer.Option(help="Constant spot price of a bare trace.")
    ] = None,
    market_on_demand_price: Annotated[
        float | None, typer.Option(help="Constant on-demand price of a bare trace.")
    ] = None,
    startup_delay: Annotated[
        float, typer.Option(help="Seconds from (re)start until runtime is up.")
    ] = 20.0,
    virtual_clock: Annotated[
        bool, typer.Option("--virtual-clock", help="Time moves only via POST /_emulator/advance.")
    ] = False,
) -> None:
    """Run a local RunPod GraphQL API (POST /graphql) with an admin API under /_emulator/."""
    from scheduler.emulator import Emulator, MarketFileError, load_market_file
    from scheduler.emulator.server import serve

    clock: Clock = VirtualClock(datetime.now(UTC)) if virtual_clock else SystemClock()
    source = None
    try:
        if market is not None:
            source = load_market_file(
                market,
                seed=seed,
                gpu_type_id=market_gpu_type,
                cloud_type=market_cloud_type,
                spot_price=market_spot_price,
                on_demand_price=market_on_demand_price,
            )
        emu = Emulator(
            clock, seed=seed, api_key=api_key, market=source, startup_delay=startup_delay
        )
    except (MarketFileError, ValueError) as exc:
        typer.echo(f"spotsched emulator: {exc}", err=True)
        raise typer.Exit(2) from exc
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    def _ready(url: str) -> None:
        print(f"spotsched emulator listening on {url}", flush=True)

    serve(emu, host, port, _ready, stop=stop)


def register(app: typer.Typer) -> None:
    app.command("emulator")(emulator)
