"""How one reconcile tick scales with the queue and the fleet. Run:
`python bench/tick_scale.py [--quick] [--ticks N] [--profile FILE]`. Prints a table; no asserts.

Two scenarios, side by side in one run, each in a fresh child process (so peak RSS is its own):

* small: 10 queued jobs + 10 live pods (`--quick`: the same);
* large: 10,000 queued jobs + 1,000 live pods (`--quick`: 1,000 + 100).

Each uses the real `Reconciler` with a real `Store` on a SQLite file, the real `RunPodClient`,
and the RunPod emulator in-process on a `VirtualClock`. The measured ticks are steady state:
the live jobs' containers stay busy forever on a pinned market (spot bids over the floor, a fifth
on on-demand), the queued jobs' limits are under every price, so they hold and nothing launches
or ends. A tick then costs two RunPod requests (one market poll, one pod list); the clock moves
30 s per tick, so every tenth tick is a full-market price sample (still one request).

Per scenario: tick wall time (median and p95 over the measured ticks, and the part of it spent
inside the emulator answering our two requests), the process CPU time of a tick (steadier than
wall time on a busy machine), SQL statements per tick, RunPod requests per tick (from the
emulator's `state()["requests"]`), the tick's peak Python allocation (tracemalloc, above what was
allocated before the tick, on extra ticks after the timed ones) and the peak RSS of the process
during the timed ticks (VmHWM, reset first; it includes the emulator's own state).
`--profile FILE` writes a cProfile of the large scenario's timed ticks.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, event

from scheduler.daemon.logs import configure_logging
from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import JobSpec, parse_job
from scheduler.emulator import Emulator
from scheduler.policy import PolicyConfig
from scheduler.reconcile import Reconciler, ReconcilerSettings
from scheduler.runpod.client import RunPodClient
from scheduler.store import Store, open_engine
from scheduler.store.migrate import upgrade

START = datetime(2026, 3, 2, tzinfo=UTC)
TICK_SECONDS = 30.0
API_KEY = "bench-key"
RESULT = "RESULT "
# (GPU type, secure spot floor, secure on-demand), all pinned; community is dearer.
GPUS = (
    ("NVIDIA A40", 0.20, 0.40),
    ("NVIDIA RTX A5000", 0.12, 0.27),
    ("NVIDIA GeForce RTX 4090", 0.30, 0.69),
    ("NVIDIA L40S", 0.40, 0.86),
)
QUEUED_LIMIT = 0.10  # under every spot floor and on-demand price above
BUSY_FOREVER = {"SPOTSCHED_SIM_THEN": "idle"}  # no SPOTSCHED_SIM_BUSY_SECONDS: busy forever


@dataclass
class Measured:
    queued: int
    live: int
    ticks: int
    tick_ms: list[float]
    cpu_ms: list[float]
    emulator_ms: list[float]
    statements: list[int]
    requests: list[int]
    by_operation: dict[str, int]
    tracemalloc_peak: int
    rss_peak: int
    running_pods: int
    held: int
    setup_s: float


class TimedTransport(httpx.BaseTransport):
    """The emulator's transport, timing the requests it answers."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.seconds = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            return self.inner.handle_request(request)
        finally:
            self.seconds += time.perf_counter() - started


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


def live_spec(i: int) -> JobSpec:
    gpu, floor, on_demand = GPUS[i % len(GPUS)]
    raw: dict[str, Any] = {
        "name": f"live-{i}",
        "image": "ghcr.io/acme/train:1",
        "gpu_types": [gpu],
        "cloud_type": "SECURE",
        "max_spot_price": round(floor * 1.5, 3),
        "env": BUSY_FOREVER,
    }
    if i % 5 == 4:  # on-demand: no preemption allowed, so it never waits for spot
        raw.update(max_on_demand_price=round(on_demand * 1.1, 3), max_preemptions=0)
    return parse_job(raw)


