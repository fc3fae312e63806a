"""Running spotsched as the user does: separate processes talking HTTP on loopback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

PYTHON = [sys.executable, "-m", "scheduler"]


def cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [*PYTHON, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and run.returncode != 0:
        raise AssertionError(f"spotsched {' '.join(args)} failed ({run.returncode}):\n{run.stderr}")
    return run


@contextmanager
def emulator_process(*extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [*PYTHON, "emulator", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            proc.kill()
            raise AssertionError(
                f"emulator did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
            )
        yield line.strip().rsplit(" ", 1)[-1], proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return proc.returncode


class Admin:
    """The emulator's documented admin API (with the emulator's `--api-key`, if it has one)."""

    def __init__(self, url: str, key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        self.http = httpx.Client(base_url=url, timeout=10, headers=headers)

    def close(self) -> None:
        self.http.close()

    def state(self) -> dict[str, Any]:
        return self.http.get("/_emulator/state").raise_for_status().json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.http.post(f"/_emulator/{path}", json=body).raise_for_status().json()

    def pods(self, live_only: bool = True) -> list[dict[str, Any]]:
        pods = self.state()["pods"]
        return [p for p in pods if not live_only or p["desiredStatus"] != "TERMINATED"]

    def billed(self) -> float:
        return float(self.state()["totals"]["billed"])


def wait_for(
    what: str, check: Callable[[], Any], timeout: float = 60.0, every: float = 0.25
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def jobs(db: str) -> dict[str, dict[str, Any]]:
    out = cli("jobs", "--db", db, "--json").stdout
    return {j["name"]: j for j in json.loads(out)}


def installation(config: Path) -> str:
    """The database's installation id, as `spotsched status` shows it: our pods are named
    `spotsched-{installation}-{job}-{attempt}`."""
    run = cli("status", "--config", str(config), "--json", check=False)
    value = json.loads(run.stdout)["installation"]
    assert isinstance(value, str), run.stdout
    return value


def raw_insert(db_file: Path, **columns: Any) -> None:
    with sqlite3.connect(db_file) as conn:
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(columns.values()))


def daemon_config(path: Path, api_url: str, state_dir: Path, **sections: dict[str, Any]) -> Path:
    lines = [f'state_dir = "{state_dir}"', "", "[runpod]", f'api_url = "{api_url}"', "timeout = 5"]
    defaults: dict[str, dict[str, Any]] = {
        "scheduler": {"tick_interval": "0.5s", "price_sample_interval": "10s"},
        "policy": {"launch_grace": "5s", "resume_wait": "3s", "orphan_grace": "60s"},
        "metrics": {"enabled": False},
        "log": {"format": "json", "level": "debug"},
    }
    for name, values in {**defaults, **sections}.items():
        lines += ["", f"[{name}]"]
        for key, value in values.items():
            shown = str(value).lower() if isinstance(value, bool) else json.dumps(value)
            lines.append(f"{key} = {shown}")
    path.write_text("\n".join(lines) + "\n")
    return path
