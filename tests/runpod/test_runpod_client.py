"""`RunPodClient` against the emulator, through its in-process httpx transport.

The emulator is the fake at the process boundary (STYLE rule 10): real GraphQL parsing,
validation and execution against the reference schema, RunPod's error texts, injected faults.
Both share one `VirtualClock`, so back-off sleeps are exact virtual seconds and advance the
emulated world too.
"""

from __future__ import annotations

import random

import httpx
import pytest

from scheduler.domain.clock import VirtualClock
from scheduler.emulator import Emulator, FaultRule
from scheduler.runpod.client import RunPodClient
from scheduler.runpod.errors import (
    AuthenticationError,
    CapacityError,
    NotFoundError,
    RejectedError,
    RunPodError,
    SpotUnsupportedError,
    TransientError,
)
from scheduler.runpod.models import DeployRequest, RequestRecord
from scheduler.runpod.retry import RetryPolicy

KEY = "rpa_TESTKEY_9f8e7d6c5b4a39281706"
SEED = 1234
GPU = "NVIDIA RTX A4000"
ON_DEMAND = {"SECURE": 0.25, "COMMUNITY": 0.17}
SPOT_FLOOR = {"SECURE": 0.12, "COMMUNITY": 0.09}


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def emu(clock: VirtualClock) -> Emulator:
    emu = Emulator(clock, seed=3, api_key=KEY)
    for cloud in ("SECURE", "COMMUNITY"):
        emu.set_market(
            GPU, cloud, spot_price=SPOT_FLOOR[cloud], on_demand_price=ON_DEMAND[cloud], stock=8
        )
    return emu


@pytest.fixture
def http(emu: Emulator):
    with httpx.Client(base_url="http://emulator.test", transport=emu.transport()) as http:
        yield http


@pytest.fixture
def records() -> list[RequestRecord]:
    return []


@pytest.fixture
def client(http, clock, records) -> RunPodClient:
    return RunPodClient(http, KEY, clock=clock, rng=random.Random(SEED), on_request=records.append)


def deploy_request(name: str = "spotsched-job1-1", **kwargs) -> DeployRequest:
    fields = {
        "name": name,
        "image_name": "ghcr.io/acme/train:1",
        "gpu_type_id": GPU,
        "cloud_type": "SECURE",
        "env": (("SPOTSCHED_JOB_ID", "job1"), ("SPOTSCHED_ATTEMPT", "1")),
        "ports": "22/tcp",
    }
    fields.update(kwargs)
    return DeployRequest(**fields)


def expected_backoff(*retries: int, policy: RetryPolicy | None = None) -> list[float]:
    """The sleeps a client seeded with SEED takes before retries 0, 1, ... (full jitter)."""
    policy = policy or RetryPolicy()
    rng = random.Random(SEED)
    return [rng.uniform(0, min(policy.cap, policy.base * 2**n)) for n in retries]


def no_key_anywhere(exc: BaseException) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        assert KEY not in str(seen)
        assert KEY not in repr(seen)
        assert KEY not in repr(seen.args)
        seen = seen.__cause__ or seen.__context__


# --------------------------------------------------------------------------- market


def test_market_one_request_one_alias_per_combination(client, emu, records):
    market = client.market()
    assert [r.operation for r in records] == ["market"]
    assert emu.state()["requests"]["total"] == 1
    gpu = market.gpu(GPU)
    assert gpu is not None
    assert gpu.display_name == "RTX A4000"
    assert gpu.memory_gb == 16
    assert gpu.secure_price == ON_DEMAND["SECURE"]
    assert gpu.community_spot_price == SPOT_FLOOR["COMMUNITY"]
    secure = gpu.lowest_for(1, True)
    community = gpu.lowest_for(1, False)
    assert secure is not None
    assert community is not None
    assert (secure.minimum_bid_price, secure.uninterruptable_price) == (0.12, 0.25)
    assert (community.minimum_bid_price, community.uninterruptable_price) == (0.09, 0.17)
    assert secure.stock_status == "Medium"  # 8 free GPUs
    assert secure.available_gpu_counts
    assert market.spot_listed
    assert len(market.gpus) > 1


