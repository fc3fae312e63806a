"""Migration 0002 on a database that already holds jobs: the daemon's `K=V` env text becomes a
JSON object (values with commas survive), rows not yet checked keep their text, and jobs that
shared a live name are told apart before the one-live-job-per-name index is built."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from scheduler.store import Store, open_engine
from scheduler.store.migrate import MIGRATIONS, upgrade

BASE = {"image": "img", "gpu_types": "NVIDIA A40", "max_spot_price": 0.3}


def _to_0001(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")


def _insert(engine: Engine, **values: Any) -> int:
    columns, marks = ", ".join(values), ", ".join(f":{k}" for k in values)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO jobs ({columns}) VALUES ({marks})"), values)
        return int(conn.execute(text("SELECT max(id) FROM jobs")).scalar_one())


@pytest.fixture
def old_database(backend: str, make_database: Any) -> Any:
    engine = open_engine(make_database(backend, migrated=False))
    _to_0001(engine)
    yield engine
    engine.dispose()


def test_0002_converts_env_text_and_separates_live_names(old_database: Engine) -> None:
    engine = old_database
    stamp = datetime(2026, 1, 5, tzinfo=UTC)
    written = _insert(
        engine,
        name="nccl",
        validated=True,
        submitted_at=stamp,
        env="NCCL_IB_HCA=mlx5_0,mlx5_1\nPROMPT=two\nlines\nEMPTY=",
        **BASE,
    )
    raw = _insert(engine, name="raw", env="A=1,B=2", **BASE)
    first = _insert(engine, name="twin", validated=True, submitted_at=stamp, **BASE)
    second = _insert(engine, name="twin", validated=True, submitted_at=stamp, **BASE)
    done = _insert(engine, name="twin", state="succeeded", validated=True, **BASE)

    upgrade(engine)

    with engine.connect() as conn:
        envs = dict(conn.execute(text("SELECT id, env FROM jobs")).all())
        names = dict(conn.execute(text("SELECT id, name FROM jobs")).all())
    assert json.loads(envs[written]) == {
        "NCCL_IB_HCA": "mlx5_0,mlx5_1",
        "PROMPT": "two\nlines",
        "EMPTY": "",
    }
    assert envs[raw] == "A=1,B=2", "an unchecked row keeps the text form the daemon reads"
    assert (names[first], names[done]) == ("twin", "twin")
    assert names[second] == f"twin-dup{second}"

    store = Store(engine)
    views = {v.spec.name: v for v in store.load(stamp)[0]}
    assert dict(views["nccl"].spec.env)["NCCL_IB_HCA"] == "mlx5_0,mlx5_1"
    assert any(e["kind"] == "renamed" for e in store.job_detail(second)["events"])
    with pytest.raises(IntegrityError):
        _insert(engine, name="twin", **BASE)
