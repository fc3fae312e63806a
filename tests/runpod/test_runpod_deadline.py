"""`with client.deadline(at):` - no request starts, no retry waits, and no request outlasts `at`;
what would raises `DeadlineExceeded` (not a RunPodError, so the caller's loop ends).

Against the emulator in-process on one `VirtualClock`: its `delay` fault holds a request on that
clock (and an in-process client gives up after its read timeout), 429s carry `Retry-After`.
"""

from __future__ import annotations

import random
from datetime import timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator, FaultRule
from scheduler.runpod.bounds import MIN_REQUEST_TIMEOUT
from scheduler.runpod.client import RunPodClient
from scheduler.runpod.errors import DeadlineExceeded, RunPodError, TransientError
from scheduler.runpod.models import DeployRequest

KEY = "rpa_DEADLINE_TESTS_0123456789"
GPU = "NVIDIA RTX A4000"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def emu(clock: VirtualClock) -> Emulator:
    emu = Emulator(clock, seed=3, api_key=KEY)
    emu.set_market(GPU, "SECURE", spot_price=0.12, on_demand_price=0.25, stock=8)
    return emu


@pytest.fixture
def client(emu: Emulator, clock: VirtualClock):
    with httpx.Client(base_url="https://api.runpod.io", transport=emu.transport()) as http:
        yield RunPodClient(http, KEY, clock=clock, rng=random.Random(2), timeout=30.0)


def _requests(emu: Emulator) -> int:
    return int(emu.state()["requests"]["total"])


def test_a_hung_request_is_cut_at_the_deadline_then_nothing_more_is_sent(
    client: RunPodClient, emu: Emulator, clock: VirtualClock
) -> None:
    emu.inject_faults(FaultRule("delay", seconds=3600.0))
    start = clock.now()
    with client.deadline(start + timedelta(seconds=10)), pytest.raises(DeadlineExceeded) as caught:
        client.list_pods()
    assert (clock.now() - start).total_seconds() == 10.0  # the read timeout, cut from 30 s
    assert _requests(emu) == 1
    assert caught.value.operation == "list_pods"
    assert not isinstance(caught.value, RunPodError)


def test_nothing_starts_once_the_deadline_has_passed(
    client: RunPodClient, emu: Emulator, clock: VirtualClock
) -> None:
    with client.deadline(clock.now()), pytest.raises(DeadlineExceeded, match="start"):
        client.market()
    assert _requests(emu) == 0


def test_a_retry_after_past_the_deadline_is_not_waited(
    client: RunPodClient, emu: Emulator, clock: VirtualClock
) -> None:
    emu.inject_faults(FaultRule("rate_limit", seconds=50.0))
    start = clock.now()
    with client.deadline(start + timedelta(seconds=30)), pytest.raises(DeadlineExceeded) as caught:
        client.list_pods()
    assert clock.slept == []
    assert clock.now() == start
    assert "wait 50.0s to try again" in caught.value.message
    assert "HTTP 429" in caught.value.message
    assert isinstance(caught.value.__cause__, TransientError)


def test_back_off_within_the_deadline_still_retries(
    client: RunPodClient, emu: Emulator, clock: VirtualClock
) -> None:
    emu.inject_faults(FaultRule("http_503", count=2))
    with client.deadline(clock.now() + timedelta(seconds=60)):
        assert client.list_pods() == ()
    assert _requests(emu) == 3


def test_a_create_that_times_out_stays_a_transient_error_with_its_advice(
    client: RunPodClient, emu: Emulator, clock: VirtualClock
) -> None:
    """A create is never retried; its timeout may hide a pod, which the caller must look up by
    name, so it is not turned into a deadline error even when the deadline passed meanwhile."""
    emu.inject_faults(FaultRule("delay", seconds=3600.0, phase="after"))
    request = DeployRequest(name="spotsched-1-1", image_name="img", gpu_type_id=GPU)
    with client.deadline(clock.now() + timedelta(seconds=5)), pytest.raises(TransientError) as e:
        client.deploy(request)
    assert "look the resource up by name" in e.value.message
    assert [p["name"] for p in emu.state()["pods"]] == ["spotsched-1-1"]


def test_the_deadline_applies_only_inside_the_block(
    client: RunPodClient, emu: Emulator, clock: VirtualClock
) -> None:
    with client.deadline(clock.now()), pytest.raises(DeadlineExceeded):
        client.list_pods()
    emu.inject_faults(FaultRule("delay", seconds=20.0, count=1))
    assert client.list_pods() == ()


_FAULTS = st.lists(
    st.one_of(
        st.builds(
            lambda s, n: FaultRule("delay", seconds=s, count=n),
            st.floats(min_value=0, max_value=400),
            st.integers(min_value=1, max_value=3),
        ),
        st.builds(
            lambda s, n: FaultRule("rate_limit", seconds=s, count=n),
            st.floats(min_value=0, max_value=400),
            st.integers(min_value=1, max_value=3),
        ),
        st.builds(
            lambda k, n: FaultRule(k, count=n),
            st.sampled_from(["http_503", "internal_error", "timeout"]),
            st.integers(min_value=1, max_value=3),
        ),
    ),
    max_size=4,
)


@settings(max_examples=100, deadline=None)
@given(
    budget=st.floats(min_value=0, max_value=300),
    faults=_FAULTS,
    calls=st.lists(
        st.sampled_from(["list_pods", "market", "account", "get_pod"]), min_size=1, max_size=4
    ),
)
def test_calls_in_a_deadline_block_never_outlast_it(
    budget: float, faults: list[FaultRule], calls: list[str]
) -> None:
    """Whatever RunPod does (hang, 429 with any Retry-After, fail), the block ends by its
    deadline (give or take the smallest request timeout), each call ending in a value, a
    RunPodError or DeadlineExceeded - and once the deadline has passed nothing more is sent."""
    clock = VirtualClock()
    emu = Emulator(clock, seed=3, api_key=KEY)
    emu.inject_faults(*faults)
    with httpx.Client(base_url="https://api.runpod.io", transport=emu.transport()) as http:
        client = RunPodClient(http, KEY, clock=clock, rng=random.Random(2), timeout=30.0)
        start = clock.now()
        ended_by_deadline = False
        with client.deadline(start + timedelta(seconds=budget)):
            for call in calls:
                try:
                    getattr(client, call)(*(["pod-x"] if call == "get_pod" else []))
                except RunPodError:
                    continue
                except DeadlineExceeded:
                    ended_by_deadline = True
                    break
            if clock.now() >= start + timedelta(seconds=budget):  # past it: nothing starts
                sent = _requests(emu)
                with pytest.raises(DeadlineExceeded):
                    client.list_pods()
                assert _requests(emu) == sent
        elapsed = (clock.now() - start).total_seconds()
    # the deadline as the clock holds it (whole microseconds), not the float it was made from
    allowed = timedelta(seconds=budget).total_seconds()
    assert elapsed <= allowed + MIN_REQUEST_TIMEOUT
    if not ended_by_deadline:
        assert elapsed <= allowed