def test_market_both_clouds_and_larger_counts(client):
    market = client.market([(2, None), (4, True), (2, None)])  # duplicate dropped
    gpu = market.gpu(GPU)
    assert gpu is not None
    both = gpu.lowest_for(2, None)
    assert both is not None
    assert both.uninterruptable_price == min(ON_DEMAND.values())
    assert [(lp.gpu_count, lp.secure_cloud) for lp in gpu.lowest] == [(2, None), (4, True)]


def test_market_works_without_a_key_and_reuses_one_document(http, clock, emu):
    anonymous = RunPodClient(http, None, clock=clock)
    for _ in range(3):
        assert anonymous.market().gpu(GPU) is not None
    cache = emu.state()["documentCache"]
    assert cache["parses"] == 1
    assert cache["hits"] == 2


def test_market_after_spot_removal_lists_no_spot(client, emu):
    emu.set_spot_enabled(False)
    market = client.market()
    assert not market.spot_listed
    gpu = market.gpu(GPU)
    assert gpu is not None
    lowest = gpu.lowest_for(1, True)
    assert lowest is not None
    assert not lowest.has_spot
    assert lowest.uninterruptable_price == 0.25


def test_market_rejects_bad_combinations(client):
    with pytest.raises(ValueError, match="at least one"):
        client.market([])
    with pytest.raises(ValueError, match="bad market combination"):
        client.market([(0, True)])


def test_data_centers(client):
    everything = client.data_centers()
    assert everything
    assert all(dc.id for dc in everything)
    secure = client.data_centers(gpu_count=2, secure_cloud=True)
    offering = [dc for dc in secure if any(g.gpu_type_id == GPU and g.available for g in dc.gpus)]
    assert offering


def test_account(client, emu):
    before = client.account()
    assert before.client_balance == 1000.0
    assert before.spend_limit == 80.0
    assert before.current_spend_per_hr == 0.0
    client.deploy(deploy_request(gpu_count=2))
    assert client.account().current_spend_per_hr == pytest.approx(0.5)


# --------------------------------------------------------------------------- pod lifecycle


def test_deploy_on_demand_then_list_and_get(client, emu):
    assert client.list_pods() == ()
    pod = client.deploy(deploy_request(gpu_count=2))
    assert pod.name == "spotsched-job1-1"
    assert pod.desired_status == "RUNNING"
    assert pod.pod_type == "RESERVED"
    assert not pod.is_spot
    assert pod.cost_per_hr == pytest.approx(2 * ON_DEMAND["SECURE"])
    assert pod.gpu_count == 2
    assert pod.gpu_type_id == GPU
    assert pod.data_center_id
    assert pod.machine_id
    assert pod.image_name == "ghcr.io/acme/train:1"
    assert set(pod.env) >= {"SPOTSCHED_JOB_ID=job1", "SPOTSCHED_ATTEMPT=1"}
    assert pod.runtime is None  # the container is still starting
    assert not pod.is_running

    emu.advance(60)
    [listed] = client.list_pods()
    assert listed.id == pod.id
    assert listed.is_running
    assert listed.runtime is not None
    assert len(listed.runtime.gpus) == 2
    fetched = client.get_pod(pod.id)
    assert fetched is not None
    assert fetched.runtime is not None
    assert fetched.runtime.uptime_seconds is not None
    assert fetched.runtime.mean_gpu_util is not None


def test_get_unknown_pod_is_none(client):
    assert client.get_pod("doesnotexist00") is None


def test_deploy_spot_pays_the_bid(client):
    pod = client.deploy(deploy_request(bid_per_gpu=0.15, gpu_count=2))
    assert pod.is_spot
    assert pod.pod_type == "INTERRUPTABLE"
    assert pod.cost_per_hr == pytest.approx(0.30)


