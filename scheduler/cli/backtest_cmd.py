"""`spotsched backtest`: what would these jobs have cost under each policy on this market?

Replays a market with the real daemon (store, reconciler, RunPod client) against the built-in
emulator on a virtual clock, once per policy and start point, plus the hindsight optimum.
No API key, no network. See docs/backtest.md.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from scheduler.cli.common import EXIT_INVALID, JsonOption, fail, out, print_json
from scheduler.domain.durations import parse_duration

HOUR = 3600.0


def _duration(text: str, flag: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        fail(f"{flag}: {exc}", EXIT_INVALID)


def _when(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{flag}: {text!r} is not an ISO-8601 time", EXIT_INVALID)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for col in (
        "policy",
        "cost",
        "on-demand",
        "saved",
        "score",
        "missed",
        "preempt",
        "switch",
        "spot h",
        "OD h",
        "waste",
    ):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for r in rows:
        table.add_row(
            r["policy"],
            f"${r['cost']:,.2f}",
            f"${r['on_demand_cost']:,.2f}",
            _pct(r["savings"]),
            "-" if r["score"] is None else f"{r['score']:.3f}",
            f"{r['deadline_misses']}/{r['jobs']}",
            str(r["preemptions"]),
            str(r["switches"]),
            f"{r['mean_spot_hours']:.1f}",
            f"{r['mean_on_demand_hours']:.1f}",
            f"${r['waste']:,.2f}",
        )
    return table


def backtest(
    trace: Annotated[
        Path | None,
        typer.Option(help="Spot availability trace (JSON, 0 = available), e.g. from spot-traces."),
    ] = None,
    recorded: Annotated[
        str | None,
        typer.Option(help="Database URL whose price_samples the daemon recorded (replayed)."),
    ] = None,
    synthetic: Annotated[
        bool, typer.Option("--synthetic", help="A seeded synthetic market (see --up/--down).")
    ] = False,
    gpu_type: Annotated[
        str, typer.Option(help="GPU type id of a trace or synthetic market.")
    ] = "NVIDIA A40",
    spot_price: Annotated[float, typer.Option(help="Spot $/GPU-h while available.")] = 0.9731,
    on_demand_price: Annotated[float, typer.Option(help="On-demand $/GPU-h.")] = 3.06,
    since: Annotated[str | None, typer.Option(help="Recorded market from (ISO time).")] = None,
    until: Annotated[str | None, typer.Option(help="Recorded market until (ISO time).")] = None,
    up: Annotated[float, typer.Option(help="Synthetic: mean hours spot stays available.")] = 3.0,
    down: Annotated[float, typer.Option(help="Synthetic: mean hours spot stays gone.")] = 1.5,
    volatility: Annotated[
        float, typer.Option(help="Synthetic: per-step volatility of the log spot price.")
    ] = 0.02,
    capacity: Annotated[int, typer.Option(help="Synthetic: free GPUs of the type.")] = 8,
    market_hours: Annotated[
        float, typer.Option("--market-hours", help="Synthetic: hours of market.")
    ] = 14 * 24.0,
    jobs: Annotated[
        Path | None, typer.Option(help="Jobs TOML ([[job]] tables + submit_after etc.).")
    ] = None,
    compute: Annotated[str, typer.Option(help="Paper job: compute C (e.g. 48h).")] = "48h",
    deadline: Annotated[str, typer.Option(help="Paper job: deadline R after start.")] = "60h",
    changeover: Annotated[str, typer.Option(help="Changeover delay d (start-up).")] = "0.2h",
    start: Annotated[
        str, typer.Option(help="Start offset into the market (ignored with --starts > 1).")
    ] = "0h",
    starts: Annotated[int, typer.Option(help="Random start points (seeded).", min=1)] = 1,
    policy: Annotated[
        list[str] | None,
        typer.Option(help="on_demand, greedy, uniform_progress, default (repeatable; all)."),
    ] = None,
    no_optimum: Annotated[
        bool, typer.Option("--no-optimum", help="Skip the hindsight optimum.")
    ] = False,
    bid_margin: Annotated[float, typer.Option(help="Bid over the spot floor.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed (synthetic market, starts, emulator).")] = 0,
    workers: Annotated[int, typer.Option(help="Processes (default: all cores).", min=0)] = 0,
    every_step: Annotated[
        bool,
        typer.Option("--every-step", help="Tick at every step even when nothing can change."),
    ] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG: cost over time.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Replay a market with the real daemon per policy; compare with the hindsight optimum."""
    from scheduler.backtest.jobs import BacktestJob, JobsError, load_jobs, paper_job
    from scheduler.backtest.markets import (
        Market,
        MarketError,
        Scenario,
        recorded_market,
        synthetic_market,
        trace_market,
    )
    from scheduler.backtest.study import ALL_POLICIES, Study, random_starts, run_study, span
    from scheduler.backtest.study import throughput as measure
    from scheduler.policy.config import Strategy

    if sum((trace is not None, recorded is not None, synthetic)) != 1:
        fail("give exactly one market: --trace FILE, --recorded URL or --synthetic", EXIT_INVALID)
    try:
        chosen = tuple(Strategy(p) for p in policy) if policy else ALL_POLICIES
    except ValueError as exc:
        fail(f"--policy: {exc}", EXIT_INVALID)
    d = _duration(changeover, "--changeover")
    try:
        job_list: tuple[BacktestJob, ...]
        if jobs is not None:
            job_list = load_jobs(jobs)
        else:
            job_list = (
                paper_job(
                    compute_hours=_duration(compute, "--compute") / HOUR,
                    deadline_hours=_duration(deadline, "--deadline") / HOUR,
                    gpu_type_id=gpu_type,
                    max_spot_price=math.ceil(spot_price * (1 + bid_margin) * 1000 - 1e-9) / 1000,
                    max_on_demand_price=on_demand_price,
                ),
            )
        types = [c.gpu_type_id for j in job_list for c in j.spec.gpu_types]
        market: Market
        if trace is not None:
            market = trace_market(
                trace, gpu_type_id=gpu_type, spot_price=spot_price, on_demand_price=on_demand_price
            )
        elif recorded is not None:
            market = recorded_market(
                recorded,
                since=_when(since, "--since"),
                until=_when(until, "--until"),
                gpu_type_ids=types,
            )
        else:
            market = synthetic_market(
                Scenario(
                    gpu_type_id=gpu_type,
                    on_demand=on_demand_price,
                    spot_ratio=spot_price / on_demand_price,
                    volatility=volatility,
                    mean_up_hours=up,
                    mean_down_hours=down,
                    capacity=capacity,
                    hours=market_hours,
                    seed=seed,
                ),
                types,
            )
    except (JobsError, MarketError) as exc:
        fail(str(exc), EXIT_INVALID)
    missing = sorted({t for t in types if t not in market.gpu_types()})
    if missing:
        fail(f"the market has no prices for {', '.join(missing)}", EXIT_INVALID)
    reach = span(job_list, d)
    try:
        if starts > 1:
            points = random_starts(market, reach, starts, seed)
        else:
            offset = _duration(start, "--start")
            points = (market.at(round(offset / market.gap_seconds)),)
            if points[0] >= market.end:
                raise ValueError("--start is past the end of the market")
    except ValueError as exc:
        fail(str(exc), EXIT_INVALID)
    study = Study(
        market=market,
        jobs=job_list,
        starts=points,
        changeover=d,
        policies=chosen,
        optimum=not no_optimum,
        seed=seed,
        bid_margin=bid_margin,
        skip_quiet=not every_step,
        timeline=plot is not None,
    )
    from scheduler.daemon.logs import silence_logging

    silence_logging()
    total = len(study.tasks())
    with Progress(
        TextColumn("backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=out,
        transient=True,
        disable=as_json or not out.is_terminal,
    ) as bar:
        task = bar.add_task("runs", total=total)
        outcome, stats = run_study(
            study, workers=workers or None, on_result=lambda _r: bar.advance(task)
        )
    rows = [s.as_dict() for s in outcome.summaries.values()]
    tp = measure(outcome.results)
    meta = {
        "market": market.name,
        "starts": len(points),
        "changeover_hours": d / HOUR,
        "jobs": [j.name for j in job_list],
        "runs": tp.runs,
        "ticks": tp.ticks,
        "ticks_skipped": tp.skipped,
        "ticks_per_cpu_second": round(tp.ticks_per_cpu_second, 1),
        "steps_per_cpu_second": round(tp.steps_per_cpu_second, 1),
        "wall_seconds": round(stats.wall_seconds, 2),
        "workers": stats.workers,
        "peak_worker_rss_mb": round(stats.peak_rss_bytes / 2**20, 1),
    }
    if plot is not None:
        _plot(plot, study, outcome.results)
    if as_json:
        print_json({"policies": rows, "run": meta})
        return
    title = f"{market.name}: {len(points)} start(s) x {len(job_list)} job(s), d = {d / HOUR:g} h"
    wide = out if out.is_terminal else Console(highlight=False, soft_wrap=True, width=120)
    wide.print(_table(rows, title))
    out.print(
        f"{tp.runs} daemon runs, {tp.ticks} reconcile ticks ({tp.skipped} quiet steps left out), "
        f"{tp.ticks_per_cpu_second:.0f} ticks per CPU-second; {stats.wall_seconds:.1f} s on "
        f"{stats.workers} process(es), peak {meta['peak_worker_rss_mb']} MB per process."
    )
    if plot is not None:
        out.print(f"plot written to {plot}")


def _plot(path: Path, study: Any, results: Any) -> None:
    try:
        from scheduler.backtest.plot import plot
    except ImportError:  # pragma: no cover - matplotlib is an optional extra
        fail("--plot needs matplotlib: pip install 'spotsched[plot]'", EXIT_INVALID)
    from scheduler.backtest.runner import RunResult
    from scheduler.backtest.study import span
    from scheduler.backtest.sweep import OptimumResult

    first = study.label(study.starts[0])
    runs = [r for r in results if isinstance(r, RunResult) and r.label == first]
    opt = next((r for r in results if isinstance(r, OptimumResult) and r.label == first), None)
    window = study.market.window(
        study.starts[0], study.starts[0] + span(study.jobs, study.changeover)
    )
    plot(
        path, window, runs, opt, title=f"{study.market.name} from {study.starts[0]:%Y-%m-%d %H:%M}"
    )


def register(app: typer.Typer) -> None:
    app.command()(backtest)
