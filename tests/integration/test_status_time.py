"""RunPod's `lastStatusChange` prose is where the ledger reads when a pod started or halted;
anything it cannot read is None (the ledger then falls back to half an interval), never an
error and never a wrong time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.reconcile.observe import status_time


@pytest.mark.parametrize(
    ("prose", "expected"),
    [
        (
            "Rented by User: Thu Aug 20 2026 03:29:12 GMT+0000 (Coordinated Universal Time)",
            datetime(2026, 8, 20, 3, 29, 12, tzinfo=UTC),
        ),
        (
            "Rented by User: Fri Jul 12 2024 15:14:40 GMT-0400 (Eastern Daylight Time)",
            datetime(2024, 7, 12, 19, 14, 40, tzinfo=UTC),
        ),
        (
            "Spot instance interrupted: Mon Jan 05 2026 00:04:00 GMT+0530 (India Standard Time)",
            datetime(2026, 1, 4, 18, 34, 0, tzinfo=UTC),
        ),
    ],
)
def test_the_moment_in_runpods_prose_is_read_in_utc(prose: str, expected: datetime) -> None:
    assert status_time(prose) == expected


@pytest.mark.parametrize(
    "prose",
    [
        None,
        "",
        "Rented by User",
        "Rented by User: Fri Feb 31 2026 10:00:00 GMT+0000 (nonsense day)",
        "Rented by User: Fri Foo 12 2026 10:00:00 GMT+0000",
        "Rented by User: Fri Jul 12 2026 25:00:00 GMT+0000",
    ],
)
def test_prose_without_a_readable_moment_is_none(prose: str | None) -> None:
    assert status_time(prose) is None


@given(st.text(max_size=200))
def test_any_text_gives_a_time_or_none_never_an_error(prose: str) -> None:
    when = status_time(prose)
    assert when is None or when.tzinfo is not None
