"""The installation id: created once per database by the migrations, kept, never guessed.

It is what makes a pod ours on a RunPod account shared with other installations, so two
databases must get different ids, one database must keep its id across restarts and upgrades,
and a damaged id must stop the daemon rather than silently disown every pod it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from scheduler.domain.actions import Launch
from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import JobSpec
from scheduler.domain.views import is_installation_id, pod_installation
from scheduler.store import Store, open_engine
from scheduler.store.installation import InstallationIdInvalid
from scheduler.store.migrate import upgrade


def _fresh(make_database: Any, backend: str) -> Engine:
    engine = open_engine(make_database(backend, migrated=False))
    upgrade(engine)
    return engine


def test_each_database_gets_its_own_id_and_keeps_it(
    backend: str, make_database: Any, clock: VirtualClock
) -> None:
    first, second = _fresh(make_database, backend), _fresh(make_database, backend)
    try:
        ours = Store(first).installation(clock.now())
        assert is_installation_id(ours)
        assert Store(second).installation(clock.now()) != ours
        upgrade(first)  # a later start migrates again: nothing changes
        assert Store(first).installation(clock.now()) == ours  # a restart reads the same id
        assert Store(first).facts()["installation_id"][0] == ours  # what `status` shows
    finally:
        first.dispose()
        second.dispose()


def test_a_missing_id_is_created_once_and_then_kept(store: Store, sql: Any, clock: Any) -> None:
    sql("DELETE FROM daemon_state WHERE key = 'installation_id'")
    created = Store(store.engine).installation(clock.now())
    assert is_installation_id(created)
    assert Store(store.engine).installation(clock.now()) == created
    assert sql("SELECT value FROM daemon_state WHERE key = 'installation_id'") == [(created,)]


def test_attempt_pod_names_carry_the_id(
    store: Store,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
) -> None:
    job = store.submit(new_spec(), clock.now())
    attempt = store.begin_attempt(new_launch(job), clock.now())
    assert pod_installation(attempt.pod_name) == store.installation(clock.now())
    assert len(attempt.pod_name) < 64


@pytest.mark.parametrize("bad", ["", "1234567890", "Upper-Case", "a b c d e f", "x" * 300])
def test_a_damaged_id_is_an_error_naming_the_row_and_names_no_pod(
    bad: str,
    store: Store,
    sql: Any,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
) -> None:
    sql("DELETE FROM daemon_state WHERE key = 'installation_id'")
    sql("INSERT INTO daemon_state (key, value) VALUES ('installation_id', :v)", v=bad)
    with pytest.raises(InstallationIdInvalid, match=r"daemon_state\.installation_id"):
        Store(store.engine).installation(clock.now())
    job = store.submit(new_spec(), clock.now())
    with pytest.raises(InstallationIdInvalid):
        store.begin_attempt(new_launch(job), clock.now())
    assert sql("SELECT count(*) FROM attempts") == [(0,)]
    assert sql("SELECT value FROM daemon_state WHERE key = 'installation_id'") == [(bad,)]


def test_recorded_pods_are_the_pod_ids_our_attempts_hold(
    store: Store,
    sql: Any,
    clock: VirtualClock,
    new_spec: Callable[..., JobSpec],
    new_launch: Callable[..., Launch],
) -> None:
    job = store.submit(new_spec(), clock.now())
    attempt = store.begin_attempt(new_launch(job), clock.now())
    store.set_pod(attempt.id, "pod-ours", 0.3, None, clock.now())
    listed = ["pod-ours", "pod-theirs", *(f"other-{i}" for i in range(1200))]
    assert store.recorded_pods(listed) == frozenset({"pod-ours"})
    assert store.recorded_pods([]) == frozenset()
