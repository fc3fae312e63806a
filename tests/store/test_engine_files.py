"""The SQLite database holds job env values, which may be secrets: a database file spotsched
creates (and its -wal/-shm companions) is readable by its owner only, whatever the umask, and the
daemon's state folder is created 0700. A file the user already has keeps its mode: a looser one
is warned about, never chmod-ed."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from scheduler.daemon.config import Settings
from scheduler.daemon.run import build_service
from scheduler.store import open_engine
from scheduler.store.migrate import upgrade


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask of a careless shell: files 0644 and folders 0755 unless asked otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_a_new_database_and_its_wal_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "spotsched.db"
    engine = open_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        with engine.begin() as conn:  # a write while connected: the -wal and -shm files exist
            conn.execute(text("CREATE TABLE secrets_here (v TEXT)"))
            conn.execute(text("INSERT INTO secrets_here VALUES ('HF_TOKEN=hf_x')"))
            companions = sorted(p.name for p in tmp_path.iterdir())
            modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
    finally:
        engine.dispose()
    assert companions == ["spotsched.db", "spotsched.db-shm", "spotsched.db-wal"]
    assert modes == dict.fromkeys(companions, 0o600)


@pytest.mark.usefixtures("open_umask")
def test_an_existing_looser_database_is_warned_about_once_and_left_as_it_is(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o644)
    engine = open_engine(f"sqlite:///{path}")
    try:
        with capture_logs() as logs:
            upgrade(engine)
            for _ in range(3):
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    warnings = [e for e in logs if e["event"] == "database_file_permissions"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["path"] == str(path) and warnings[0]["mode"] == "0644"
    assert "chmod 600" in warnings[0]["detail"]
    assert _mode(path) == 0o644  # the user's file, the user's choice


def test_without_structlog_the_warning_goes_to_stderr_not_stdout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """CLI commands print JSON on stdout; a warning there would break `jobs --json`."""
    import structlog

    structlog.reset_defaults()  # an unconfigured structlog prints to stdout
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o664)
    engine = open_engine(f"sqlite:///{path}")
    try:
        with (
            caplog.at_level(logging.WARNING, logger="spotsched.store"),
            engine.connect() as conn,
        ):
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert "database_file_permissions" in caplog.text and "0664" in caplog.text
    assert capsys.readouterr().out == ""


@pytest.mark.usefixtures("open_umask")
def test_a_private_database_gives_no_warning_and_a_read_only_uri_creates_nothing(
    tmp_path: Path,
) -> None:
    private = tmp_path / "private.db"
    engine = open_engine(f"sqlite:///{private}")
    try:
        with capture_logs() as logs, engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert not [e for e in logs if e["event"] == "database_file_permissions"]

    absent = tmp_path / "absent.db"
    reader = open_engine(f"sqlite:///file:{absent}?mode=ro&uri=true")
    try:
        with pytest.raises(Exception, match="unable to open"), reader.connect():
            pass
    finally:
        reader.dispose()
    assert not absent.exists()


@pytest.mark.usefixtures("open_umask")
def test_the_daemon_creates_its_state_folder_0700_and_its_database_0600(tmp_path: Path) -> None:
    state = tmp_path / "var" / "spotsched"
    settings = Settings.model_validate({"state_dir": str(state), "metrics": {"enabled": False}})
    service = build_service(settings, environ={})
    try:
        service.prepare()
    finally:
        service.engine.dispose()
    assert _mode(state) == 0o700
    assert _mode(state / "spotsched.db") == 0o600