def queued_spec(i: int, now: datetime) -> JobSpec:
    """Varied specs that all hold: limits under every price, deadlines far off."""
    first, second = GPUS[i % len(GPUS)][0], GPUS[(i + 1) % len(GPUS)][0]
    raw: dict[str, Any] = {
        "name": f"queued-{i}",
        "image": "ghcr.io/acme/train:1",
        "gpu_types": [first, {"id": second, "speed": 1.5}],
        "cloud_type": "ALL" if i % 2 else "SECURE",
        "max_spot_price": QUEUED_LIMIT,
        "priority": i % 5,
        "gpu_count": 2 if i % 10 == 9 else 1,
        "env": {"EPOCHS": str(i % 7 + 1), **BUSY_FOREVER},
    }
    if i % 4 == 1:
        raw["max_on_demand_price"] = QUEUED_LIMIT
    if i % 3 == 2:
        raw.update(deadline=now + timedelta(days=30), estimated_runtime="2h")
    return parse_job(raw)


def pin_market(emu: Emulator, live: int) -> None:
    stock = live // len(GPUS) + 16
    for gpu, floor, on_demand in GPUS:
        emu.set_market(gpu, "SECURE", spot_price=floor, on_demand_price=on_demand, stock=stock)
        emu.set_market(gpu, "COMMUNITY", spot_price=floor * 1.5, on_demand_price=on_demand * 1.5)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


