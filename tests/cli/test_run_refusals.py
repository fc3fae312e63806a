"""`spotsched run` refuses to start, with one line and exit status 1, when it must not act:
another daemon holds the database, or the database's installation id is damaged (acting on it
would disown every pod the daemon runs, or name new ones after garbage)."""

from __future__ import annotations

import os
import socket
import sqlite3

from scheduler.daemon.lock import hold_database
from tests.cli.conftest import KEY, World, spotsched

WITH_KEY = {"RUNPOD_API_KEY": KEY}


def test_run_refuses_a_database_another_daemon_holds(world: World) -> None:
    held = hold_database(world.settings.database_url)  # the first daemon, as far as flock knows
    assert held is not None
    try:
        result = spotsched("run", "--config", str(world.config_file), env=WITH_KEY)
    finally:
        held.release()
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert "another spotsched daemon already runs on this database" in line
    assert f"(pid {os.getpid()} on host {socket.gethostname()} since " in line
    assert str(world.db_file) + ".lock" in line


def test_run_refuses_a_damaged_installation_id(world: World) -> None:
    with sqlite3.connect(world.db_file) as db:
        db.execute("UPDATE daemon_state SET value = '12' WHERE key = 'installation_id'")
    result = spotsched("run", "--config", str(world.config_file), env=WITH_KEY)
    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert "daemon_state.installation_id is not an installation id" in line
    assert "Traceback" not in result.output
