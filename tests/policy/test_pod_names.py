"""Pod names: the idempotency key of every create, and half of what makes a pod ours.

`spotsched-{installation}-{job}-{attempt}` must read back to its parts, never be mistaken for
the old format `spotsched-{job}-{attempt}` or another installation's name, and stay short.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.domain.views import (
    INSTALLATION_ID_PATTERN,
    is_installation_id,
    parse_pod_name,
    pod_installation,
    pod_name,
)
from scheduler.store.installation import new_installation_id

INSTALLATIONS = st.from_regex(INSTALLATION_ID_PATTERN, fullmatch=True)
IDS = st.integers(min_value=1, max_value=10**15)


@given(INSTALLATIONS, IDS, IDS)
def test_a_name_reads_back_to_its_installation_job_and_attempt(
    installation: str, job: int, number: int
) -> None:
    name = pod_name(job, number, installation=installation)
    assert parse_pod_name(name) == (job, number)
    assert pod_installation(name) == installation
    assert len(name) < 64


@given(IDS, IDS)
def test_an_old_format_name_has_no_installation(job: int, number: int) -> None:
    assert parse_pod_name(f"spotsched-{job}-{number}") == (job, number)
    assert pod_installation(f"spotsched-{job}-{number}") is None


@given(st.text(max_size=40))
def test_any_other_name_has_no_installation_or_is_exactly_one(name: str) -> None:
    found = pod_installation(name)
    if found is not None:
        assert name.startswith(f"spotsched-{found}-") and parse_pod_name(name) is not None


def test_fresh_ids_are_valid_and_differ() -> None:
    ids = {new_installation_id() for _ in range(200)}
    assert len(ids) == 200 and all(is_installation_id(i) for i in ids)


@pytest.mark.parametrize("bad", ["", "12345678", "Abcdefgh", "abc", "abc-defgh", "a" * 21])
def test_a_name_is_never_made_with_a_bad_installation_id(bad: str) -> None:
    with pytest.raises(ValueError, match="not an installation id"):
        pod_name(1, 1, installation=bad)
