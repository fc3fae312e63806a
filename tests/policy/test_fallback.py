"""When a queued job goes on-demand instead of spot, and why (the Launch's `reason`).

DESIGN.md, Policy: on-demand when the job waited longer than `fallback_after`, reached
`max_preemptions`, spot is not a capability, or the deadline is at risk — the safety net
R < C + 2d, or Uniform Progress (only when slack is tight for `default`, always for
`uniform_progress`, never for `greedy`). A job without `max_on_demand_price` never goes
on-demand.
"""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.domain.states import AttemptKind
from scheduler.domain.views import JobView
from scheduler.policy.config import Strategy

from .factories import (
    T0,
    at,
    config,
    holds,
    job,
    launches,
    market,
    only_launch,
    quote,
    run,
    snapshot,
)

HOUR = 3600.0
OD = AttemptKind.ON_DEMAND
SPOT = AttemptKind.SPOT


def kind_and_reason(actions: list) -> tuple[AttemptKind, str]:
    launch = only_launch(actions)
    return launch.kind, launch.reason


@pytest.mark.parametrize(
    ("waited", "expected"),
    [(600.0, (SPOT, "spot_under_limit")), (601.0, (OD, "wait_limit"))],
)
def test_on_demand_once_the_job_waited_longer_than_fallback_after(
    waited: float, expected: tuple[AttemptKind, str]
) -> None:
    j = job(fallback_after=600, max_on_demand_price=1.0)
    assert kind_and_reason(run(snapshot(j, now=at(waited)))) == expected


def test_the_wait_counts_from_queued_since_not_from_submission() -> None:
    j = job(
        submitted_at=at(-10 * HOUR),
        queued_since=at(-60),
        fallback_after=600,
        max_on_demand_price=1.0,
    )
    assert kind_and_reason(run(snapshot(j))) == (SPOT, "spot_under_limit")


def test_past_the_wait_limit_without_an_on_demand_offer_spot_is_still_taken() -> None:
    j = job(fallback_after=600, max_on_demand_price=0.5)  # on-demand lists at $0.60
    launch = only_launch(run(snapshot(j, now=at(601))))
    assert launch.kind is SPOT
    assert launch.reason == "spot_while_wait_limit_has_no_on_demand_offer"


@pytest.mark.parametrize(
    ("preemptions", "expected"),
    [(1, (SPOT, "spot_under_limit")), (2, (OD, "max_preemptions"))],
)
def test_on_demand_once_max_preemptions_is_reached(
    preemptions: int, expected: tuple[AttemptKind, str]
) -> None:
    j = job(preemptions=preemptions, max_preemptions=2, max_on_demand_price=1.0)
    assert kind_and_reason(run(snapshot(j))) == expected


def test_max_preemptions_without_an_on_demand_offer_holds_rather_than_spot() -> None:
    j = job(preemptions=2, max_preemptions=2, max_on_demand_price=0.5)
    actions = run(snapshot(j))
    assert launches(actions) == []
    assert holds(actions) == {1: "max_preemptions: no on-demand offer under max_on_demand_price"}


def test_on_demand_when_spot_is_not_a_capability() -> None:
    m = market(quote(spot=0.2), spot_capable=False)
    j = job(max_on_demand_price=1.0)
    assert kind_and_reason(run(snapshot(j, market=m))) == (OD, "spot_unavailable")


# Deadline rules. The job was submitted at T0 and needs 4 h of work (C) at speed 1.0; the
# changeover delay d is 300 s unless a test says otherwise.


def deadline_job(deadline_in: float, **fields: Any) -> JobView:
    fields.setdefault("max_on_demand_price", 1.0)
    return job(deadline=at(deadline_in), estimated_runtime=4 * HOUR, **fields)


@pytest.mark.parametrize("strategy", [Strategy.DEFAULT, Strategy.GREEDY, Strategy.UNIFORM_PROGRESS])
def test_safety_net_on_demand_when_remaining_time_is_under_work_plus_two_changeovers(
    strategy: Strategy,
) -> None:
    j = deadline_job(4 * HOUR + 599)  # R = C + 599 s < C + 2d
    cfg = config(strategy=strategy)
    assert kind_and_reason(run(snapshot(j), cfg)) == (OD, "deadline_safety_net")


def test_safety_net_leaves_room_for_exactly_two_changeovers() -> None:
    j = deadline_job(4 * HOUR + 600)  # R = C + 2d: not under it
    assert kind_and_reason(run(snapshot(j), config(strategy=Strategy.GREEDY)))[0] is SPOT


def test_safety_net_scales_with_the_changeover_delay() -> None:
    j = deadline_job(4 * HOUR + 599)
    cfg = config(strategy=Strategy.GREEDY, changeover_delay=0.0)
    assert kind_and_reason(run(snapshot(j), cfg))[0] is SPOT


