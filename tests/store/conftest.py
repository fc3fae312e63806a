"""Builders for the store tests: specs, launches, and plain-SQL peeks at what was written.

Peeks use SQL text on the test's own engine, never the store's code paths, so a test checks
what is in the database rather than what the store believes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text

from scheduler.domain.actions import Launch
from scheduler.domain.job import JobSpec, parse_job
from scheduler.domain.states import AttemptKind, JobState

Sql = Callable[..., list[Any]]
Events = Callable[[int], list[tuple[str | None, str | None, str]]]


def make_spec(name: str = "train", **fields: Any) -> JobSpec:
    raw: dict[str, Any] = {
        "name": name,
        "image": "ghcr.io/acme/train:1",
        "gpu_types": ["NVIDIA A40", {"id": "NVIDIA RTX A5000", "speed": 0.8}],
        "max_spot_price": 0.5,
        "max_on_demand_price": 1.2,
    }
    raw.update(fields)
    return parse_job(raw)


def make_launch(
    job_id: int,
    from_state: JobState = JobState.QUEUED,
    kind: AttemptKind = AttemptKind.SPOT,
    bid: float | None = 0.3,
    on_demand: float | None = 0.8,
    gpu_count: int = 1,
) -> Launch:
    return Launch(
        job_id=job_id,
        from_state=from_state,
        kind=kind,
        gpu_type_id="NVIDIA A40",
        gpu_count=gpu_count,
        secure_cloud=True,
        bid_per_gpu=bid if kind is AttemptKind.SPOT else None,
        on_demand_price_per_gpu=on_demand,
        data_center_id=None,
        reason="test",
    )


@pytest.fixture
def sql(engine: Engine) -> Sql:
    """`sql("SELECT ...", key=value)`: the result rows, read in a transaction of their own."""

    def run(query: str, **params: Any) -> list[Any]:
        with engine.begin() as conn:
            result = conn.execute(text(query), params)
            return list(result.all()) if result.returns_rows else []

    return run


@pytest.fixture
def events(sql: Sql) -> Events:
    """A job's event rows, oldest first, as (from_state, to_state, kind)."""

    def read(job_id: int) -> list[tuple[str | None, str | None, str]]:
        rows = sql(
            "SELECT from_state, to_state, kind FROM job_events WHERE job_id = :j ORDER BY id",
            j=job_id,
        )
        return [(r[0], r[1], r[2]) for r in rows]

    return read


@pytest.fixture
def new_spec() -> Callable[..., JobSpec]:
    """`new_spec(name="train", **fields)`: a valid spec (A40 or A5000, spot $0.50, OD $1.20)."""
    return make_spec


@pytest.fixture
def new_launch() -> Callable[..., Launch]:
    """`new_launch(job_id, from_state=QUEUED, kind=SPOT, bid=0.3, on_demand=0.8, gpu_count=1)`."""
    return make_launch