def test_deploy_into_a_network_volume(client):
    [dc, *_] = [
        dc
        for dc in client.data_centers(secure_cloud=True)
        if any(g.gpu_type_id == GPU and g.available for g in dc.gpus)
    ]
    volume = client.create_network_volume("data", 50, dc.id.lower())
    pod = client.deploy(deploy_request(network_volume_id=volume.id))
    assert pod.network_volume_id == volume.id
    assert pod.data_center_id == volume.data_center_id == dc.id


def test_stop_and_resume(client, emu):
    pod = client.deploy(deploy_request())
    emu.advance(60)
    assert client.stop_pod(pod.id) is None
    stopped = client.get_pod(pod.id)
    assert stopped is not None
    assert stopped.is_exited
    assert stopped.runtime is None
    resumed = client.resume_pod(pod.id, 1)
    assert resumed.desired_status == "RUNNING"
    assert resumed.cost_per_hr == pytest.approx(ON_DEMAND["SECURE"])


def test_preempted_spot_pod_bid_resumes(client, emu):
    pod = client.deploy(deploy_request(bid_per_gpu=0.13))
    emu.advance(60)
    emu.preempt(pod.id)
    preempted = client.get_pod(pod.id)
    assert preempted is not None
    assert preempted.is_exited
    assert preempted.is_spot
    resumed = client.bid_resume_pod(pod.id, 0.14, 1)
    assert resumed.desired_status == "RUNNING"
    assert resumed.cost_per_hr == pytest.approx(0.14)


def test_terminate_twice_is_true_then_false(client, records):
    pod = client.deploy(deploy_request())
    assert client.terminate_pod(pod.id) is True
    assert client.terminate_pod(pod.id) is False
    assert client.get_pod(pod.id) is None
    assert client.list_pods() == ()
    outcomes = [(r.operation, r.outcome) for r in records if r.operation == "terminate_pod"]
    assert outcomes == [("terminate_pod", "ok"), ("terminate_pod", "not_found")]


# --------------------------------------------------------------------------- templates, volumes


def test_save_template(client):
    template = client.save_template(
        "trainer",
        "ghcr.io/acme/train:1",
        docker_args="python train.py",
        container_disk_gb=20,
        volume_gb=10,
        ports="22/tcp",
        env={"A": "1"},
    )
    assert template.id
    assert template.name == "trainer"
    assert template.image_name == "ghcr.io/acme/train:1"
    with pytest.raises(RejectedError, match="unique") as info:
        client.save_template("trainer", "other:1", env=[("B", "2")])
    assert info.value.operation == "save_template"


def test_network_volumes(client):
    assert client.list_network_volumes() == ()
    volume = client.create_network_volume("models", 100, "eu-ro-1")
    assert volume.name == "models"
    assert volume.size_gb == 100
    assert volume.data_center_id == "EU-RO-1"  # upper-cased before sending
    assert client.list_network_volumes() == (volume,)
    assert client.delete_network_volume(volume.id) is True
    assert client.delete_network_volume(volume.id) is False
    assert client.list_network_volumes() == ()


def test_network_volume_in_unknown_data_center_is_rejected(client):
    with pytest.raises(RejectedError, match="Invalid data center"):
        client.create_network_volume("x", 10, "MOON-1")


# --------------------------------------------------------------------------- error classes


def test_wrong_key_is_authentication_error(http, clock, records):
    wrong = "rpa_WRONG_" + KEY[::-1]
    client = RunPodClient(http, wrong, clock=clock, on_request=records.append)
    with pytest.raises(AuthenticationError, match="HTTP 401") as info:
        client.list_pods()
    assert info.value.operation == "list_pods"
    assert [r.outcome for r in records] == ["authentication"]  # never retried
    for text in (str(info.value), repr(info.value)):
        assert wrong not in text


