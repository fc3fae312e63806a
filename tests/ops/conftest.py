"""Shared bits of the ops tests: finding the external tools, the cache, the wheelhouse.

These tests run real tools (systemd-analyze, hadolint, buildah, debootstrap, systemd-nspawn),
installed by `scripts/install-ops-tools.sh` (hadolint comes with the dev extra). A missing tool
skips its tests with the reason, except under CI (`CI` set), where it is an error: CI runs the
installer first, so a missing tool there means a broken install step, not a machine that
cannot run it.

The slow tests keep what is costly to make under $SPOTSCHED_CI_CACHE (default
/var/tmp/spotsched-ci-cache): Debian root file systems and images made with debootstrap, and
a wheelhouse of the project's dependencies. One test session at a time uses it (a lock file).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from ._support import REPO, cache_locked, find_tool, run_checked


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """`tool(name) -> path`: the tool's path; skip (fail under CI) when it is not installed."""

    def find(name: str) -> str:
        path = find_tool(name)
        if path is not None:
            return path
        reason = f"{name} is not installed (run scripts/install-ops-tools.sh)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is expected to have run it", pytrace=False)
        pytest.skip(reason)

    return find


@pytest.fixture(scope="session")
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: debootstrap, buildah (vfs, chroot isolation), systemd-nspawn")


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Wheels of the project's dependencies plus its build backend, for offline installs.

    Made by this interpreter's pip, so its binary wheels suit Python 3.11, the python3 of
    Debian 12 that the images and root file systems here have.
    """
    if sys.version_info[:2] != (3, 11):
        pytest.skip(
            "the wheelhouse is built by this interpreter's pip for Debian 12's Python 3.11; "
            f"this is Python {platform.python_version()}"
        )
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    build = project["build-system"]["requires"]
    deps = project["project"]["dependencies"]
    key = hashlib.sha256(json.dumps([build, deps]).encode()).hexdigest()[:12]
    with cache_locked() as cache:
        path = cache / f"wheelhouse-{key}"
        for old in cache.glob("wheelhouse-*"):
            if old != path:
                shutil.rmtree(old, ignore_errors=True)
        path.mkdir(exist_ok=True)
        pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
        pip += ["--wheel-dir", str(path), "--find-links", str(path), *build, *deps]
        # Complete already? Then no index is asked (quick); otherwise fill it from the index.
        quick = subprocess.run([*pip, "--no-index"], capture_output=True, timeout=300, check=False)
        if quick.returncode != 0:
            run_checked(pip, timeout=900, what="pip wheel (wheelhouse)")
    return path