@contextmanager
def profiled(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


def run_scenario(queued: int, live: int, ticks: int, profile: str | None) -> Measured:
    configure_logging("console", "warning")
    setup_started = time.perf_counter()
    clock = VirtualClock(START)
    emu = Emulator(clock, seed=0, api_key=API_KEY, balance=1e9, spend_limit=1e9)
    pin_market(emu, live)
    transport = TimedTransport(emu.transport())
    http = httpx.Client(transport=transport, base_url="https://api.runpod.io")
    client = RunPodClient(http, API_KEY, clock=clock)
    with tempfile.TemporaryDirectory(prefix="spotsched-bench-") as tmp:
        engine = open_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        store = Store(engine)
        reconciler = Reconciler(store, client, PolicyConfig(), ReconcilerSettings(), clock=clock)
        store.upsert([live_spec(i) for i in range(live)], clock.now(), "bench")
        reconciler.tick(clock.now())  # launches every live job
        clock.advance(TICK_SECONDS)
        reconciler.tick(clock.now())  # their runtimes are up: running
        specs = [queued_spec(i, clock.now()) for i in range(queued)]
        store.upsert(specs, clock.now(), "bench")
        for _ in range(2):  # warm-up: the first holds are written, caches fill
            clock.advance(TICK_SECONDS)
            reconciler.tick(clock.now())
        setup_s = time.perf_counter() - setup_started

        statements = StatementCounter(engine)
        tick_ms: list[float] = []
        cpu_ms: list[float] = []
        emulator_ms: list[float] = []
        counts: list[int] = []
        requests: list[int] = []
        before_ops = dict(emu.state()["requests"]["byOperation"])
        reset_peak_rss()
        with profiled(profile):
            for _ in range(ticks):
                clock.advance(TICK_SECONDS)
                before = int(emu.state()["requests"]["total"])
                statements.count, transport.seconds = 0, 0.0
                started, cpu = time.perf_counter(), time.process_time()
                report = reconciler.tick(clock.now())
                tick_ms.append((time.perf_counter() - started) * 1000)
                cpu_ms.append((time.process_time() - cpu) * 1000)
                emulator_ms.append(transport.seconds * 1000)
                counts.append(statements.count)
                requests.append(int(emu.state()["requests"]["total"]) - before)
                if not report.ok or report.errors or report.applied.launches:
                    raise RuntimeError(f"not steady state: {report.errors or report.actions}")
        rss_peak = rss_kib("VmHWM") * 1024
        after_ops = emu.state()["requests"]["byOperation"]
        by_operation = {k: v - before_ops.get(k, 0) for k, v in after_ops.items()}
        by_operation = {k: v for k, v in by_operation.items() if v}

        tracemalloc.start()
        peak = 0
        for _ in range(2):
            clock.advance(TICK_SECONDS)
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            reconciler.tick(clock.now())
            peak = max(peak, tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()

        state = emu.state()
        running = sum(1 for p in state["pods"] if p["desiredStatus"] == "RUNNING")
        held = sum(1 for a in report.actions if type(a).__name__ == "Hold")
        http.close()
        engine.dispose()
    return Measured(
        queued=queued,
        live=live,
        ticks=ticks,
        tick_ms=tick_ms,
        cpu_ms=cpu_ms,
        emulator_ms=emulator_ms,
        statements=counts,
        requests=requests,
        by_operation=by_operation,
        tracemalloc_peak=peak,
        rss_peak=rss_peak,
        running_pods=running,
        held=held,
        setup_s=setup_s,
    )


def child(queued: int, live: int, ticks: int, profile: str | None) -> Measured:
    """Run one scenario in a fresh interpreter and read its result line."""
    cmd = [sys.executable, __file__, "--child", f"{queued},{live}", "--ticks", str(ticks)]
    if profile is not None:
        cmd += ["--profile", profile]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith(RESULT))
    return Measured(**json.loads(line.removeprefix(RESULT)))


def table(small: Measured, large: Measured) -> str:
    med = statistics.median

    def p95(values: list[float]) -> float:
        return percentile(values, 0.95)

    def ours(m: Measured) -> list[float]:
        return [t - e for t, e in zip(m.tick_ms, m.emulator_ms, strict=True)]

    def row(name: str, a: float, b: float, shown: str = "{:,.1f}") -> tuple[str, str, str, str]:
        return name, shown.format(a), shown.format(b), f"{b / a:,.1f}x" if a else "-"

    mib = 2**20
    rows = [
        (
            "queued jobs / live pods",
            f"{small.queued:,} / {small.live:,}",
            f"{large.queued:,} / {large.live:,}",
            "",
        ),
        row("tick median (ms)", med(small.tick_ms), med(large.tick_ms)),
        row("tick p95 (ms)", p95(small.tick_ms), p95(large.tick_ms)),
        row("tick CPU time, median (ms)", med(small.cpu_ms), med(large.cpu_ms)),
        row("  in the emulator, median (ms)", med(small.emulator_ms), med(large.emulator_ms)),
        row("  ours, median (ms)", med(ours(small)), med(ours(large))),
        row("SQL statements per tick", med(small.statements), med(large.statements), "{:,.0f}"),
        ("RunPod requests per tick", _requests(small.requests), _requests(large.requests), ""),
        row(
            "tick peak alloc, tracemalloc (MiB)",
            small.tracemalloc_peak / mib,
            large.tracemalloc_peak / mib,
        ),
        row("peak RSS during ticks (MiB)", small.rss_peak / mib, large.rss_peak / mib),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':<{width}}  {'(a)':>15}  {'(b)':>15}  {'(b)/(a)':>8}"]
    lines += [f"{n:<{width}}  {a:>15}  {b:>15}  {r:>8}" for n, a, b, r in rows]
    return "\n".join(lines)


def _requests(per_tick: list[int]) -> str:
    lo, hi = min(per_tick), max(per_tick)
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 queued + 100 live for (b)")
    parser.add_argument("--ticks", type=int, default=None, help="measured ticks per scenario")
    parser.add_argument("--profile", default=None, help="cProfile file for (b)'s timed ticks")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        queued, live = (int(n) for n in args.child.split(","))
        measured = run_scenario(queued, live, args.ticks, args.profile)
        print(RESULT + json.dumps(asdict(measured)), flush=True)
        return
    ticks = args.ticks or (10 if args.quick else 20)
    large_size = (1_000, 100) if args.quick else (10_000, 1_000)
    started = time.perf_counter()
    small = child(10, 10, ticks, None)
    large = child(*large_size, ticks, args.profile)
    print(table(small, large))
    for m, name in ((small, "(a)"), (large, "(b)")):
        ops = ", ".join(f"{k} {v}" for k, v in sorted(m.by_operation.items()))
        print(
            f"{name}: {m.ticks} timed ticks of {TICK_SECONDS:.0f} virtual s; requests: {ops}; "
            f"{m.running_pods} pods running, {m.held} jobs held; setup {m.setup_s:.1f} s"
        )
    print(f"wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