def test_unauthorized_fault_is_authentication_error_even_on_market(client, emu):
    emu.inject_faults(FaultRule("unauthorized", count=1))
    with pytest.raises(AuthenticationError):
        client.market()


def test_missing_key_fails_before_any_request(http, clock, emu):
    client = RunPodClient(http, None, clock=clock)
    with pytest.raises(AuthenticationError, match="no RunPod API key"):
        client.list_pods()
    assert emu.state()["requests"]["total"] == 0


def test_on_demand_capacity(client, emu):
    for cloud in ("SECURE", "COMMUNITY"):
        emu.set_market(GPU, cloud, stock=0)
    with pytest.raises(CapacityError, match="no longer any instances available") as info:
        client.deploy(deploy_request(cloud_type="ALL"))
    assert info.value.operation == "deploy_on_demand"


def test_spot_bid_under_the_floor_is_capacity(client):
    with pytest.raises(CapacityError, match="no instances available") as info:
        client.deploy(deploy_request(bid_per_gpu=0.05))
    assert info.value.operation == "deploy_spot"


def test_injected_capacity_fault_despite_listed_stock(client, emu):
    emu.inject_faults(FaultRule("capacity", count=1, match="podFindAndDeployOnDemand"))
    with pytest.raises(CapacityError):
        client.deploy(deploy_request())
    assert client.deploy(deploy_request()).desired_status == "RUNNING"


def test_resume_on_a_full_host_is_capacity(client, emu):
    pod = client.deploy(deploy_request())
    client.stop_pod(pod.id)
    emu.set_market(GPU, "SECURE", stock=0)
    with pytest.raises(CapacityError, match="not enough free GPUs on the host"):
        client.resume_pod(pod.id, 1)


def test_bid_resume_on_a_full_host_is_capacity(client, emu):
    pod = client.deploy(deploy_request(bid_per_gpu=0.13))
    emu.preempt(pod.id)
    emu.set_market(GPU, "SECURE", stock=0)
    with pytest.raises(CapacityError, match="not enough free GPUs on the host") as info:
        client.bid_resume_pod(pod.id, 0.2, 1)
    assert info.value.operation == "bid_resume_pod"


@pytest.mark.parametrize("method", ["stop_pod", "resume_pod", "bid_resume_pod"])
def test_unknown_pod_is_not_found(client, method):
    args = {"stop_pod": (), "resume_pod": (1,), "bid_resume_pod": (0.5, 1)}[method]
    with pytest.raises(NotFoundError, match="pod not found") as info:
        getattr(client, method)("doesnotexist00", *args)
    assert info.value.operation == method


def test_spot_unsupported_after_removal(client, emu, records):
    spot_pod = client.deploy(deploy_request(bid_per_gpu=0.13))
    emu.preempt(spot_pod.id)
    emu.set_spot_enabled(False)
    with pytest.raises(SpotUnsupportedError, match="no longer supported") as info:
        client.deploy(deploy_request("spotsched-job1-2", bid_per_gpu=0.5))
    assert info.value.operation == "deploy_spot"
    with pytest.raises(SpotUnsupportedError):
        client.bid_resume_pod(spot_pod.id, 0.5, 1)
    assert records[-1].outcome == "spot_unsupported"
    # on-demand keeps working
    assert not client.deploy(deploy_request("spotsched-job1-3")).is_spot


def test_invalid_input_is_rejected_validation_400(client, records):
    with pytest.raises(RejectedError, match="HTTP 400") as info:
        client.deploy(deploy_request(cloud_type="MOON"))
    assert info.value.operation == "deploy_on_demand"
    assert [r.outcome for r in records] == ["rejected"]


def test_business_refusals_are_rejected(client):
    spot_pod = client.deploy(deploy_request(bid_per_gpu=0.13))
    client.stop_pod(spot_pod.id)
    with pytest.raises(RejectedError, match="Cannot resume a spot pod as an on demand pod"):
        client.resume_pod(spot_pod.id, 1)
    with pytest.raises(RejectedError, match="imageName"):
        client.deploy(deploy_request(image_name=""))


