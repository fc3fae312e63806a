"""Which offer a queued job launches on: ranking, clouds, spot limits and bids, on-demand limits.

DESIGN.md, Policy: rank by price per unit of work (price ÷ relative speed); spot when the floor
is under `max_spot_price`; bid `min(max_spot_price, minimumBidPrice x (1 + bid_margin))`;
on-demand only for jobs with a `max_on_demand_price`, at a list price under it.
"""

from __future__ import annotations

import pytest

from scheduler.domain.states import AttemptKind, JobState
from scheduler.domain.views import Quote
from scheduler.policy.offers import on_demand_offers, spot_bid, spot_offers

from .factories import (
    A40,
    A5000,
    H100,
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

NO_SPOT = "no spot offer under max_spot_price"


@pytest.mark.parametrize(
    ("h100_speed", "expected"),
    [
        (3.0, H100),  # $0.60 / 3 = $0.20 per unit of work, under the A40's $0.30
        (1.5, A40),  # $0.60 / 1.5 = $0.40, over the A40's $0.30
    ],
)
def test_spot_goes_to_the_lowest_price_per_unit_of_work(h100_speed: float, expected: str) -> None:
    gpus = [{"id": A40, "speed": 1.0}, {"id": H100, "speed": h100_speed}]
    m = market(quote(A40, spot=0.3), quote(H100, spot=0.6))
    j = job(gpu_types=gpus, max_spot_price=1.0, cloud_type="SECURE")
    launch = only_launch(run(snapshot(j, market=m), config(bid_margin=0.0)))
    assert (launch.kind, launch.gpu_type_id) == (AttemptKind.SPOT, expected)


def test_on_demand_also_goes_to_the_lowest_price_per_unit_of_work() -> None:
    gpus = [{"id": A40, "speed": 1.0}, {"id": H100, "speed": 4.0}]
    m = market(quote(A40, on_demand=0.5), quote(H100, on_demand=1.6), spot_capable=False)
    j = job(gpu_types=gpus, max_on_demand_price=2.0, cloud_type="SECURE")
    launch = only_launch(run(snapshot(j, market=m)))
    assert (launch.kind, launch.gpu_type_id) == (AttemptKind.ON_DEMAND, H100)
    assert launch.on_demand_price_per_gpu == 1.6


def test_equal_price_per_work_goes_to_the_type_listed_first() -> None:
    m = market(quote(A40, spot=0.2), quote(A5000, spot=0.2))
    j = job(gpu_types=[A5000, A40], cloud_type="SECURE")
    assert only_launch(run(snapshot(j, market=m))).gpu_type_id == A5000


@pytest.mark.parametrize(
    ("cloud_type", "secure"),
    [("SECURE", True), ("COMMUNITY", False), ("ALL", False)],
)
def test_cloud_type_limits_the_clouds_considered(cloud_type: str, secure: bool) -> None:
    m = market(quote(spot=0.3, secure=True), quote(spot=0.2, secure=False))
    launch = only_launch(run(snapshot(job(cloud_type=cloud_type), market=m)))
    assert launch.secure_cloud is secure
    assert launch.bid_per_gpu == (0.315 if secure else 0.21)


@pytest.mark.parametrize(("cloud_type", "quoted"), [("SECURE", False), ("COMMUNITY", True)])
def test_a_job_is_held_when_only_the_other_cloud_has_its_gpu(cloud_type: str, quoted: bool) -> None:
    m = market(quote(spot=0.1, secure=quoted))
    actions = run(snapshot(job(cloud_type=cloud_type), market=m))
    assert launches(actions) == []
    assert holds(actions) == {1: NO_SPOT}


def test_the_quote_for_the_jobs_gpu_count_is_used() -> None:
    m = market(quote(spot=0.1, count=1), quote(spot=0.3, count=2))
    launch = only_launch(run(snapshot(job(gpu_count=2, cloud_type="SECURE"), market=m)))
    assert (launch.gpu_count, launch.bid_per_gpu) == (2, 0.315)
    assert launch.cost_per_hr == pytest.approx(0.63)


def test_spot_at_exactly_the_limit_is_taken_and_bid_at_the_limit() -> None:
    m = market(quote(spot=0.5, secure=True))
    launch = only_launch(run(snapshot(job(max_spot_price=0.5), market=m)))
    assert (launch.kind, launch.bid_per_gpu) == (AttemptKind.SPOT, 0.5)


def test_spot_over_the_limit_is_not_taken() -> None:
    m = market(quote(spot=0.501, secure=True), quote(spot=0.6, secure=False))
    actions = run(snapshot(job(max_spot_price=0.5), market=m))
    assert launches(actions) == []
    assert holds(actions) == {1: NO_SPOT}


@pytest.mark.parametrize(
    "q",
    [
        quote(spot=None),  # no spot price listed
        quote(spot=0.0),  # RunPod's "no bid possible"
        quote(spot=0.2, stock=None),  # no stock listed
    ],
    ids=["no-price", "zero-price", "no-stock"],
)
def test_spot_needs_a_positive_floor_and_listed_stock(q: Quote) -> None:
    actions = run(snapshot(job(), market=market(q)))
    assert holds(actions) == {1: NO_SPOT}


def test_no_spot_when_spot_is_not_a_capability_even_with_a_price() -> None:
    actions = run(snapshot(job(), market=market(quote(spot=0.1), spot_capable=False)))
    assert launches(actions) == []
    assert holds(actions) == {1: NO_SPOT}


@pytest.mark.parametrize(
    ("floor", "limit", "margin", "bid"),
    [
        (0.2, 0.5, 0.05, 0.21),  # floor plus the margin
        (0.2, 0.205, 0.05, 0.205),  # capped by the job's limit
        (0.123, 1.0, 0.05, 0.129),  # 0.12915 rounded to a tenth of a cent
        (0.2, 0.5, 0.0, 0.2),  # no margin: bid the floor
        (0.3, 0.3, 0.25, 0.3),  # floor at the limit
    ],
)
def test_spot_bid_is_the_floor_plus_margin_capped_by_the_limit(
    floor: float, limit: float, margin: float, bid: float
) -> None:
    m = market(quote(spot=floor, secure=True))
    j = job(max_spot_price=limit, cloud_type="SECURE")
    launch = only_launch(run(snapshot(j, market=m), config(bid_margin=margin)))
    assert launch.bid_per_gpu == bid
    assert launch.cost_per_hr == bid


@pytest.mark.parametrize(
    ("floor", "limit", "margin"),
    [
        (0.12, 0.1236, 0.05),  # min(0.1236, 0.126) = 0.1236 -> bid 0.124 > limit
        (0.1234, 0.1234, 0.05),  # floor == limit -> bid 0.123 < floor -> no offer at all
        (0.1234, 1.0, 0.0),  # no margin -> bid 0.123 < floor -> no offer at all
    ],
)
def test_spot_bid_stays_between_floor_and_limit_off_the_price_grid(
    floor: float, limit: float, margin: float
) -> None:
    m = market(quote(spot=floor, secure=True))
    j = job(max_spot_price=limit, cloud_type="SECURE")
    launch = only_launch(run(snapshot(j, market=m), config(bid_margin=margin)))
    assert launch.bid_per_gpu is not None
    assert floor <= launch.bid_per_gpu <= limit


def test_spot_bid_helper_rounds_to_a_tenth_of_a_cent() -> None:
    assert spot_bid(0.1111, 1.0, 0.05) == 0.117
    assert spot_bid(0.2, 0.205, 0.05) == 0.205


def test_a_job_without_an_on_demand_limit_never_gets_on_demand() -> None:
    m = market(quote(spot=0.9, on_demand=0.01))
    actions = run(snapshot(job(max_spot_price=0.5), market=m))
    assert launches(actions) == []
    assert holds(actions) == {1: NO_SPOT}
    assert on_demand_offers(job().spec, m) == []


@pytest.mark.parametrize(("price", "launched"), [(0.8, True), (0.801, False)])
def test_on_demand_only_at_or_under_the_on_demand_limit(price: float, launched: bool) -> None:
    m = market(quote(spot=None, on_demand=price, secure=True), spot_capable=False)
    actions = run(snapshot(job(max_on_demand_price=0.8), market=m))
    if launched:
        launch = only_launch(actions)
        assert (launch.kind, launch.on_demand_price_per_gpu) == (AttemptKind.ON_DEMAND, price)
        assert launch.bid_per_gpu is None and launch.from_state is JobState.QUEUED
    else:
        assert launches(actions) == []
        assert holds(actions) == {
            1: "spot_unavailable: no on-demand offer under max_on_demand_price"
        }


@pytest.mark.parametrize("q", [quote(on_demand=None), quote(on_demand=0.0), quote(stock=None)])
def test_on_demand_needs_a_positive_price_and_listed_stock(q: Quote) -> None:
    spec = job(max_on_demand_price=5.0).spec
    assert on_demand_offers(spec, market(q)) == []


def test_offers_list_every_acceptable_type_and_cloud_best_first() -> None:
    m = market(
        quote(A40, spot=0.3, secure=True),
        quote(A40, spot=0.25, secure=False),
        quote(A5000, spot=0.2, secure=True),
        quote(H100, spot=0.1, secure=True),  # not acceptable for this job
    )
    spec = job(gpu_types=[A40, A5000]).spec
    ranked = [(o.gpu_type_id, o.secure_cloud) for o in spot_offers(spec, m, 0.0)]
    assert ranked == [(A5000, True), (A40, False), (A40, True)]
