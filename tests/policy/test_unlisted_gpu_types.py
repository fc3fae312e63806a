"""A job naming a GPU type the market does not list waits with a reason naming that type (a
typo in a raw SQL row, or a type RunPod dropped); it is not invalid, since RunPod may list it
later, and the types the market does list are still used."""

from __future__ import annotations

from .factories import A40, holds, job, launches, market, quote, run, snapshot


def test_a_job_whose_gpu_type_is_not_listed_waits_naming_it() -> None:
    typo = job(1, gpu_types=["NVIDIA A4O"])
    assert holds(run(snapshot(typo))) == {
        1: "no spot offer under max_spot_price; not listed by RunPod: 'NVIDIA A4O'"
    }


def test_the_count_is_named_when_the_type_is_listed_at_other_counts() -> None:
    big = job(1, gpu_count=4)
    assert holds(run(snapshot(big)))[1].endswith("; not listed by RunPod at 4 GPUs: 'NVIDIA A40'")


def test_listed_types_still_launch_and_a_priced_out_job_names_only_unlisted_ones() -> None:
    mixed = job(1, gpu_types=["NVIDIA A4O", A40])
    assert [launch.gpu_type_id for launch in launches(run(snapshot(mixed)))] == [A40]
    dear = market(quote(spot=0.9, secure=True), quote(spot=0.9, secure=False))
    assert holds(run(snapshot(job(1, gpu_types=[A40]), market=dear))) == {
        1: "no spot offer under max_spot_price"
    }
