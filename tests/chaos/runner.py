"""One chaos run: the real daemon as a process, SIGKILLed again and again while the emulator's
virtual clock moves through simulated days of API faults, a moving market, preemptions and hours
without spot; then a quiet drain, and the records the invariants are checked against.

Time: the emulator runs on a virtual clock that only this runner (and the daemon's own retry
back-off) moves; the daemon reads it through `[scheduler] virtual_clock_url`. A step advances the
clock by `scenario.step` seconds and waits until the daemon has finished a tick at the new time
(its `last_tick_at` in the database), so a simulated week costs ticks, not days.

A kill is SIGKILL at a random instant after the clock moved (mostly inside the tick that reacts
to it), or - for the crash windows that matter - while one RunPod call of a given kind is held
in flight by a `delay` fault: before RunPod acts on it or after it acted, before the daemon heard
the answer. The daemon stays down for a few steps (time goes on without it), then restarts.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.chaos.processes import (
    DaemonProcess,
    Database,
    EmulatorProcess,
    cli,
    free_port,
    jobs_toml,
    write_config,
)
from tests.chaos.records import Records, RunStats
from tests.chaos.scenario import (
    FAULT_RATE,
    GPU_TYPES,
    KILL_MATCH,
    STARTUP_DELAY,
    Event,
    Kill,
    KillMode,
    Scenario,
    daemon_settings,
)

FOREIGN_POD_NAMES = ("alice-notebook", "spotsched-notebook")
"""Pods a person made on the same account: the daemon must never touch them."""

BASE_FAULTS: list[dict[str, Any]] = [
    {"kind": "http_500", "rate": 0.010},
    {"kind": "http_502", "rate": 0.006},
    {"kind": "http_503", "rate": 0.010},
    {"kind": "rate_limit", "rate": 0.006, "seconds": 2},
    {"kind": "internal_error", "rate": 0.010},
    {"kind": "timeout", "rate": 0.004, "seconds": 0.7},
    {"kind": "timeout_after", "rate": 0.004, "seconds": 0.7},
    {"kind": "capacity", "rate": 0.02},
]
"""About `FAULT_RATE` of all GraphQL requests (and 2% more capacity errors on creates)."""
assert abs(sum(f["rate"] for f in BASE_FAULTS if f["kind"] != "capacity") - FAULT_RATE) < 1e-9

TICK_WAIT = 4.0  # wall seconds to wait for a tick before counting the step as stalled
START_WAIT = 60.0  # wall seconds for a started daemon's first tick
HELD_CALL = 2.0  # wall seconds a targeted kill holds the RunPod call
MAX_ARMED_STEPS = 240  # clock steps a targeted kill waits for its call


class ChaosRun:
    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        progress: Callable[[str], None] | None = None,
        wall_limit: float | None = None,
    ) -> None:
        self.sc = scenario
        self.wall_limit = wall_limit
        self.dir = workdir
        self.state_dir = workdir / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.state_dir / "spotsched.db")
        self.db_url = f"sqlite:///{self.db.path}"
        self.daemon_log = workdir / "daemon.log"
        self.cli_log = workdir / "cli.log"
        self.progress = progress or (lambda _line: None)
        self.rng = random.Random(f"{scenario.seed}/runner")
        self.key = f"rpa_CHAOS{secrets.token_hex(16).upper()}"
        self.stats = RunStats()
        self.daemon: DaemonProcess | None = None
        self.argvs: list[str] = []
        self.scrapes: list[str] = []
        self.metrics_port = free_port()
        self.submitted: set[str] = set()
        self.cancelled: set[str] = set()
        self.events = list(scenario.events)
        self.kills = list(scenario.kill_plan)
        self.spiked: set[str] = set()
        self.armed: dict[tuple[str, ...], list[Any]] = {}  # calls → [kill, steps waited]
        self.delays_seen = 0

    # ----------------------------------------------------------------- the run
    def run(self) -> Records:
        wall = time.monotonic()
        self.emu = EmulatorProcess(self.sc.seed, self.dir, STARTUP_DELAY)
        try:
            # start at 20:00 UTC, so the first midnight (daily budgets) comes 4 hours in
            now = self.emu.now()
            evening = now.replace(hour=20, minute=0, second=0, microsecond=0)
            self.start = self.now = self.emu.advance((evening - now).total_seconds() % 86400.0)
            self.enforce_running = self._write_config()
            self.foreign = self._foreign_pods()
            self._faults(on=True)
            self._start_daemon()
            self._chaos()
            self._drain()
            assert self.daemon is not None
            self.daemon.stop()
            self.stats.wall_seconds = time.monotonic() - wall
            self.stats.simulated_seconds = (self.now - self.start).total_seconds()
            return self._records()
        finally:
            if self.daemon is not None and self.daemon.alive:
                self.daemon.kill()
            self.emu.close()

    def _write_config(self) -> bool:
        """The daemon's configuration (`[budget] enforce = "running"`), checked as a user would
        with `spotsched check-config`."""
        values = daemon_settings(
            self.state_dir, self.emu.url, self.metrics_port, enforce_running=True
        )
        self.config = write_config(self.dir / "spotsched.toml", values)
        check = cli(
            "check-config", "--config", str(self.config), log=self.cli_log, api_key=self.key
        )
        if check.returncode != 0:
            raise RuntimeError(f"the chaos configuration is rejected: {check.stdout}{check.stderr}")
        return True

    def _foreign_pods(self) -> list[str]:
        ids = []
        for name in FOREIGN_POD_NAMES:
            answer = self.emu.graphql(
                "mutation { podFindAndDeployOnDemand(input: {"
                f'name: "{name}", imageName: "jupyter/base", gpuTypeId: "{GPU_TYPES[0][0]}", '
                "gpuCount: 1, cloudType: SECURE, containerDiskInGb: 10}) { id } }",
                key="a-colleagues-own-key",
            )
            ids.append(str(answer["data"]["podFindAndDeployOnDemand"]["id"]))
        return ids

    def _faults(self, on: bool) -> None:
        self.emu.post("faults", {"clear": True})
        if on:
            self.emu.post("faults", {"faults": BASE_FAULTS})

    @property
    def elapsed(self) -> float:
        return (self.now - self.start).total_seconds()

    def _chaos(self) -> None:
        """Steps of time with kills. A targeted kill stays armed (its held-call rules in place)
        until its call comes, across the random-instant kills that fall due meanwhile; one kill
        per kind of call (create, terminate, stop, resume) can be armed at once, and one that
        waits `MAX_ARMED_STEPS` becomes a random-instant kill."""
        last_report = time.monotonic()
        ends = None if self.wall_limit is None else time.monotonic() + self.wall_limit
        while self.elapsed < self.sc.chaos_seconds:
            if ends is not None and time.monotonic() > ends:
                self.stats.cut_short = True
                self.progress(f"wall-time limit: chaos ends at day {self.elapsed / 86400:.2f}")
                break
            self._world_events()
            due = self.kills.pop(0) if self.kills and self.kills[0].at <= self.elapsed else None
            if due is not None and due.mode is not KillMode.TICK:
                calls = KILL_MATCH[due.mode]
                if calls not in self.armed:
                    self.armed[calls] = [due, 0]
                    self._rearm()
                    due = None
            self._advance()
            if due is not None:  # a random instant, mostly inside the tick that follows
                time.sleep(self.rng.uniform(0.0, 0.08))
                self._kill_and_restart(due, KillMode.TICK)
            elif self.armed:
                held = self._wait_tick(held=True)
                if held is not None:
                    kill = self.armed.pop(held)[0]
                    self._kill_and_restart(kill, kill.mode)
                else:
                    self._count_armed_steps()
            else:
                self._wait_tick()
            if self.stats.steps % 200 == 0:
                self._scrape()
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                self.progress(
                    f"day {self.elapsed / 86400:.2f}: {sum(self.stats.kills.values())} kills, "
                    f"{self.stats.submitted} jobs, {self.stats.steps} steps"
                )

        if self.stats.cut_short:
            return
        for kill, _steps in self.armed.values():  # the chaos is over before their call came
            self.stats.targeted_fallbacks += 1
            self.kills.append(kill)
        self.armed.clear()
        self._faults(on=True)
        while self.kills:  # kills that queued up behind downtimes
            self._advance()
            time.sleep(self.rng.uniform(0.0, 0.08))
            self._kill_and_restart(self.kills.pop(0), KillMode.TICK)

    def _drain(self) -> None:
        """No more faults, kills, jobs or spikes: every job must come to its end."""
        self.stats.chaos_end = self.elapsed
        self._faults(on=False)
        self.emu.post("spot", {"enabled": True})
        for gpu in list(self.spiked):
            self._price(gpu, None)
        self.progress(f"drain: up to {self.sc.drain / 3600:.0f} simulated hours")
        end = self.elapsed + self.sc.drain
        quiet_since: float | None = None
        while self.elapsed < end:
            self._cancels()
            self._advance()
            self._wait_tick()
            if self.stats.steps % 20:
                continue
            live = self.db.query(
                "SELECT COUNT(*) AS n FROM jobs WHERE state NOT IN "
                "('succeeded', 'failed', 'cancelled', 'expired', 'invalid')"
            )[0]["n"]
            if live == 0 and quiet_since is None:
                quiet_since = self.elapsed
            if quiet_since is not None and self.elapsed - quiet_since > 900:  # > orphan grace
                self.stats.drained = True
                break
        self._scrape()

    # ----------------------------------------------------------------- time and ticks
    def _advance(self, seconds: float | None = None) -> None:
        self.now = self.emu.advance(self.sc.step if seconds is None else seconds)
        self.stats.steps += 1

    def _wait_tick(self, held: bool = False, limit: float = TICK_WAIT) -> tuple[str, ...] | None:
        """Wait until the daemon finished a tick at the clock's current time. With `held`:
        return the armed calls as soon as one of them is held in flight."""
        target = self.now
        deadline = time.monotonic() + limit
        polls = 0
        while time.monotonic() < deadline:
            if self.daemon is None or not self.daemon.alive:
                self._unexpected_exit()
                return None
            if held and polls % 5 == 0:
                calls = self._held_call()
                if calls is not None:
                    return calls
            last = self.db.last_tick()
            if last is not None and last >= target:
                return None
            polls += 1
            time.sleep(0.01)
        self.stats.stalled_steps += 1
        return None

    def _unexpected_exit(self) -> None:
        assert self.daemon is not None
        self.stats.daemon_exits.append(self.daemon.proc.returncode)
        self.progress(f"the daemon exited by itself ({self.daemon.proc.returncode}); restarting")
        self._start_daemon()

    def _start_daemon(self) -> None:
        self.daemon = DaemonProcess(self.config, self.daemon_log, self.key)
        self.argvs.append(self.daemon.argv)
        self.stats.restarts += 1
        began = time.monotonic()
        deadline = began + START_WAIT
        while time.monotonic() < deadline:
            if not self.daemon.alive:
                self.stats.daemon_exits.append(self.daemon.proc.returncode)
                raise RuntimeError(f"the daemon did not start; see {self.daemon_log}")
            last = self.db.last_tick()
            if last is not None and last >= self.now:
                self.stats.restart_wall += time.monotonic() - began
                return
            time.sleep(0.02)
        self.stats.stalled_steps += 1

    # ----------------------------------------------------------------- kills
    def _rearm(self) -> None:
        """The base faults plus one held-call rule per armed kill; the request counts now are
        the baseline against which a held call is recognised."""
        self._faults(on=True)
        rules = [
            {"kind": "delay", "seconds": HELD_CALL, "count": 1, "match": call, "phase": phase}
            for calls, (kill, _) in self.armed.items()
            for call in calls
            for phase in ["before" if kill.mode.value.startswith("before") else "after"]
        ]
        if rules:
            self.emu.post("faults", {"faults": rules})
        self.delays_seen = int(self.emu.get("requests")["faults"].get("delay", 0))

    def _held_call(self) -> tuple[str, ...] | None:
        """The armed calls of which one is held in flight now (its rule fired), if any."""
        stats = self.emu.get("requests")
        if stats["inFlight"] == 0 or stats["faults"].get("delay", 0) <= self.delays_seen:
            return None
        waiting = {
            r["match"]
            for r in self.emu.get("state")["faults"]
            if r["kind"] == "delay" and r["remaining"] != 0
        }
        return next((c for c in self.armed if any(m not in waiting for m in c)), None)

    def _held_call_done(self) -> None:
        deadline = time.monotonic() + HELD_CALL + 5.0
        while time.monotonic() < deadline and self.emu.get("requests")["inFlight"] > 0:
            time.sleep(0.05)

    def _count_armed_steps(self) -> None:
        for calls, entry in list(self.armed.items()):
            entry[1] += 1
            if entry[1] >= MAX_ARMED_STEPS:
                del self.armed[calls]
                self.stats.targeted_fallbacks += 1
                self.kills.insert(0, Kill(self.elapsed, KillMode.TICK, entry[0].downtime_steps))
                self._rearm()

    def _kill_and_restart(self, kill: Kill, mode: KillMode) -> None:
        assert self.daemon is not None
        self.daemon.kill()
        killed_at = self.now
        self.stats.kills[mode.value] += 1
        if mode is not KillMode.TICK:  # RunPod finishes the held call within wall seconds,
            self._held_call_done()  # so within seconds of the clock too, not minutes later
        for _ in range(kill.downtime_steps):
            self._world_events()
            self._advance()
        self._start_daemon()
        if self.armed or mode is not KillMode.TICK:
            self._rearm()  # spent rules (the held call, any fired while starting) come back
        self.stats.downtimes.append((self.now - killed_at).total_seconds())

    # ----------------------------------------------------------------- the world
    def _world_events(self) -> None:
        self._submissions()
        self._cancels()
        while self.events and self.events[0].at <= self.elapsed:
            self._event(self.events.pop(0))

    def _event(self, event: Event) -> None:
        if event.what == "preempt":
            running = [
                p
                for p in self.emu.get("state")["pods"]
                if p["podType"] == "INTERRUPTABLE"
                and p["desiredStatus"] == "RUNNING"
                and p["id"] not in self.foreign
            ]
            if running:
                pod = self.rng.choice(running)
                self.emu.post("preempt", {"podId": pod["id"]})
                self.stats.preempt_calls += 1
        elif event.what in ("spike", "unspike") and event.gpu is not None:
            price = dict(GPU_TYPES)[event.gpu]
            self._price(event.gpu, round(price * 0.97, 3) if event.what == "spike" else None)
            self.stats.spikes += event.what == "spike"
        elif event.what in ("spot_off", "spot_on"):
            self.emu.post("spot", {"enabled": event.what == "spot_on"})
            self.stats.spot_switches += 1

    def _price(self, gpu: str, spot: float | None) -> None:
        for cloud in ("SECURE", "COMMUNITY"):
            self.emu.post("market", {"gpuTypeId": gpu, "cloudType": cloud, "spotPrice": spot})
        if spot is None:
            self.spiked.discard(gpu)
        else:
            self.spiked.add(gpu)

    def _submissions(self) -> None:
        due = [
            j for j in self.sc.jobs if j.submit_at <= self.elapsed and j.name not in self.submitted
        ]
        if not due:
            return
        tables = []
        for job in due:
            table = dict(job.fields)
            if job.deadline_in is not None:
                table["deadline"] = self.now + timedelta(seconds=job.deadline_in)
            tables.append(table)
        path = self.dir / f"jobs-{self.stats.submitted:04d}.toml"
        path.write_text(jobs_toml(tables))
        run = cli("submit", str(path), "--db", self.db_url, log=self.cli_log)
        if run.returncode != 0:
            raise RuntimeError(f"submit failed: {run.stdout}{run.stderr}")
        # `submit` stamps the wall clock; the user submitted at the rehearsal's time
        stamp = self.now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        names = [j.name for j in due]
        marks = ", ".join("?" for _ in names)
        self.db.execute(
            f"UPDATE jobs SET submitted_at = ?, queued_since = ? WHERE name IN ({marks})",
            (stamp, stamp, *names),
        )
        self.submitted.update(names)
        self.stats.submitted += len(names)

    def _cancels(self) -> None:
        due = [
            j
            for j in self.sc.jobs
            if j.cancel_at is not None
            and j.cancel_at <= self.elapsed
            and j.name in self.submitted
            and j.name not in self.cancelled
        ]
        if not due:
            return
        ids = self.db.job_ids()
        for job in due:
            self.cancelled.add(job.name)
            if job.name in ids:
                cli("cancel", str(ids[job.name]), "--db", self.db_url, log=self.cli_log)
                self.stats.cancels += 1

    def _scrape(self) -> None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5)
            self.scrapes.append(answer.text)
        except httpx.HTTPError:
            pass

    # ----------------------------------------------------------------- records
    def _records(self) -> Records:
        state = self.emu.get("state")
        for route in ("status", "jobs", "pods", "cost"):
            cli(route, "--db", self.db_url, "--json", log=self.cli_log)
        texts: dict[str, bytes] = {
            "daemon log": self.daemon_log.read_bytes(),
            "cli output": self.cli_log.read_bytes(),
            "emulator stderr": self.emu.stderr_path.read_bytes(),
            "emulator stdout": self.emu.stdout_text.encode(),
            "metrics scrapes": "\n".join(self.scrapes).encode(),
            "daemon argv": "\n".join(self.argvs).encode(),
        }
        for path in sorted(self.state_dir.rglob("*")):
            if path.is_file():
                texts[f"state file {path.name}"] = path.read_bytes()
        return Records(
            scenario=self.sc,
            stats=self.stats,
            start=self.start,
            kinds={j.name: j.kind.value for j in self.sc.jobs if j.name in self.submitted},
            pods=state["pods"],
            requests=state["requests"],
            jobs=self.db.query("SELECT * FROM jobs"),
            attempts=self.db.query("SELECT * FROM attempts"),
            api_key=self.key,
            texts=texts,
            budget_enforce_running=self.enforce_running,
            foreign_pod_ids=self.foreign,
        )
