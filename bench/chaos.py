"""Chaos benchmark: SIGKILL the real daemon over and over through a simulated week and check
issue 8's invariants against the emulator's own records.

The daemon (`spotsched run`, a process) runs against `spotsched emulator --virtual-clock` (a
process) with `[scheduler] virtual_clock_url`, so a week of RunPod time passes in minutes: the
harness moves the clock one step at a time and waits for the daemon's tick. Meanwhile it injects
~5% API faults (5xx, 429, GraphQL errors, timeouts before and after the call took effect) and
capacity errors, preempts spot pods, pins price spikes, switches spot off for hours, submits and
cancels jobs, and SIGKILLs the daemon at random instants and inside create, terminate, stop and
resume calls. Then a quiet drain lets every job end, and the invariants are checked.

    python bench/chaos.py                      # a week, 1,000 kills (about an hour on 2 cores)
    python bench/chaos.py --quick              # half a day, 30 kills (a few minutes)
    python bench/chaos.py --seed 7 --days 2 --kills 300 --json out.json

The seed is printed first; the same seed replays the same plan (jobs, kills, faults, market).
Exit status 1 when an invariant is violated.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.chaos is not installed

from tests.chaos.invariants import Check, check_all, outcomes, unexpected_outcomes
from tests.chaos.records import Records
from tests.chaos.runner import ChaosRun
from tests.chaos.scenario import make_scenario


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    parser.add_argument("--days", type=float, default=7.0, help="simulated days of chaos")
    parser.add_argument("--kills", type=int, default=1000, help="SIGKILLs over those days")
    parser.add_argument("--step", type=float, default=120.0, help="simulated seconds per tick")
    parser.add_argument("--drain-hours", type=float, default=30.0, help="quiet time at the end")
    parser.add_argument("--quick", action="store_true", help="half a day, 30 kills, 60 s steps")
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs and database here")
    parser.add_argument(
        "--wall-limit", type=float, default=None, help="end the chaos after this many minutes"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.days, args.kills, args.step, args.drain_hours = 0.5, 30, 60.0, 12.0
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    return args


def _table(records: Records, checks: list[Check]) -> str:
    s = records.stats
    faults = sum(records.requests.get("faults", {}).values())
    kills = s.kills.items()
    chaos_days = (s.chaos_end or s.simulated_seconds) / 86400
    rows: list[tuple[str, str]] = [
        ("seed", str(records.scenario.seed)),
        (
            "kills (SIGKILL)",
            f"{sum(s.kills.values())} ({', '.join(f'{k} {n}' for k, n in sorted(kills))})",
        ),
        (
            "simulated days",
            f"{s.simulated_seconds / 86400:.2f} (chaos {chaos_days:.2f} + drain)",
        ),
        ("clock steps / tick interval", f"{s.steps} / {records.scenario.step:g} s"),
        ("jobs", f"{len(records.kinds)}"),
        ("pods created", f"{len(records.pods) - len(records.foreign_pod_ids)}"),
        ("GraphQL requests / faults injected", f"{records.requests.get('total', 0)} / {faults}"),
        ("preemptions (pods preempted)", f"{sum(int(p['preemptions']) for p in records.pods)}"),
        ("price spikes / spot switches", f"{s.spikes} / {s.spot_switches}"),
        ("daemon exits nobody asked for", f"{len(s.daemon_exits)}"),
        ("steps without a tick", f"{s.stalled_steps}"),
    ]
    rows += [
        (
            f"invariant: {c.name}",
            f"{'ok' if c.ok else 'FAILED'} {len(c.violations)}"
            + (f" ({c.measured})" if c.measured else ""),
        )
        for c in checks
    ]
    rows += [
        ("wall time", f"{s.wall_seconds / 60:.1f} min ({s.restart_wall / 60:.1f} min restarting)"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"| {'':{width}} | result |", f"|{'-' * (width + 2)}|--------|"]
    lines += [f"| {k:{width}} | {v} |" for k, v in rows]
    return "\n".join(lines)


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds the run, which stops the daemon and the emulator


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    signal.signal(signal.SIGTERM, _stop)
    print(
        f"chaos seed {args.seed} (replay: python bench/chaos.py --seed {args.seed} "
        f"--days {args.days:g} --kills {args.kills} --step {args.step:g})",
        flush=True,
    )
    scenario = make_scenario(
        args.seed, days=args.days, kills=args.kills, step=args.step, drain_hours=args.drain_hours
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="spotsched-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{len(scenario.jobs)} jobs planned; logs and database in {workdir}", flush=True)
    began = time.monotonic()
    limit = None if args.wall_limit is None else args.wall_limit * 60
    records = ChaosRun(
        scenario, workdir, progress=lambda line: print(line, flush=True), wall_limit=limit
    ).run()
    with (workdir / "records.pickle").open("wb") as out:  # to check again without a rerun
        pickle.dump(records, out)
    checks = check_all(records)
    print()
    print(_table(records, checks))
    for check in checks:
        for violation in check.violations[:20]:
            print(f"  {check.name}: {violation}")
        if len(check.violations) > 20:
            print(f"  {check.name}: ... {len(check.violations) - 20} more")
    print("outcomes by kind:", {k: dict(v) for k, v in outcomes(records).items()})
    unexpected = unexpected_outcomes(records)
    print(f"endings other than the construction implies: {len(unexpected)}")
    for line in unexpected[:20]:
        print(f"  {line}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "days": args.days,
                    "kills_planned": args.kills,
                    "step": args.step,
                    "stats": {**asdict(records.stats), "kills": dict(records.stats.kills)},
                    "checks": [asdict(c) | {"ok": c.ok} for c in checks],
                    "outcomes": {k: dict(v) for k, v in outcomes(records).items()},
                    "unexpected_outcomes": unexpected,
                    "wall_seconds": time.monotonic() - began,
                },
                indent=2,
                default=str,
            )
        )
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
