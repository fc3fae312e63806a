"""Pods no live attempt owns: this installation's orphans, and everybody else's pods.

DESIGN.md, Crash safety: a pod of *this installation* that no attempt owns is an orphan and is
terminated after a grace period; pods of other installations and of people are never touched.
Idle: for pods not launched by a daemon, an opt-in idle stop limited by a name pattern;
everything else of the user's is left alone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from scheduler.domain.actions import TerminateOrphan
from scheduler.domain.states import AttemptState
from scheduler.domain.views import PodView
from scheduler.policy.config import ForeignIdleRule

from .factories import (
    INSTALLATION,
    NEIGHBOUR,
    at,
    attempt,
    config,
    live_job,
    of_type,
    our_pod_name,
    pod,
    pod_of,
    run,
    snapshot,
)

HOUR = 3600.0
ORPHAN = our_pod_name(7, 1)  # `spotsched-ourinstall1-7-1`


def strays(*pods: PodView, **cfg: Any) -> list[TerminateOrphan]:
    return of_type(run(snapshot(pods=pods), config(**cfg)), TerminateOrphan)


@pytest.mark.parametrize(("seen_ago", "swept"), [(299.0, False), (300.0, True)])
def test_an_orphan_is_terminated_once_orphan_grace_has_passed(seen_ago: float, swept: bool) -> None:
    p = pod(ORPHAN, pod_id="p7", first_seen=at(-seen_ago))
    expected = [TerminateOrphan("p7", ORPHAN, "orphan")] if swept else []
    assert strays(p, orphan_grace=300.0) == expected


def test_an_orphan_is_terminated_not_stopped_even_when_it_exited() -> None:
    p = pod(ORPHAN, desired_status="EXITED", runtime_up=False, first_seen=at(-HOUR))
    [sweep] = strays(p)
    assert sweep.stop_only is False


def test_a_pod_never_seen_as_unowned_is_not_swept() -> None:
    assert strays(pod(ORPHAN, first_seen=None)) == []


def test_a_pod_the_daemon_stopped_on_purpose_is_kept() -> None:
    p = pod(ORPHAN, first_seen=at(-HOUR))
    snap = replace(snapshot(pods=[p]), kept_pods=frozenset({ORPHAN}))
    assert run(snap) == []


def test_the_live_attempts_pod_is_never_an_orphan_but_an_older_attempts_pod_is() -> None:
    a = attempt(7, number=2)
    old = pod(ORPHAN, pod_id="old", first_seen=at(-HOUR))
    actions = run(snapshot(live_job(a), pods=[pod_of(a, first_seen=at(-HOUR)), old]))
    assert of_type(actions, TerminateOrphan) == [TerminateOrphan("old", ORPHAN, "orphan")]


def test_orphans_are_swept_in_pod_id_order() -> None:
    pods = [pod(our_pod_name(i, 1), pod_id=f"p{i}", first_seen=at(-HOUR)) for i in (3, 1, 2)]
    assert [s.pod_id for s in strays(*pods)] == ["p1", "p2", "p3"]


def idle_pod(name: str, idle_for: float, **fields: Any) -> PodView:
    return pod(name, pod_id=f"id-{name}", idle_since=at(-idle_for), gpu_util=0.0, **fields)


def test_other_peoples_pods_are_left_alone_without_a_rule() -> None:
    assert strays(idle_pod("dev-box", 30 * 24 * HOUR)) == []


@pytest.mark.parametrize(("action", "stop_only"), [("stop", True), ("terminate", False)])
def test_an_idle_foreign_pod_matching_the_rule_is_stopped_or_terminated(
    action: str, stop_only: bool
) -> None:
    rule = ForeignIdleRule("dev-*", idle_timeout=1800.0, action=action)
    assert strays(idle_pod("dev-box", 1800.0), foreign_idle=rule) == [
        TerminateOrphan("id-dev-box", "dev-box", "foreign_idle", stop_only=stop_only)
    ]


@pytest.mark.parametrize(
    "p",
    [
        idle_pod("dev-box", 1799.0),  # not idle long enough
        idle_pod("prod-api", 10 * HOUR),  # name does not match
        idle_pod("Dev-box", 10 * HOUR),  # the pattern is case-sensitive
        idle_pod("dev-box", 10 * HOUR, desired_status="EXITED", runtime_up=False),
        idle_pod("dev-box", 10 * HOUR, runtime_up=False),
        pod("dev-box", idle_since=None),  # busy
    ],
    ids=["recent", "other-name", "case", "exited", "runtime-down", "busy"],
)
def test_the_foreign_idle_rule_touches_nothing_else(p: PodView) -> None:
    rule = ForeignIdleRule("dev-*", idle_timeout=1800.0)
    assert strays(p, foreign_idle=rule) == []


def test_a_catch_all_foreign_rule_never_touches_the_daemons_own_pods() -> None:
    rule = ForeignIdleRule("*", idle_timeout=0.0)
    a = attempt(7, state=AttemptState.RUNNING, started_at=at(0))
    own = pod_of(a, idle_since=at(0), gpu_util=0.0)
    recent_orphan = idle_pod(our_pod_name(8, 1), HOUR, first_seen=at(-10))
    snap = snapshot(live_job(a, idle_timeout=None), pods=[own, recent_orphan])
    assert run(snap, config(foreign_idle=rule)) == []


# -- neighbours: another installation on the same RunPod account, people, the old name format


def _snap_with(*pods: PodView, recorded: frozenset[str] = frozenset()) -> list[TerminateOrphan]:
    snap = replace(snapshot(pods=pods), recorded_pods=recorded)
    return of_type(run(snap, config(orphan_grace=300.0)), TerminateOrphan)


@pytest.mark.parametrize(
    "name",
    [
        f"spotsched-{NEIGHBOUR}-7-1",  # another installation's pod
        "spotsched-1-1",  # the old format: a neighbour's (or a person's) as far as we know
        "spotsched-dev-box",  # a person's pod
        "spotsched-",
    ],
)
def test_a_spotsched_pod_that_is_not_ours_is_never_swept(name: str) -> None:
    assert _snap_with(pod(name, pod_id="theirs", first_seen=at(-30 * 24 * HOUR))) == []


def test_an_old_format_pod_an_attempt_of_ours_recorded_is_ours_and_swept() -> None:
    old = pod("spotsched-7-1", pod_id="ours-before-upgrade", first_seen=at(-HOUR))
    same_name = pod("spotsched-7-1", pod_id="a-neighbours", first_seen=at(-HOUR))
    assert _snap_with(old, same_name, recorded=frozenset({"ours-before-upgrade"})) == [
        TerminateOrphan("ours-before-upgrade", "spotsched-7-1", "orphan")
    ]


def test_a_snapshot_without_an_installation_id_owns_no_pod_by_name() -> None:
    snap = replace(snapshot(pods=[pod(ORPHAN, first_seen=at(-HOUR))]), installation=None)
    assert run(snap) == []


def test_a_catch_all_foreign_rule_never_touches_a_neighbours_pods() -> None:
    rule = ForeignIdleRule("*", idle_timeout=0.0)
    theirs = idle_pod(f"spotsched-{NEIGHBOUR}-1-1", HOUR, first_seen=at(-HOUR))
    old = idle_pod("spotsched-1-1", HOUR, first_seen=at(-HOUR))
    assert run(snapshot(pods=[theirs, old]), config(foreign_idle=rule)) == []


def test_our_own_live_pod_keeps_its_old_format_name_after_an_upgrade() -> None:
    """A live attempt from before installation ids is managed by its exact recorded name:
    its pod is not an orphan, and a neighbour's pod of the same name is not adopted in its
    place once the attempt knows its pod id."""
    a = replace(attempt(7, number=1, pod_id="ours"), pod_name="spotsched-7-1")
    mine = pod_of(a, first_seen=at(-HOUR))
    theirs = pod("spotsched-7-1", pod_id="a-neighbours", first_seen=at(-HOUR))
    actions = run(snapshot(live_job(a), pods=[theirs, mine]), config(orphan_grace=0.0))
    assert of_type(actions, TerminateOrphan) == []
    assert INSTALLATION not in a.pod_name
