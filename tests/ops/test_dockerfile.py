"""The Dockerfile: hadolint finds nothing, and the image's contract is spelled out in it.

The image itself is built and run in test_image_build.py (slow); these checks are instant.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
FindTool = Callable[[str], str]  # the `tool` fixture of conftest.py


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_hadolint_reports_nothing(tool: FindTool) -> None:
    hadolint = tool("hadolint")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_dockerfile_states_the_image_contract() -> None:
    steps = instructions(DOCKERFILE.read_text())
    assert steps[0] == ("ARG", "BASE=python:3.11-slim")
    froms = [args for word, args in steps if word == "FROM"]
    assert froms == ["${BASE} AS build", "${BASE}"], "two stages, both on BASE"

    runtime = steps[[i for i, (word, _) in enumerate(steps) if word == "FROM"][1] :]
    run = " ".join(args for word, args in runtime if word == "RUN")
    assert "pip install --no-cache-dir --no-index /wheels/" in run, "runtime: wheels only"
    assert "--uid 10001" in run
    env = " ".join(args for word, args in runtime if word == "ENV")
    for setting in (
        "SPOTSCHED_STATE_DIR=/var/lib/spotsched",
        "SPOTSCHED_METRICS_HOST=0.0.0.0",
        "CREDENTIALS_DIRECTORY=/etc/spotsched",
        "PATH=/opt/spotsched/bin:$PATH",
    ):
        assert setting in env.split(), setting

    def last(word: str) -> str:
        return [args for w, args in runtime if w == word][-1]

    assert json.loads(last("VOLUME")) == ["/var/lib/spotsched"]
    assert last("USER") == "10001:10001"
    assert last("EXPOSE") == "9464"
    assert "http://127.0.0.1:9464/healthz" in last("HEALTHCHECK")
    assert last("HEALTHCHECK").split(" CMD ")[1].startswith('["python3", "-c",')
    assert json.loads(last("ENTRYPOINT")) == ["spotsched"]
    assert json.loads(last("CMD")) == ["run", "--config", "/etc/spotsched/spotsched.toml"]


def test_dockerignore_sends_only_the_build_inputs() -> None:
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "an allow-list: everything else stays out of the build context"
    allowed = {rule[1:] for rule in rules if rule.startswith("!")}
    assert {"pyproject.toml", "README.md", "scheduler"} <= allowed
    assert "**/__pycache__" in rules
