"""The backtest picture: cumulative cost per policy over time, with the market under it.

Why: a table says which policy was cheapest; the picture says when and why (where a policy sat
on on-demand while spot was there, where preemptions cost it). It draws one run per policy (the
first start point) and the hindsight optimum's schedule for the same window.

Needs matplotlib (the `plot` extra); imported only when `--plot` is given.

What it must not do: run anything; it draws results it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scheduler.backtest.markets import Market
from scheduler.backtest.runner import RunResult
from scheduler.backtest.sweep import OptimumResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLOURS = {
    "on_demand": "#7f7f7f",
    "greedy": "#1f77b4",
    "uniform_progress": "#9467bd",
    "default": "#d62728",
    "optimum": "#2ca02c",
}


def plot(
    path: str | Path,
    market: Market,
    runs: Sequence[RunResult],
    optimum: OptimumResult | None,
    *,
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    reach = 0.0
    for r in runs:
        if not r.timeline:
            continue
        hours = [t / 3600 for t, _ in r.timeline]
        reach = max(reach, hours[-1])
        top.plot(
            hours,
            [c for _, c in r.timeline],
            label=f"{r.policy.value} (${r.timeline[-1][1]:.2f})",
            color=COLOURS.get(r.policy.value),
            linewidth=1.8,
        )
    if optimum is not None and optimum.plans and optimum.plans[0].feasible:
        plan = optimum.plans[0]
        gap = market.gap_seconds
        total, xs, ys = 0.0, [0.0], [0.0]
        for i, cost in enumerate(plan.slot_costs):
            total += cost
            xs.append((i + 1) * gap / 3600)
            ys.append(total)
        top.plot(
            xs,
            ys,
            label=f"hindsight optimum (${plan.cost:.2f})",
            color=COLOURS["optimum"],
            linestyle="--",
            linewidth=1.5,
        )
        reach = max(reach, xs[-1])
    top.set_ylabel("cumulative cost ($)")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=9)
    top.grid(alpha=0.3)
    _market(bottom, market, reach)
    bottom.set_xlabel("hours since the job was submitted")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _market(ax: Axes, market: Market, reach: float) -> None:
    steps = max(1, round(reach * 3600 / market.gap_seconds) + 1)
    series = market.series[0]
    xs = [i * market.gap_seconds / 3600 for i in range(steps)]
    spot = [series.spot[min(i, len(series.spot) - 1)] for i in range(steps)]
    od = [series.on_demand[min(i, len(series.on_demand) - 1)] for i in range(steps)]
    step_h = market.gap_seconds / 3600
    first = True
    i = 0
    while i < steps:  # shade each stretch of availability
        if spot[i] is None:
            i += 1
            continue
        j = i
        while j < steps and spot[j] is not None:
            j += 1
        ax.axvspan(
            i * step_h,
            j * step_h,
            color="#2ca02c",
            alpha=0.15,
            linewidth=0,
            label="spot available" if first else None,
        )
        first, i = False, j
    ax.step(
        xs,
        [p if p is not None else float("nan") for p in spot],
        where="post",
        color="#2ca02c",
        label="spot $/h",
    )
    ax.step(xs, od, where="post", color="#7f7f7f", label="on-demand $/h")
    ax.set_ylabel(f"{series.gpu_type_id}\n$/GPU-h")
    ax.set_ylim(0, max(od) * 1.1)
    ax.legend(loc="upper right", fontsize=8, ncol=3)
    ax.grid(alpha=0.3)
