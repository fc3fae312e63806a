"""The processes of a chaos run, as a user runs them: `spotsched emulator --virtual-clock` and
`spotsched run` against it over HTTP, plus read-only looks into the daemon's SQLite file.

Nothing here knows the daemon's code: the daemon is a process that is started, killed and read
through its database file, its log and its metrics endpoint.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

SPOTSCHED = [sys.executable, "-m", "scheduler"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmulatorProcess:
    """`spotsched emulator` on a virtual clock, steered through its admin API."""

    def __init__(self, seed: int, log_dir: Path, startup_delay: float) -> None:
        self.stderr_path = log_dir / "emulator.stderr"
        self._stderr: IO[str] = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [
                *SPOTSCHED,
                "emulator",
                "--port",
                "0",
                "--seed",
                str(seed),
                "--virtual-clock",
                "--startup-delay",
                str(startup_delay),
            ],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.close()
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.stdout_text = line
        self.url = line.strip().rsplit(" ", 1)[-1]
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.stdout_text += self.proc.stdout.read()
            self.proc.stdout.close()
        self._stderr.close()
        if hasattr(self, "http"):
            self.http.close()

    def get(self, route: str) -> Any:
        return self.http.get(f"/_emulator/{route}").raise_for_status().json()

    def post(self, route: str, body: dict[str, Any]) -> Any:
        return self.http.post(f"/_emulator/{route}", json=body).raise_for_status().json()

    def now(self) -> datetime:
        return datetime.fromisoformat(self.get("clock")["now"])

    def advance(self, seconds: float) -> datetime:
        return datetime.fromisoformat(self.post("advance", {"seconds": seconds})["now"])

    def graphql(self, query: str, key: str) -> Any:
        answer = self.http.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
        )
        return answer.raise_for_status().json()


class DaemonProcess:
    """One `spotsched run`; its output goes to the run's log (appended over restarts)."""

    def __init__(self, config: Path, log: Path, api_key: str) -> None:
        with log.open("a") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [*SPOTSCHED, "run", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "RUNPOD_API_KEY": api_key},
            )
        self.argv = self._cmdline()

    def _cmdline(self) -> str:
        try:
            return Path(f"/proc/{self.proc.pid}/cmdline").read_text(errors="replace")
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def cli(*args: str, log: Path, api_key: str | None = None) -> subprocess.CompletedProcess[str]:
    """A `spotsched` command as a user types it; its output is kept for the key check."""
    env = {**os.environ, "RUNPOD_API_KEY": api_key} if api_key else None
    run = subprocess.run(
        [*SPOTSCHED, *args], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    with log.open("a") as out:
        out.write(f"$ spotsched {' '.join(args)} -> {run.returncode}\n{run.stdout}{run.stderr}\n")
    return run


class Database:
    """Read-only looks into the daemon's SQLite file (what `sqlite3` shows a user)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self, readonly: bool = True) -> sqlite3.Connection:
        mode = "ro" if readonly else "rw"
        conn = sqlite3.connect(f"file:{self.path}?mode={mode}", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        for attempt in range(50):
            try:
                conn = self._connect()
                try:
                    return [dict(r) for r in conn.execute(sql, params).fetchall()]
                finally:
                    conn.close()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc) or attempt == 49:
                    if "no such table" in str(exc):
                        return []
                    raise
                time.sleep(0.02)
        return []

    def execute(self, sql: str, params: tuple[Any, ...]) -> None:
        conn = self._connect(readonly=False)
        try:
            with conn:
                conn.execute(sql, params)
        finally:
            conn.close()

    def last_tick(self) -> datetime | None:
        if not self.path.exists():
            return None
        rows = self.query("SELECT value FROM daemon_state WHERE key = 'last_tick_at'")
        return datetime.fromisoformat(rows[0]["value"]) if rows else None

    def job_ids(self) -> dict[str, int]:
        return {r["name"]: int(r["id"]) for r in self.query("SELECT id, name FROM jobs")}


def write_config(path: Path, values: dict[str, Any]) -> Path:
    """A TOML file from {key: value | {section values}} (top-level keys first)."""
    top = [f"{k} = {json.dumps(v)}" for k, v in values.items() if not isinstance(v, dict)]
    lines = top
    for section, items in values.items():
        if isinstance(items, dict):
            lines += ["", f"[{section}]"]
            lines += [f"{k} = {_toml(v)}" for k, v in items.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def jobs_toml(tables: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for table in tables:
        out.append("[[job]]")
        out += [f"{k} = {_toml(v)}" for k, v in table.items()]
        out.append("")
    return "\n".join(out)
