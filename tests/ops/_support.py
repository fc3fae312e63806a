"""Helpers of the ops tests; the fixtures are in conftest.py."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SPOTSCHED_CI_CACHE", "/var/tmp/spotsched-ci-cache"))
MIRROR = os.environ.get("SPOTSCHED_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found is None:
        # debootstrap and friends live in sbin, which a non-root PATH may lack.
        for sbin in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
            path = os.path.join(sbin, name)
            if os.access(path, os.X_OK):
                return path
    return found


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def run_checked(cmd: list[str], timeout: float, what: str) -> subprocess.CompletedProcess[str]:
    """Run; on failure, fail the test with the command and the ends of its output."""
    result = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed ({result.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout\n{tail(result.stdout)}\n--- stderr\n{tail(result.stderr)}",
            pytrace=False,
        )
    return result


@contextlib.contextmanager
def cache_locked() -> Iterator[Path]:
    """The cache directory, held by this session alone for the `with` block."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield CACHE
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def unmount_below(path: Path) -> None:
    """Unmount whatever is still mounted inside `path` (debootstrap's proc and sys)."""
    prefix = str(path.resolve()).rstrip("/") + "/"
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(prefix)
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def debootstrap_into(debootstrap: str, root: Path, suite: str, packages: list[str]) -> None:
    """A Debian `suite` (minbase plus `packages`) in `root`, without apt's downloads."""
    try:
        run_checked(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(packages)}",
                suite,
                str(root),
                MIRROR,
            ],
            timeout=1200,
            what="debootstrap",
        )
    finally:
        unmount_below(root)
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (root / junk).glob("*"):
            if entry.is_file():
                entry.unlink()
