"""Starting the daemon on a machine or a configuration that cannot work: each problem is one
line on stderr and a documented exit status (2: the configuration is invalid, 1: the machine
refuses), never a traceback, and `check-config` finds every one of them before a start (exit
2), a missing API key included. Unknown `SPOTSCHED_*` variables are warned about by name."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from scheduler.daemon.config import ConfigError, Settings, load_settings
from scheduler.daemon.preflight import OTHER_ENV, OTHER_ENV_PREFIXES, environment_warnings
from scheduler.metrics import MetricsServer, make_app
from tests.cli.conftest import KEY, free_port, spotsched, write_config

Setup = Callable[[Path], dict[str, object]]


def _root_without_capabilities() -> list[str]:
    """Root writes through any mode bits; without its capabilities it is held to them."""
    return ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []


def _run(config: Path, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SPOTSCHED_")}
    command = [sys.executable, "-m", "scheduler", "run", "--config", str(config)]
    return subprocess.run(
        [*_root_without_capabilities(), *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean | {"RUNPOD_API_KEY": KEY} | (env or {}),
    )


def _config(tmp_path: Path, **sections: dict[str, object]) -> Path:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    base: dict[str, dict[str, object]] = {
        "runpod": {"api_url": f"http://127.0.0.1:{free_port()}/graphql"},
        "metrics": {"port": free_port()},
        "log": {"format": "json"},
    }
    for name, values in sections.items():
        base[name] = base.get(name, {}) | values
    return write_config(tmp_path / "spotsched.toml", {"state_dir": str(state)}, **base)


def _missing_folder(tmp_path: Path) -> dict[str, object]:
    return {"database": {"url": f"sqlite:///{tmp_path / 'nope' / 'spotsched.db'}"}}


def _read_only_folder(tmp_path: Path) -> dict[str, object]:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return {"database": {"url": f"sqlite:///{folder / 'spotsched.db'}"}}


def _read_only_file(tmp_path: Path) -> dict[str, object]:
    db = tmp_path / "ro.db"
    db.write_bytes(b"")
    db.chmod(0o444)
    return {"database": {"url": f"sqlite:///{db}"}}


def _uncreatable_state_dir(tmp_path: Path) -> dict[str, object]:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    return {"state_dir": str(parent / "state")}


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


CASES: dict[str, tuple[Setup, int, str]] = {
    "missing database folder": (_missing_folder, 1, "database folder {tmp}/nope does not exist"),
    "database folder not writable": (_read_only_folder, 1, "database folder {tmp}/locked is not"),
    "read-only database file": (_read_only_file, 1, "database {tmp}/ro.db is read-only"),
    "state_dir cannot be created": (_uncreatable_state_dir, 1, "state_dir {tmp}/locked/state"),
    "bad database URL": (
        lambda _: {"database": {"url": "not a url"}},
        2,
        "database URL is not valid (e.g. sqlite:////",
    ),
    "unknown dialect": (
        lambda _: {"database": {"url": "mysql://spotsched:pw@db.example/spotsched"}},
        2,
        "database dialect 'mysql' is not supported: use sqlite or postgresql",
    ),
    "driver not installed": (
        lambda _: {"database": {"url": "postgresql+psycopg2://u@db.example/spotsched"}},
        2,
        "the PostgreSQL driver is not installed",
    ),
    "metrics port out of range": (
        lambda _: {"metrics": {"port": 70000}},
        2,
        "invalid configuration:",
    ),
}


def _apply(tmp_path: Path, setup: Setup) -> Path:
    values = setup(tmp_path)
    top = {k: v for k, v in values.items() if not isinstance(v, dict)}
    config = _config(tmp_path, **{k: v for k, v in values.items() if isinstance(v, dict)})
    if top:  # a top-level setting (state_dir) replaces the default one
        text = config.read_text().splitlines()
        text = [f'{k} = "{v}"' for k, v in top.items()] + text[1:]
        config.write_text("\n".join(text) + "\n")
    return config


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    return errors[0]


@pytest.mark.parametrize("case", list(CASES))
def test_run_refuses_with_one_line_and_an_exit_status(tmp_path: Path, case: str) -> None:
    setup, code, message = CASES[case]
    config = _apply(tmp_path, setup)
    result = _run(config)
    assert result.returncode == code, result.stderr
    line = _one_error_line(result.stderr)
    assert message.format(tmp=tmp_path) in line
    assert "pw@" not in result.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_check_config_finds_the_same_problem(tmp_path: Path, case: str) -> None:
    setup, _code, message = CASES[case]
    config = _apply(tmp_path, setup)
    drop = _root_without_capabilities()
    result = subprocess.run(
        [*drop, sys.executable, "-m", "scheduler", "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("SPOTSCHED_")}
        | {"RUNPOD_API_KEY": KEY},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert message.format(tmp=tmp_path) in result.stderr
    assert "Traceback" not in result.stderr and "config ok" not in result.stdout


def test_a_metrics_port_in_use_is_one_line(tmp_path: Path, busy_port: int) -> None:
    config = _config(tmp_path, metrics={"port": busy_port})
    result = _run(config)
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert f"cannot serve metrics on 127.0.0.1:{busy_port}: the port is in use" in line
    check = spotsched("check-config", "--config", str(config), env={"RUNPOD_API_KEY": KEY})
    assert check.exit_code == 2
    assert f"cannot serve metrics on 127.0.0.1:{busy_port}: the port is in use" in check.stderr


def test_check_config_tells_a_running_daemons_port_from_a_stranger(tmp_path: Path) -> None:
    server = MetricsServer(make_app(CollectorRegistry(), lambda: None), "127.0.0.1", 0)
    port = int(server.start().rsplit(":", 1)[1])
    try:
        config = _config(tmp_path, metrics={"port": port})
        check = spotsched("check-config", "--config", str(config), env={"RUNPOD_API_KEY": KEY})
    finally:
        server.stop()
    assert check.exit_code == 0, check.stderr
    assert "in use by a running spotsched" in check.stderr and "config ok" in check.stdout


def test_postgres_that_cannot_be_reached_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql://spotsched:hunter2@127.0.0.1:{free_port()}/spotsched"
    config = _config(tmp_path, database={"url": url})
    result = _run(config)
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "database postgresql://spotsched:***@127.0.0.1:" in line
    assert "Connection refused" in line and "hunter2" not in result.stderr
    check = spotsched("check-config", "--config", str(config), env={"RUNPOD_API_KEY": KEY})
    assert check.exit_code == 2 and "Connection refused" in check.stderr
    assert "hunter2" not in check.output


def test_check_config_requires_an_api_key(tmp_path: Path) -> None:
    config = _config(tmp_path)
    result = spotsched("check-config", "--config", str(config))
    assert result.exit_code == 2
    assert "no RunPod API key: set RUNPOD_API_KEY" in result.stderr
    ok = spotsched("check-config", "--config", str(config), env={"RUNPOD_API_KEY": KEY})
    assert ok.exit_code == 0, ok.stderr
    assert "API key from env RUNPOD_API_KEY" in ok.stdout


def test_unknown_spotsched_variables_are_warned_about_by_name_only(tmp_path: Path) -> None:
    config = _config(tmp_path, **_missing_folder(tmp_path))  # `run` stops after the warnings
    env = {
        "SPOTSCHED_METRIC_PORT": "value-never-shown-1",  # a typo of METRICS
        "SPOTSCHED_TICK_INTERVAL": "value-never-shown-2",  # the section is missing
        "SPOTSCHED_SIM_BUSY_SECONDS": "60",  # the emulator's own: not warned about
        "SPOTSCHED_CONFIG": str(config),
    }
    result = _run(config, env=env)
    warned = [line for line in result.stderr.splitlines() if "environment_variable_ignored" in line]
    assert len(warned) == 2, result.stderr
    assert '"name": "SPOTSCHED_METRIC_PORT"' in warned[0]
    assert '"name": "SPOTSCHED_TICK_INTERVAL"' in warned[1]
    assert "value-never-shown" not in result.stderr

    check = spotsched("check-config", "--config", str(config), env=env | {"RUNPOD_API_KEY": KEY})
    assert "warning: SPOTSCHED_METRIC_PORT: not a spotsched setting" in check.stderr
    assert "warning: SPOTSCHED_TICK_INTERVAL: not a spotsched setting" in check.stderr
    assert "SIM_BUSY" not in check.stderr and "value-never-shown" not in check.output


def _real_names() -> list[str]:
    """SPOTSCHED_<SECTION>_<KEY> of every setting, and SPOTSCHED_STATE_DIR."""
    names = ["SPOTSCHED_STATE_DIR"]
    for section, field in Settings.model_fields.items():
        model = next(
            (a for a in (field.annotation, *typing.get_args(field.annotation)) if _is_model(a)),
            None,
        )
        if model is not None:
            names += [f"SPOTSCHED_{section}_{key}".upper() for key in model.model_fields]
    return names


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


REAL = _real_names()
TYPOS = st.builds(
    lambda name, i, c: name[:i] + c + name[i + 1 :],
    st.sampled_from(REAL),
    st.integers(10, 30),
    st.sampled_from(["", "S", "_", "X"]),
)


@settings(max_examples=400, deadline=None)
@given(
    name=st.one_of(
        st.sampled_from(REAL),
        TYPOS,
        st.from_regex(r"SPOTSCHED_[A-Z][A-Z0-9_]{0,24}", fullmatch=True),
    )
)
def test_no_spotsched_variable_is_silently_ignored(name: str) -> None:
    """Every `SPOTSCHED_*` variable is exactly one of: a setting that takes effect, a setting
    whose value is refused by an error naming the variable, one of spotsched's own names that
    are no setting (SPOTSCHED_CONFIG, what the daemon puts in a pod's env), or warned about by
    name. Never a typo that quietly changes nothing."""
    environ = {name: "zz-not-a-default"}
    warned = [n for n, _why in environment_warnings(environ)] == [name]
    rest = name.removeprefix("SPOTSCHED_")
    own = rest in OTHER_ENV or rest.startswith(OTHER_ENV_PREFIXES)
    try:
        took_effect, refused = load_settings(None, environ=environ) != Settings(), False
    except ConfigError as exc:
        took_effect, refused = False, f"{name} (environment)" in exc.message
    assert [took_effect, refused, own, warned].count(True) == 1, (name, took_effect, refused)
