"""A tick has a time budget below the systemd watchdog: a hung RunPod or a long `Retry-After`
ends the tick early with one clear log line (`tick_budget_exhausted`, naming the operation)
instead of a tick of several minutes, and the next tick starts afresh.

Time is the shared virtual clock: the emulator's `delay` fault holds each request on it (an
in-process client gives up after its read timeout, as on a socket), `rate_limit` answers 429
with `Retry-After`, and the client's back-off sleeps on it too. So the asserted durations are
exact virtual seconds, never wall time.
"""

from __future__ import annotations

import dataclasses

from structlog.testing import capture_logs

from scheduler.daemon.config import Settings
from scheduler.daemon.service import reconciler_settings
from scheduler.emulator import FaultRule

from .conftest import World, sim

BUDGET = 120.0  # the default [scheduler] tick_budget
CLIENT_TIMEOUT = 30.0  # the default [runpod] timeout


def _timed_tick(world: World) -> tuple[float, list[dict[str, object]], bool, list[str]]:
    start = world.clock.now()
    with capture_logs() as logs:
        report = world.tick()
    return (world.clock.now() - start).total_seconds(), logs, report.ok, report.errors


def test_a_hung_api_ends_the_tick_at_its_budget_with_one_clear_line(world: World) -> None:
    job = world.submit("train", env=sim())
    world.run_until(lambda: world.state(job) == "running")
    world.emu.inject_faults(FaultRule("delay", seconds=3600.0))  # every request hangs

    seconds, logs, ok, errors = _timed_tick(world)

    # Today: 2 reads x 4 attempts x 30 s plus back-off, about 250 s, then a watchdog kill.
    assert seconds <= BUDGET
    assert not ok
    exhausted = [e for e in logs if e["event"] == "tick_budget_exhausted"]
    assert len(exhausted) == 1
    assert exhausted[0]["operation"] in ("market", "list_pods")
    assert exhausted[0]["budget_seconds"] == BUDGET
    assert any(e.startswith("tick budget: ") for e in errors)

    world.emu.clear_faults()  # RunPod is back: the next tick is an ordinary one
    world.clock.advance(60)
    seconds, logs, ok, _ = _timed_tick(world)
    assert ok and seconds == 0.0
    assert not [e for e in logs if e["event"] == "tick_budget_exhausted"]
    assert world.state(job) == "running"


def test_a_retry_after_longer_than_the_budget_left_ends_the_tick_without_waiting_it(
    world: World,
) -> None:
    world.emu.inject_faults(FaultRule("rate_limit", seconds=100.0))  # Retry-After: 100

    seconds, logs, ok, errors = _timed_tick(world)

    # The client waits a Retry-After of at most 60 s; the second wait would pass the budget.
    # Today: 3 waits of 60 s for each of the two reads, a 360 s tick.
    assert seconds == 60.0
    assert not ok
    [line] = [e for e in logs if e["event"] == "tick_budget_exhausted"]
    assert line["operation"] == "market"
    assert "wait 60.0s to try again" in str(line["error"])
    assert "rate limiting" in str(line["error"])
    assert world.emu.state()["requests"]["byStatus"] == {"429": 2}
    assert any("tick budget" in e for e in errors)


def test_a_slow_api_within_the_budget_still_completes_the_tick(world: World) -> None:
    job = world.submit("train", env=sim())
    world.emu.inject_faults(FaultRule("delay", seconds=20.0))  # slow, under the 30 s timeout

    seconds, logs, ok, _ = _timed_tick(world)

    assert ok
    assert 40.0 <= seconds <= BUDGET  # market, pods and the create: 20 s each
    assert not [e for e in logs if e["event"] == "tick_budget_exhausted"]
    assert world.state(job) == "launching"


def test_a_smaller_budget_from_the_config_reaches_the_reconciler(world: World) -> None:
    settings = Settings.model_validate({"scheduler": {"tick_budget": "45s"}})
    world.reconciler.settings = reconciler_settings(settings)
    assert world.reconciler.settings.tick_budget == 45.0
    world.emu.inject_faults(FaultRule("delay", seconds=3600.0))

    seconds, logs, ok, _ = _timed_tick(world)

    assert seconds <= 45.0 and not ok
    assert [e["event"] for e in logs].count("tick_budget_exhausted") == 1


def test_no_budget_means_no_limit(world: World) -> None:
    world.reconciler.settings = dataclasses.replace(world.reconciler.settings, tick_budget=None)
    world.emu.inject_faults(FaultRule("rate_limit", seconds=5.0, count=2))

    seconds, _logs, ok, _ = _timed_tick(world)

    assert ok and seconds == 10.0