# --------------------------------------------------------------------------- transient + retry


@pytest.mark.parametrize(
    "kind", ["http_500", "http_502", "http_503", "timeout", "internal_error", "rate_limit"]
)
def test_transient_faults_on_reads_are_retried_with_exact_backoff(
    client, emu, clock, records, kind
):
    emu.inject_faults(FaultRule(kind, count=3, match="ListPods", seconds=0))
    assert client.list_pods() == ()
    assert [(r.attempt, r.outcome) for r in records] == [
        (1, "transient"),
        (2, "transient"),
        (3, "transient"),
        (4, "ok"),
    ]
    assert clock.slept == expected_backoff(0, 1, 2)
    assert emu.state()["requests"]["faults"] == {kind: 3}


def test_retries_give_up_after_max_attempts(client, emu, clock, records):
    emu.inject_faults(FaultRule("http_503", match="Account"))
    with pytest.raises(TransientError, match="gave up after 4 attempts") as info:
        client.account()
    assert info.value.operation == "account"
    assert isinstance(info.value.__cause__, TransientError)
    assert "HTTP 503" in str(info.value)
    assert len(records) == 4
    assert clock.slept == expected_backoff(0, 1, 2)
    no_key_anywhere(info.value)


def test_custom_retry_policy(http, clock, emu):
    policy = RetryPolicy(max_attempts=6, base=1.0, cap=3.0)
    client = RunPodClient(http, KEY, clock=clock, rng=random.Random(SEED), retry=policy)
    emu.inject_faults(FaultRule("http_500", count=5))
    client.market()
    assert clock.slept == expected_backoff(0, 1, 2, 3, 4, policy=policy)
    assert max(clock.slept) <= 3.0


def test_retry_after_is_a_lower_bound(client, emu, clock):
    emu.inject_faults(FaultRule("rate_limit", count=2, seconds=5))
    client.get_pod("doesnotexist00")
    assert clock.slept == [5.0, 5.0]  # jitter (at most 0.5 s, then 1 s) is below Retry-After
    assert isinstance(client, RunPodClient)


def test_retry_after_is_capped(client, emu, clock):
    emu.inject_faults(FaultRule("rate_limit", count=1, seconds=3600))
    client.market()
    assert clock.slept == [RetryPolicy().max_retry_after]


def test_exhausted_rate_limit_keeps_retry_after(client, emu):
    emu.inject_faults(FaultRule("rate_limit", seconds=7))
    with pytest.raises(TransientError, match="429") as info:
        client.list_network_volumes()
    assert info.value.retry_after == 7.0


def test_stop_is_retried(client, emu, clock):
    pod = client.deploy(deploy_request())
    emu.inject_faults(FaultRule("http_502", count=1, match="podStop"))
    client.stop_pod(pod.id)
    assert len(clock.slept) == 1
    stopped = client.get_pod(pod.id)
    assert stopped is not None
    assert stopped.is_exited


def test_terminate_that_timed_out_after_executing_is_resolved_by_the_retry(client, emu, records):
    pod = client.deploy(deploy_request())
    emu.inject_faults(FaultRule("timeout_after", count=1, match="podTerminate"))
    # The first attempt terminated the pod but timed out; the retry hears
    # "pod not found to terminate", which means the pod is gone all the same.
    assert client.terminate_pod(pod.id) is False
    assert client.get_pod(pod.id) is None
    terminate = [r.outcome for r in records if r.operation == "terminate_pod"]
    assert terminate == ["transient", "not_found"]