def test_safety_net_counts_work_already_done() -> None:
    j = deadline_job(3 * HOUR, work_seconds=2 * HOUR)  # C = 2 h, R = 3 h
    assert kind_and_reason(run(snapshot(j), config(strategy=Strategy.GREEDY)))[0] is SPOT


# Five hours in, nothing done, deadline at ten hours: R = 5 h, C = 4 h; Uniform Progress expects
# 2 h done, and the rate still needed (0.8) is over default's pace line (0.4 + 0.1 x 0.6).
TIGHT_AND_BEHIND = {"deadline_in": 5 * HOUR, "now": at(5 * HOUR)}
# One hour in: R = 9 h; Uniform Progress expects 0.4 h done (behind), but the rate still needed
# (4/9 = 0.44) is within default's pace line (0.46).
LOOSE_AND_BEHIND = {"deadline_in": 9 * HOUR, "now": at(HOUR)}
NO_SPOT = market(quote(spot=None, secure=True), quote(spot=None, secure=False))


def _deadline_case(situation: dict, strategy: Strategy, spot: bool) -> list:
    now = situation["now"]
    j = job(
        deadline=now + (at(situation["deadline_in"]) - T0),
        estimated_runtime=4 * HOUR,
        max_on_demand_price=1.0,
    )
    snap = snapshot(j, now=now) if spot else snapshot(j, now=now, market=NO_SPOT)
    return run(snap, config(strategy=strategy))


@pytest.mark.parametrize("strategy", [Strategy.DEFAULT, Strategy.UNIFORM_PROGRESS, Strategy.GREEDY])
@pytest.mark.parametrize("situation", [TIGHT_AND_BEHIND, LOOSE_AND_BEHIND], ids=["tight", "loose"])
def test_offered_spot_is_taken_even_when_behind(strategy: Strategy, situation: dict) -> None:
    """The paper's "Taking Risks": behind the line but outside the safety net, offered spot wins."""
    assert kind_and_reason(_deadline_case(situation, strategy, spot=True)) == (
        SPOT,
        "spot_under_limit",
    )


@pytest.mark.parametrize(
    ("strategy", "situation", "expected"),
    [
        (Strategy.DEFAULT, TIGHT_AND_BEHIND, "deadline_pace"),
        (Strategy.DEFAULT, LOOSE_AND_BEHIND, None),
        (Strategy.UNIFORM_PROGRESS, TIGHT_AND_BEHIND, "deadline_uniform_progress"),
        (Strategy.UNIFORM_PROGRESS, LOOSE_AND_BEHIND, "deadline_uniform_progress"),
        (Strategy.GREEDY, TIGHT_AND_BEHIND, None),
        (Strategy.GREEDY, LOOSE_AND_BEHIND, None),
    ],
    ids=[
        "default-tight",
        "default-loose",
        "uniform-tight",
        "uniform-loose",
        "greedy-tight",
        "greedy-loose",
    ],
)
def test_without_spot_a_job_behind_its_line_goes_on_demand_by_strategy(
    strategy: Strategy, situation: dict, expected: str | None
) -> None:
    actions = _deadline_case(situation, strategy, spot=False)
    if expected is None:
        assert launches(actions) == []  # waits for spot
    else:
        assert kind_and_reason(actions) == (OD, expected)


def test_default_stays_on_spot_when_tight_but_ahead_of_uniform_progress() -> None:
    # 8 h job, deadline at 10 h, 5 h in with 4.4 h done: R = 5 h, C = 3.6 h (tight), and
    # 4.4 h done is ahead of the 4 h Uniform Progress expects.
    j = job(
        deadline=at(10 * HOUR),
        estimated_runtime=8 * HOUR,
        work_seconds=4.4 * HOUR,
        max_on_demand_price=1.0,
    )
    assert kind_and_reason(run(snapshot(j, now=at(5 * HOUR))))[0] is SPOT


def test_deadline_rules_never_put_a_spot_only_job_on_demand() -> None:
    j = deadline_job(10 * HOUR, max_on_demand_price=None)  # tight and behind, as above
    snap = snapshot(j, now=at(5 * HOUR))
    assert kind_and_reason(run(snap, config(strategy=Strategy.UNIFORM_PROGRESS)))[0] is SPOT


def test_on_demand_strategy_runs_every_job_that_allows_it_on_demand() -> None:
    cfg = config(strategy=Strategy.ON_DEMAND)
    actions = run(snapshot(job(1, max_on_demand_price=1.0), job(2)), cfg)
    by_job = {launch.job_id: (launch.kind, launch.reason) for launch in launches(actions)}
    assert by_job == {1: (OD, "strategy_on_demand"), 2: (SPOT, "spot_under_limit")}
