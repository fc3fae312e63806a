"""The daemon lock beside a SQLite database (`scheduler/daemon/lock.py`), in one process.

`flock` locks belong to an open file description, so a second `hold_database` in the same
process contends exactly as a second daemon would. The lock file is input from outside: any
process may have written it, so whatever it holds, the refusal stays one readable line.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.daemon.lock import DatabaseBusy, LockFileError, hold_database, lock_path

SINCE = datetime(2026, 12, 4, 16, 40, tzinfo=UTC)


def test_the_second_holder_is_refused_with_the_first_ones_pid_host_and_start(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'spotsched.db'}"
    first = hold_database(url, SINCE)
    assert first is not None
    with pytest.raises(DatabaseBusy) as refused:
        hold_database(url)
    message = refused.value.message
    assert f"pid {os.getpid()} on host {socket.gethostname()} since 2026-12-04 16:40:00 UTC" in (
        message
    )
    assert str(tmp_path / "spotsched.db.lock") in message and "\n" not in message
    first.release()
    again = hold_database(url)  # released: the next daemon gets in
    assert again is not None
    again.release()


def test_the_lock_file_is_private_and_beside_the_database(tmp_path: Path) -> None:
    lock = hold_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert lock is not None
    assert lock.path == tmp_path / "db.sqlite.lock"
    assert (lock.path.stat().st_mode & 0o777) == 0o600
    lock.release()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@localhost/spotsched", "nonsense"],
)
def test_databases_without_a_file_take_no_file_lock(url: str) -> None:
    """PostgreSQL gets leader election (its own issue); nothing is held here for it."""
    assert lock_path(url) is None
    assert hold_database(url) is None


@settings(max_examples=60, deadline=None)
@given(content=st.binary(max_size=6000) | st.text(max_size=300).map(str.encode))
def test_whatever_the_lock_file_holds_the_refusal_is_one_clean_line(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    folder = tmp_path_factory.mktemp("lock")
    url = f"sqlite:///{folder / 'spotsched.db'}"
    held = hold_database(url)
    assert held is not None
    try:
        (folder / "spotsched.db.lock").write_bytes(content)  # a stranger rewrote it
        with pytest.raises(DatabaseBusy) as refused:
            hold_database(url)
    finally:
        held.release()
    message = refused.value.message
    assert message.startswith("another spotsched daemon already runs on this database (")
    assert message.isprintable() and len(message) < 400


def test_a_holder_with_a_hostile_host_name_is_shown_escaped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'spotsched.db'}"
    held = hold_database(url)
    assert held is not None
    try:
        hostile = '{"pid": 7, "host": "box\\u001b[31m\\nrm -rf", "since": "yesterday"}'
        (tmp_path / "spotsched.db.lock").write_text(hostile)
        with pytest.raises(DatabaseBusy) as refused:
            hold_database(url)
    finally:
        held.release()
    assert "pid 7 on host box[31mrm -rf since yesterday" in refused.value.message
    assert "\x1b" not in refused.value.message


def test_a_missing_database_folder_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "spotsched.db"
    with pytest.raises(LockFileError) as failed:
        hold_database(f"sqlite:///{missing}")
    assert str(missing) + ".lock" in failed.value.message
    assert "No such file or directory" in failed.value.message