@pytest.mark.parametrize(
    ("method", "match"),
    [
        ("deploy", "podFindAndDeployOnDemand"),
        ("deploy_spot", "podRentInterruptable"),
        ("resume_pod", "podResume"),
        ("bid_resume_pod", "podBidResume"),
        ("save_template", "saveTemplate"),
        ("create_network_volume", "createNetworkVolume"),
    ],
)
def test_creates_are_never_retried(client, emu, clock, records, method, match):
    pod = None
    if method in ("resume_pod", "bid_resume_pod"):
        pod = client.deploy(
            deploy_request(bid_per_gpu=0.13 if method == "bid_resume_pod" else None)
        )
        client.stop_pod(pod.id)
    records.clear()
    emu.inject_faults(FaultRule("http_503", count=1, match=match))
    calls = {
        "deploy": lambda: client.deploy(deploy_request("spotsched-job9-1")),
        "deploy_spot": lambda: client.deploy(deploy_request("spotsched-job9-1", bid_per_gpu=0.2)),
        "resume_pod": lambda: client.resume_pod(pod.id, 1),
        "bid_resume_pod": lambda: client.bid_resume_pod(pod.id, 0.2, 1),
        "save_template": lambda: client.save_template("t", "img:1"),
        "create_network_volume": lambda: client.create_network_volume("v", 10, "EU-RO-1"),
    }
    with pytest.raises(TransientError, match="not retried because it may have succeeded"):
        calls[method]()
    assert len(records) == 1
    assert clock.slept == []


def test_create_that_timed_out_after_executing_is_found_by_name(client, emu, records):
    emu.inject_faults(FaultRule("timeout_after", count=1, match="podFindAndDeployOnDemand"))
    with pytest.raises(TransientError, match="did not answer in time") as info:
        client.deploy(deploy_request("spotsched-job7-1"))
    assert "not retried" in str(info.value)
    assert [r.outcome for r in records] == ["transient"]
    # The emulator did create it; the caller resolves the uncertainty by the pod's name.
    created = [p for p in emu.state()["pods"] if p["name"] == "spotsched-job7-1"]
    assert len(created) == 1
    [found] = [p for p in client.list_pods() if p.name == "spotsched-job7-1"]
    assert found.id == created[0]["id"]


# --------------------------------------------------------------------------- secrets, hook


def test_the_key_never_appears_in_errors_or_repr(http, clock, emu):
    client = RunPodClient(http, KEY, clock=clock, rng=random.Random(SEED))
    assert KEY not in repr(client)
    assert KEY not in str(client)
    assert repr(client) == "RunPodClient(url='/graphql', api_key='***')"
    assert KEY not in repr(vars(client))

    caught: list[RunPodError] = []

    def attempt(call) -> None:
        try:
            call()
        except RunPodError as exc:
            caught.append(exc)

    for kind in ("http_503", "timeout", "rate_limit", "internal_error", "unauthorized"):
        emu.inject_faults(FaultRule(kind))
        attempt(client.list_pods)
        attempt(lambda: client.deploy(deploy_request()))
        emu.clear_faults()
    attempt(lambda: client.stop_pod("doesnotexist00"))
    attempt(lambda: client.deploy(deploy_request(bid_per_gpu=0.01)))
    attempt(lambda: client.deploy(deploy_request(cloud_type="MOON")))
    emu.set_spot_enabled(False)
    attempt(lambda: client.deploy(deploy_request(bid_per_gpu=0.5)))
    assert {type(e).__name__ for e in caught} == {
        "TransientError",
        "AuthenticationError",
        "NotFoundError",
        "CapacityError",
        "RejectedError",
        "SpotUnsupportedError",
    }
    for exc in caught:
        no_key_anywhere(exc)


def test_hook_receives_one_record_per_http_request(client, emu, records):
    emu.inject_faults(FaultRule("http_500", count=1, match="Market"))
    client.market()
    pod = client.deploy(deploy_request())
    client.get_pod(pod.id)
    assert [(r.operation, r.outcome, r.attempt) for r in records] == [
        ("market", "transient", 1),
        ("market", "ok", 2),
        ("deploy_on_demand", "ok", 1),
        ("get_pod", "ok", 1),
    ]
    assert all(r.seconds >= 0 for r in records)
    assert emu.state()["requests"]["total"] == len(records)
