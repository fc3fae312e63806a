"""The README's commands work as written: the emulator lines (spotsched and the official SDK
pointed at a local emulator) and, on the machine's own Debian/Ubuntu Python, the first
command, which a bare `pip install` broke (PEP 668: an externally managed environment)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.processes import emulator_process

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _blocks(after: str) -> list[str]:
    """The ```sh blocks of the README section whose heading starts with `after`."""
    text = README.read_text()
    start = text.index(f"\n{after}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", text[start : end if end > 0 else None], re.DOTALL)


def _bash(line: str, *, cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    run = subprocess.run(
        ["bash", "-c", line],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert run.returncode == 0, f"$ {line}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run.stdout


def test_the_emulator_lines_point_spotsched_and_the_sdk_at_the_emulator(tmp_path: Path) -> None:
    [block] = _blocks("### The emulator")
    lines = [line.split("   #", 1)[0].strip() for line in block.strip().splitlines()]
    assert lines[0].startswith("spotsched emulator --port 8765")
    [ours] = [line for line in lines if line.startswith("SPOTSCHED_RUNPOD_API_URL=")]
    [sdks] = [line for line in lines if line.startswith("RUNPOD_API_BASE_URL=")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTSCHED_", "RUNPOD_"))}
    env |= {"HOME": str(tmp_path), "NO_PROXY": "127.0.0.1", "COLUMNS": "200"}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # this spotsched
    with emulator_process() as (url, _proc):
        port = url.rsplit(":", 1)[1]
        prices = _bash(ours.replace("8765", port), cwd=tmp_path, env=env)
        assert "NVIDIA A40" in prices
        sdk = _bash(sdks.replace("8765", port), cwd=tmp_path, env=env)
        assert "'id': 'NVIDIA A40'" in sdk


@pytest.mark.slow
def test_the_first_command_works_on_the_system_python(tmp_path: Path) -> None:
    """On this Debian/Ubuntu machine's own Python, in a copy of the project, with nothing of
    ours on PATH: the README's first command installs and runs the demo."""
    check = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import ensurepip, venv"], capture_output=True, check=False
    )
    assert check.returncode == 0, "the system Python needs its venv: apt-get install python3-venv"
    [first, _tests] = _blocks("## Try it")
    command = first.strip()
    assert "\n" not in command and command.endswith("spotsched demo")
    project = tmp_path / "spotsched"
    shutil.copytree(
        ROOT,
        project,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "bench"
        ),
    )
    env = {"HOME": str(tmp_path), "PATH": f"{SYSTEM_PYTHON.parent}:/bin", "TERM": "dumb"}
    env |= {k: v for k, v in os.environ.items() if k.startswith("PIP_")}  # the local index
    out = _bash(command, cwd=project, env=env, timeout=900)
    assert "Saved $" in out and "reconcile ticks" in out
