"""`spotsched submit | jobs | job` facing hostile input (issue 8, sections 1 and 4): one live job
per name, flags beside a file, GPU types RunPod does not sell, env values that are secrets,
and rows any program wrote (names that look like markup, terminal escapes, blobs)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.conftest import spotsched

SECRET = "hunter2-very-secret"


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'spotsched.db'}"
    assert spotsched("jobs", "--db", url).exit_code == 0  # creates and migrates it
    return url


def _submit(db: str, name: str, *extra: str) -> Any:
    job = ["--name", name, "--image", "img", "--gpu", "NVIDIA A40", "--max-spot-price", "0.3"]
    return spotsched("submit", "--db", db, *job, *extra)


def _jobs(db: str) -> list[dict[str, Any]]:
    result = spotsched("jobs", "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    return list(json.loads(result.stdout))


def _raw_insert(db: str, **values: Any) -> None:
    columns, marks = ", ".join(values), ", ".join("?" for _ in values)
    with closing(sqlite3.connect(db.removeprefix("sqlite:///"))) as conn, conn:
        conn.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", tuple(values.values()))


def test_a_live_name_is_refused_unless_replace(db: str) -> None:
    assert _submit(db, "nightly").exit_code == 0

    again = _submit(db, "nightly")
    assert again.exit_code == 2
    assert "job 1 named 'nightly' is still queued" in again.stderr
    assert "--replace" in again.stderr
    assert [j["id"] for j in _jobs(db)] == [1]

    replaced = _submit(db, "nightly", "--replace")
    assert replaced.exit_code == 0, replaced.stderr
    assert "job 2 nightly: created (job 1: cancel requested)" in replaced.stdout
    jobs = {j["id"]: j for j in _jobs(db)}
    assert jobs[1]["cancel_requested"] and not jobs[2]["cancel_requested"]


def test_flags_beside_a_file_are_an_error(db: str, tmp_path: Path) -> None:
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(
        '[[job]]\nname = "a"\nimage = "img"\ngpu_types = ["NVIDIA A40"]\nmax_spot_price = 0.3\n'
    )
    result = spotsched(
        "submit", str(jobs_file), "--db", db, "--name", "b", "--max-spot-price", "0.5"
    )
    assert result.exit_code == 2
    assert "--name, --max-spot-price cannot be given beside a jobs file" in result.stderr
    assert _jobs(db) == []
    assert spotsched("submit", str(jobs_file), "--db", db).exit_code == 0


def test_unknown_gpu_types_are_refused_with_did_you_mean(db: str, tmp_path: Path) -> None:
    flags = spotsched(
        "submit", "--db", db, "--name", "x", "--image", "img", "--gpu", "RTX 4900",
        "--max-spot-price", "0.3",
    )  # fmt: skip
    assert flags.exit_code == 2
    assert "gpu_types: unknown GPU type 'RTX 4900'; did you mean 'NVIDIA GeForce RTX 4090'" in (
        flags.stderr
    )

    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(
        '[[job]]\nname = "t"\nimage = "img"\ngpu_types = ["NVIDIA A4O"]\nmax_spot_price = 0.3\n'
    )
    from_file = spotsched("submit", str(jobs_file), "--db", db)
    assert from_file.exit_code == 2
    assert "job[1] (t).gpu_types: unknown GPU type 'NVIDIA A4O'; did you mean 'NVIDIA A40'" in (
        from_file.stderr
    )
    assert _jobs(db) == []

    display = spotsched(
        "submit", "--db", db, "--name", "d", "--image", "img", "--gpu", "rtx 4090",
        "--gpu", "A40:0.8", "--max-spot-price", "0.3",
    )  # fmt: skip
    assert display.exit_code == 0, display.stderr
    detail = json.loads(spotsched("job", "1", "--db", db, "--json").stdout)
    assert detail["spec"]["gpu_types"] == [
        {"id": "NVIDIA GeForce RTX 4090", "speed": 1.0},
        {"id": "NVIDIA A40", "speed": 0.8},
    ]


def test_env_values_are_kept_whole_masked_when_shown_and_never_echoed(
    db: str, tmp_path: Path
) -> None:
    result = _submit(
        db,
        "env",
        "--env", f"HF_TOKEN={SECRET}",
        "--env", f"NCCL_IB_HCA=mlx5_0,{SECRET}",
        "--env", "REF={{ RUNPOD_SECRET_hf_token }}",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    shown = spotsched("job", "1", "--db", db, "--json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["spec"]["env"] == {
        "HF_TOKEN": "********",
        "NCCL_IB_HCA": "********",
        "REF": "{{ RUNPOD_SECRET_hf_token }}",
    }
    text = spotsched("job", "1", "--db", db)
    assert SECRET not in shown.stdout + text.stdout + text.stderr
    with closing(sqlite3.connect(db.removeprefix("sqlite:///"))) as conn:
        (stored,) = conn.execute("SELECT env FROM jobs WHERE id = 1").fetchone()
    assert json.loads(stored)["NCCL_IB_HCA"] == f"mlx5_0,{SECRET}", "stored whole, as JSON"

    bad_flag = _submit(db, "bad-flag", "--env", f"={SECRET}")
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(
        '[[job]]\nname = "f"\nimage = "img"\ngpu_types = ["NVIDIA A40"]\nmax_spot_price = 0.3\n'
        f'env = {{ A = ["{SECRET}"], B = 3 }}\n'
    )
    bad_file = spotsched("submit", str(jobs_file), "--db", db)
    for bad in (bad_flag, bad_file):
        assert bad.exit_code == 2
        assert "env: " in bad.stderr
        assert SECRET not in bad.stdout + bad.stderr


def test_job_files_name_wrong_types_and_refuse_nan_and_inf(db: str, tmp_path: Path) -> None:
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(
        "[[job]]\n"
        'name = "t"\nimage = "img"\ngpu_types = ["NVIDIA A40"]\n'
        "max_spot_price = nan\n"
        "max_cost = inf\n"
        "fallback_after = [1]\n"
        "deadline = 2026-12-01\n"
        "gpu_count = true\n"
        "idle_timeout = 1979-05-27T07:32:00Z\n"
        "checkpoint = 3\n"
    )
    result = spotsched("submit", str(jobs_file), "--db", db)
    assert result.exit_code == 2
    for line in (
        "job[1] (t).max_spot_price: Input should be a finite number",
        "job[1] (t).max_cost: Input should be a finite number",
        "job[1] (t).fallback_after: give a duration such as '90s', '1h30m' or seconds (got a list)",
        "job[1] (t).deadline: give an ISO 8601 date and time such as 2026-12-01T08:00:00Z "
        "(got a date)",
        "job[1] (t).gpu_count: give a number (got true/false)",
        "job[1] (t).idle_timeout: give a duration such as '90s', '1h30m' or seconds "
        "(got a date-time)",
        "job[1] (t).checkpoint: give true or false (got a number)",
    ):
        assert line in result.stderr
    assert _jobs(db) == []


def test_listings_survive_any_row_and_escape_what_they_print(db: str) -> None:
    base = {"image": "img", "gpu_types": "NVIDIA A40", "max_spot_price": 0.3}
    _raw_insert(db, **{**base, "name": "[/bold]"})
    _raw_insert(db, **{**base, "name": "\x1b[2J\x1b[31mred", "state_reason": "\x1b]0;owned\x07"})
    _raw_insert(db, **{**base, "name": b"\xff\x00blob", "max_spot_price": "cheap"})
    _raw_insert(db, **{**base, "name": "nan-spend", "spend": b"\x00", "priority": "high"})
    assert _submit(db, "good").exit_code == 0

    table = spotsched("jobs", "--db", db)
    assert table.exit_code == 0, table.stderr
    assert "[/bold]" in table.stdout
    assert "\x1b" not in table.stdout and "\\x1b[31mred" in table.stdout
    assert "\\xff\\x00blob" in table.stdout and "cheap" in table.stdout
    listed = _jobs(db)
    assert len(listed) == 5
    for job in listed:
        for args in (("job", str(job["id"])), ("job", str(job["id"]), "--json")):
            result = spotsched(*args, "--db", db)
            assert result.exit_code == 0, result.stderr
            assert "\x1b" not in result.stdout


CELLS = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=16),
    st.binary(max_size=8),
    st.sampled_from(["[/bold]", "[red]x[/red]", "\x1b[2J", "\x1b]8;;http://x\x07link", "\r\x08"]),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    values=st.dictionaries(
        st.sampled_from(
            ["name", "state_reason", "gpu_types", "max_spot_price", "priority", "spend", "source"]
        ),
        CELLS,
        min_size=1,
    )
)
def test_any_row_lists_without_a_crash_or_a_terminal_escape(
    db: str, values: dict[str, Any]
) -> None:
    row = {"name": "x", "image": "img", "gpu_types": "NVIDIA A40", "max_spot_price": 0.3}
    try:
        _raw_insert(db, **{**row, **values, "state": "invalid"})
    except sqlite3.IntegrityError:
        return  # NOT NULL: the database refused it
    for args in (("jobs",), ("jobs", "--json"), ("job", "1"), ("job", "1", "--json")):
        result = spotsched(*args, "--db", db)
        assert result.exit_code == 0, result.stderr
        assert not set(result.stdout) & {"\x1b", "\x07", "\x08", "\r"}
        if "--json" in args:
            json.loads(result.stdout)
    with closing(sqlite3.connect(db.removeprefix("sqlite:///"))) as conn, conn:
        conn.execute("DELETE FROM jobs")
