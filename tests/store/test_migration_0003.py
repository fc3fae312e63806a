"""Revision 0003 on a database that already holds jobs: live attempts get their latest launch,
finished jobs the outcome their rows tell, and nothing else changes."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import text

from scheduler.store import open_engine
from scheduler.store.migrate import _config, upgrade

_JOB = (
    "INSERT INTO jobs (id, name, image, gpu_types, max_spot_price, state, validated)"
    " VALUES (:id, :name, 'img', '[]', 0.3, :state, true)"
)
_ATTEMPT = (
    "INSERT INTO attempts (id, job_id, number, kind, state, gpu_type_id, gpu_count, pod_name,"
    " created_at, end_reason, resume_failures, overbid, billing, runtime_up, cost,"
    " counterfactual, running_seconds, segment_cost, waste)"
    " VALUES (:id, :job, 1, 'spot', :state, 'A40', 1, :pod, '2026-01-05 00:00:00', :reason,"
    " 0, false, false, false, 0, 0, 0, 0, 0)"
)


def test_existing_rows_gain_their_launch_time_and_outcome(make_database: Any) -> None:
    engine = open_engine(make_database("sqlite", migrated=False))
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0002")
        with engine.begin() as conn:
            jobs = [
                ("idled", "succeeded"),
                ("removed", "succeeded"),
                ("stopped", "cancelled"),
                ("live", "running"),
                ("capped", "failed"),
            ]
            for i, (name, state) in enumerate(jobs, start=1):
                conn.execute(text(_JOB), {"id": i, "name": name, "state": state})
            attempts = [
                ("ended", "idle"),
                ("ended", "completed"),
                ("ended", "cancelled"),
                ("running", None),
                ("ended", "budget"),
            ]
            for i, (state, reason) in enumerate(attempts, start=1):
                params = {"id": i, "job": i, "state": state, "pod": f"p{i}", "reason": reason}
                conn.execute(text(_ATTEMPT), params)

        upgrade(engine)

        with engine.connect() as conn:
            outcomes = dict(conn.execute(text("SELECT name, outcome FROM jobs")).all())
            launched = dict(conn.execute(text("SELECT job_id, launched_at FROM attempts")).all())
        assert outcomes == {
            "idled": "idle",
            "removed": "completed",
            "stopped": "cancelled",
            "live": None,
            "capped": None,  # the rows cannot tell max_cost from a budget stop: left unknown
        }
        assert launched[4] is not None  # the live attempt: launched when it was created
        assert all(launched[j] is None for j in (1, 2, 3, 5))
    finally:
        engine.dispose()
