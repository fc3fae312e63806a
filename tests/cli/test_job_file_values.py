"""Jobs TOML files with any value in any field (Hypothesis): the reader returns jobs or raises
`JobsFileError`; every problem names `job[N].field` (or the file), and an env value is never
shown in an error. The same property holds for `parse_job` itself, which raw rows go through."""

from __future__ import annotations

import json
import math
import re
import tempfile
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.daemon.jobs_file import JobsFileError, load_jobs_file
from scheduler.domain.job import JobInputError, parse_job
from scheduler.store.jobs import SPEC_COLUMNS

MARK = "SeCrEtVaLuE"
BASE = {"name": "t", "image": "img", "gpu_types": ["NVIDIA A40"], "max_spot_price": 0.3}

SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1h", "90s", "-1m", "A40", "nan", "1e400", "2026-01-01T00:00:00Z", "stop"]),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    st.dates(),
    st.times(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["id", "speed", "A", "B_2", "x y"]), inner, max_size=3),
    ),
    max_leaves=6,
)
ENV = st.dictionaries(
    st.sampled_from(["A", "HF_TOKEN", "SPOTSCHED_X", "1BAD", "ok_name"]),
    st.one_of(st.text(max_size=8).map(lambda t: f"{MARK}{t}"), VALUES),
    max_size=3,
)
JOBS = st.dictionaries(st.sampled_from(SPEC_COLUMNS), VALUES, max_size=5).flatmap(
    lambda fields: ENV.map(lambda env: {**BASE, **fields, "env": env})
)


def toml_value(value: Any) -> str:
    """TOML for a value as `tomllib` would read it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (the DEL character makes it invalid)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _read(path: Path) -> tuple[list[Any], JobsFileError | None]:
    try:
        return list(load_jobs_file(path)), None
    except JobsFileError as exc:
        return [], exc


FIELD = re.compile(r"^job\[1\](?: \(.*\))?\.(\w+)$")


@settings(max_examples=300, deadline=None)
@given(job=JOBS)
def test_any_job_file_is_read_or_refused_naming_the_field(job: dict[str, Any]) -> None:
    body = "[[job]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in job.items())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "jobs.toml"
        path.write_text(body, encoding="utf-8")
        specs, error = _read(path)
    if error is not None:
        assert error.problems
        for field, message in error.problems:
            match = FIELD.match(field)
            assert field == "file" or (match and match.group(1) in SPEC_COLUMNS), field
            assert MARK not in message and MARK not in field
        return
    [spec] = specs
    assert spec.name == "t"
    assert all(math.isfinite(x) for x in (spec.max_spot_price, spec.max_cost or 0.0))
    assert spec.deadline is None or spec.deadline.utcoffset() == timedelta(0)


@settings(max_examples=300, deadline=None)
@given(job=JOBS, tz=st.sampled_from([UTC, timezone(timedelta(hours=-14))]))
def test_parse_job_refuses_with_named_fields_and_never_shows_an_env_value(
    job: dict[str, Any], tz: timezone
) -> None:
    if isinstance(job.get("deadline"), datetime):
        job["deadline"] = job["deadline"].replace(tzinfo=tz)
    try:
        spec = parse_job(job, known_gpu_types_only=True)
    except JobInputError as exc:
        error = exc
    else:
        assert dict(spec.env).keys() <= set(job["env"])
        return
    for field, message in error.problems:
        assert field in SPEC_COLUMNS or field == "job", field
        assert MARK not in message
    assert MARK not in str(error)


def test_a_job_spec_never_shows_its_env_values_in_its_repr() -> None:
    """A spec in a log line or a traceback must not carry a token with it."""
    spec = parse_job({**BASE, "env": {"HF_TOKEN": MARK}})
    assert dict(spec.env) == {"HF_TOKEN": MARK}
    assert MARK not in repr(spec) and MARK not in str(spec)
