"""`spotsched demo`: a simulated day of the real daemon against the built-in emulator.

No API key, no network: the RunPod API is the in-process emulator on a virtual clock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from scheduler.cli.common import JsonOption, money, out, print_json
from scheduler.runpod.port import ApiChoice


def _job_table(frame: object) -> Table:
    from scheduler.demo.run import Frame

    assert isinstance(frame, Frame)
    table = Table(expand=True)
    for col, kw in (
        ("job", {}),
        ("state", {}),
        ("on", {}),
        ("GPU", {}),
        ("$/h", {"justify": "right"}),
        ("spent", {"justify": "right"}),
        ("why", {"ratio": 2}),
    ):
        table.add_column(col, overflow="fold", **kw)
    colours = {
        "running": "green",
        "succeeded": "bold green",
        "preempted": "yellow",
        "queued": "cyan",
        "launching": "blue",
        "failed": "red",
        "expired": "red",
        "cancelled": "magenta",
        "invalid": "red",
    }
    for j in sorted(frame.jobs, key=lambda r: r["id"]):
        state = Text(j["state"], style=colours.get(j["state"], ""))
        table.add_row(
            j["name"],
            state,
            j["kind"].replace("_", "-"),
            j["gpu"].replace("NVIDIA ", ""),
            money(j["cost_per_hr"]),
            money(j["spend"]),
            j["reason"] or "",
        )
    return table


def _screen(frame: object) -> Panel:
    from scheduler.demo.run import Frame

    assert isinstance(frame, Frame)
    spot = "[green]spot available[/]" if frame.spot_enabled else "[red]spot removed[/]"
    head = Text.from_markup(
        f"simulated time [bold]{frame.now:%H:%M}[/] ({frame.hours:4.1f} h)   {spot}   "
        f"burn [bold]{money(frame.burn_rate)}/h[/]   spent [bold]{money(frame.spend)}[/]"
    )
    log = Text("\n".join(frame.log[-9:]), style="dim")
    return Panel(Group(head, _job_table(frame), log), title="spotsched demo", border_style="blue")


def demo(
    hours: Annotated[float, typer.Option(help="Simulated hours.", min=1, max=72)] = 24.0,
    seconds: Annotated[
        float, typer.Option(help="Wall seconds to spread the day over (0: flat out).", min=0)
    ] = 20.0,
    seed: Annotated[int, typer.Option(help="Emulator seed.")] = 7,
    db: Annotated[Path | None, typer.Option(help="Keep the demo database at this path.")] = None,
    live: Annotated[bool, typer.Option(help="Live table (default when on a terminal).")] = True,
    api: Annotated[
        ApiChoice, typer.Option(help="RunPod API the daemon uses (rest: REST v2, no spot).")
    ] = ApiChoice.AUTO,
    as_json: JsonOption = False,
) -> None:
    """Run a simulated day: six jobs, moving prices, a preemption, spot removed, idle pods.

    `--api rest` runs it on RunPod's REST API v2, which has no spot."""
    from scheduler.daemon.logs import silence_logging
    from scheduler.demo.run import DemoRun, Frame

    silence_logging()
    run = DemoRun(seed=seed, hours=hours, database=db, api=api)
    started = time.monotonic()
    show_live = live and not as_json and out.is_terminal
    if show_live:
        with Live(console=out, refresh_per_second=8, transient=False) as screen:

            def on_frame(frame: Frame) -> None:
                screen.update(_screen(frame))
                ahead = started + seconds * frame.hours / hours - time.monotonic()
                if ahead > 0:  # spread the day over `seconds`; never slower than compute
                    time.sleep(ahead)

            summary = run.run(on_frame)
    else:
        printed = 0

        def on_frame(frame: Frame) -> None:
            nonlocal printed
            if not as_json:
                for line in frame.log[printed:]:
                    out.print(line, markup=False)
                printed = len(frame.log)

        summary = run.run(on_frame)
    if as_json:
        print_json(
            {
                "jobs": summary.jobs,
                "spend": summary.spend,
                "on_demand_cost": summary.on_demand_cost,
                "savings": summary.savings,
                "emulator_billed": summary.emulator_billed,
                "ticks": summary.ticks,
                "database": summary.database,
                "api": summary.api,
                "spot_available": summary.spot_available,
                "naive_cost": summary.naive_cost,
                "placement_savings": summary.placement_savings,
            }
        )
        return
    table = Table(title="cost summary (per job)")
    for col in (
        "job",
        "ended",
        "ran on",
        "preempted",
        "spent",
        "on-demand would cost",
        "saved",
        "wasted",
    ):
        table.add_column(col, justify="right" if col not in ("job", "ended", "ran on") else "left")
    for j in summary.jobs:
        table.add_row(
            j["name"],
            j["state"],
            "+".join(k.replace("_", "-") for k in j["kinds"]) or "-",
            str(j["preemptions"]),
            money(j["spend"]),
            money(j["on_demand_cost"]),
            money(j["savings"]),
            money(j["waste"]),
        )
    table.add_row(
        "[bold]total[/]",
        "",
        "",
        "",
        f"[bold]{money(summary.spend)}[/]",
        money(summary.on_demand_cost),
        f"[bold]{money(summary.savings)}[/]",
        "",
    )
    out.print(table)
    pct = 100 * summary.savings / summary.on_demand_cost if summary.on_demand_cost else 0.0
    drift = abs(summary.spend - summary.emulator_billed) / max(summary.emulator_billed, 1e-9) * 100
    if summary.spot_available:
        out.print(
            f"Saved {money(summary.savings)} ({pct:.0f}%) against running the same work on-demand."
        )
    else:
        naive = summary.naive_cost
        share = 100 * summary.placement_savings / naive if naive else 0.0
        out.print(
            f"Spot is not available on this API ({summary.api}): jobs that allow only spot "
            "waited; the others ran on-demand."
        )
        out.print(
            f"On-demand placement saved {money(summary.placement_savings)} ({share:.0f}%) "
            f"against the naive choice (each job's first-listed GPU type: {money(naive)})."
        )
    out.print(
        f"RunPod (emulated) billed {money(summary.emulator_billed)}; spotsched's ledger "
        f"recorded {money(summary.spend)} ({drift:.2f}% apart)."
    )
    out.print(
        f"{summary.ticks} reconcile ticks. Inspect the day: "
        f"spotsched jobs --db sqlite:///{summary.database}"
    )


def register(app: typer.Typer) -> None:
    app.command()(demo)
