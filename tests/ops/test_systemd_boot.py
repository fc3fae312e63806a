"""The unit under a real systemd: boot a Debian 12 container with systemd-nspawn, install
spotsched into /opt/spotsched as docs/install.md says, enable systemd/spotsched.service
unchanged, and watch it run against the emulator (on this host; the container shares the
host's network).

What `systemd-analyze verify` cannot show is checked here: the daemon starts under the full
sandbox (MemoryDenyWriteExecute, the system call filter, DynamicUser, ...), becomes active
only by READY=1, gets the API key from the credential (the emulator accepts that key only,
and /healthz is 200 only after a successful tick), survives `systemctl reload`, is killed and
restarted by the watchdog when it hangs, and exits 0 on `systemctl stop`.

The Debian root file system (debootstrap: minbase + systemd, dbus, procps, python3,
python3-venv; 3.5 minutes once) is cached under $SPOTSCHED_CI_CACHE; each run boots a copy,
about 2 minutes in all. Needs root and systemd-nspawn (Debian package systemd-container).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ._support import REPO, cache_locked, debootstrap_into, run_checked, tail, unmount_below

pytestmark = pytest.mark.slow

SUITE = "bookworm"
PACKAGES = ["systemd", "systemd-sysv", "dbus", "procps", "python3", "python3-venv"]
RECIPE = f"{SUITE} minbase {','.join(PACKAGES)} {platform.machine()} 1"
ROOTFS = f"nspawn-{SUITE}-{hashlib.sha256(RECIPE.encode()).hexdigest()[:12]}"
UNIT = REPO / "systemd" / "spotsched.service"
TICK_SECONDS = 2
MAX_EXPOSURE = 2.0
FindTool = Callable[[str], str]  # the `tool` fixture of conftest.py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(0.5)


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (http only)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@dataclass
class Machine:
    """A booted container; `sh(...)` runs a command in it (all its namespaces)."""

    init_pid: int
    root: Path
    metrics_port: int
    log: Path

    def sh(self, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.init_pid), "-a", "/bin/sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, script: str, timeout: float = 60) -> str:
        result = self.sh(script, timeout)
        assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def show(self, *props: str) -> dict[str, str]:
        out = self.ok("systemctl show spotsched " + " ".join(f"-p {p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self) -> str:
        return self.sh("journalctl -u spotsched --no-pager -o cat").stdout


def ensure_rootfs(debootstrap: str) -> Path:
    with cache_locked() as cache:
        root = cache / ROOTFS
        if not root.is_dir():
            partial = cache / f"{ROOTFS}.partial"
            if partial.exists():  # an earlier debootstrap that did not finish
                unmount_below(partial)
                shutil.rmtree(partial)
            partial.mkdir()
            debootstrap_into(debootstrap, partial, SUITE, PACKAGES)
            partial.rename(root)
        return root


def install_spotsched(root: Path, work: Path, wheelhouse: Path) -> None:
    """docs/install.md, step 1, offline: a venv in /opt/spotsched with the project's wheel."""
    src = work / "src"
    shutil.copytree(
        REPO / "scheduler", src / "scheduler", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    wheels = root / "wheels"
    shutil.copytree(wheelhouse, wheels)
    script = (
        "python3 -m venv /opt/spotsched && /opt/spotsched/bin/pip install --quiet --no-index"
        " --find-links /wheels spotsched && rm -r /wheels"
    )
    run_checked(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index"),
            *("--find-links", str(wheelhouse), "--wheel-dir", str(wheels), str(src)),
        ],
        timeout=300,
        what="pip wheel (the project)",
    )
    run_checked(
        [
            *("chroot", str(root), "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
            *("/bin/sh", "-c", script),
        ],
        timeout=600,
        what="venv install in the container",
    )


def configure(root: Path, api_port: int, metrics_port: int, key: str) -> None:
    """docs/install.md, steps 2 and 3: config, key file (0600 root), the unit, enabled."""
    etc = root / "etc" / "spotsched"
    etc.mkdir(mode=0o755)
    (etc / "spotsched.toml").write_text(
        f'[runpod]\napi_url = "http://127.0.0.1:{api_port}/graphql"\n'
        f'[scheduler]\ntick_interval = "{TICK_SECONDS}s"\n'
    )
    key_file = etc / "runpod-api-key"
    key_file.touch(mode=0o600)
    key_file.write_text(key + "\n")
    units = root / "etc" / "systemd" / "system"
    shutil.copy(UNIT, units / UNIT.name)
    (units / "multi-user.target.wants" / UNIT.name).symlink_to(f"/etc/systemd/system/{UNIT.name}")
    # The only local change: a free metrics port (the host's network is shared).
    dropin = units / f"{UNIT.name}.d"
    dropin.mkdir()
    (dropin / "ci.conf").write_text(
        f"[Service]\nEnvironment=SPOTSCHED_METRICS_PORT={metrics_port}\n"
    )
    (root / "etc" / "hostname").write_text("spotsched-ci\n")


def container_init(nspawn: subprocess.Popen[bytes]) -> int | None:
    for task in Path(f"/proc/{nspawn.pid}/task").glob("*"):
        children = (task / "children").read_text().split()
        if children:
            return int(children[0])
    return None


@pytest.fixture(scope="module")
def machine(as_root: None, tool: FindTool, wheelhouse: Path) -> Iterator[Machine]:
    nspawn_exe, debootstrap = tool("systemd-nspawn"), tool("debootstrap")
    tool("nsenter")
    cached = ensure_rootfs(debootstrap)
    work = Path(tempfile.mkdtemp(prefix="spotsched-nspawn-", dir="/var/tmp"))
    root = work / "root"
    key = "ci-" + secrets.token_hex(8)
    api_port, metrics_port = free_port(), free_port()
    emulator = nspawn = None
    try:
        run_checked(["cp", "-a", "--reflink=auto", str(cached), str(root)], 300, "copy rootfs")
        install_spotsched(root, work, wheelhouse)
        configure(root, api_port, metrics_port, key)
        emulator_log = work / "emulator.log"
        with emulator_log.open("wb") as out:
            emulator = subprocess.Popen(
                [
                    *(sys.executable, "-m", "scheduler", "emulator", "--port", str(api_port)),
                    *("--startup-delay", "1", "--api-key", key),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def emulator_up() -> bool:
            if emulator.poll() is not None:
                pytest.fail(f"the emulator exited:\n{tail(emulator_log.read_text())}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", api_port)) == 0

        wait_for("the emulator", emulator_up, 60)
        log = work / "nspawn.log"
        with log.open("wb") as out:
            nspawn = subprocess.Popen(
                [
                    *(nspawn_exe, "--boot", "--directory", str(root), "--register=no"),
                    *("--keep-unit", "--console=passive", f"--machine=spotsched-ci-{os.getpid()}"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for("the container's init", lambda: container_init(nspawn) is not None, 60)
        init_pid = container_init(nspawn)
        assert init_pid is not None
        booted = Machine(init_pid, root, metrics_port, log)
        wait_for(
            "the container's boot",
            lambda: (
                booted.sh("systemctl is-system-running --wait", 150).stdout.strip()
                in {"running", "degraded"}
            ),
            180,
        )
        yield booted
    finally:
        if nspawn is not None:
            nspawn.send_signal(signal.SIGTERM)  # the container shuts down in order
            try:
                nspawn.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(nspawn.pid, signal.SIGKILL)
                nspawn.wait(10)
        if emulator is not None:
            emulator.terminate()
            emulator.wait(10)
        unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)


def test_started_by_ready_notification(machine: Machine) -> None:
    state = machine.show("ActiveState", "SubState", "Type", "NotifyAccess", "WatchdogUSec")
    assert state == {
        "ActiveState": "active",  # Type=notify: only after the daemon sent READY=1
        "SubState": "running",
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogUSec": "5min",
    }, machine.journal()


def test_healthy_with_the_key_from_the_credential(machine: Machine) -> None:
    """/healthz turns 200 after a successful tick; the emulator accepts only the key that is
    in /etc/spotsched/runpod-api-key, which reaches the daemon as the systemd credential."""
    url = f"http://127.0.0.1:{machine.metrics_port}/healthz"
    wait_for(f"{url} to answer 200", lambda: http_status(url) == 200, 60 + 5 * TICK_SECONDS)


def test_runs_sandboxed_as_a_dynamic_user(machine: Machine) -> None:
    pid = machine.show("MainPID")["MainPID"]
    status = machine.ok(f"cat /proc/{pid}/status")
    fields = dict(re.findall(r"^(\w+):\s*(.*)$", status, re.MULTILINE))
    uid = fields["Uid"].split()[0]
    assert uid != "0", "DynamicUser: not root"
    assert fields["CapEff"] == fields["CapBnd"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1"
    assert fields["Seccomp"] == "2", "the system call filter is on"
    db = machine.ok("stat -c '%u %a' /var/lib/private/spotsched/spotsched.db").split()
    assert db == [uid, "600"], "the state database is the service's own, UMask=0077"
    env = machine.ok(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    assert "SPOTSCHED_STATE_DIR=/var/lib/spotsched" in env.splitlines()


def test_security_exposure_on_the_running_unit(machine: Machine) -> None:
    out = machine.ok("SYSTEMD_COLORS=0 systemd-analyze security --no-pager spotsched")
    match = re.search(r"Overall exposure level for spotsched\.service:\s*([0-9.]+)", out)
    assert match, out
    assert float(match.group(1)) <= MAX_EXPOSURE, out


def test_reload_keeps_the_daemon(machine: Machine) -> None:
    before = machine.show("MainPID")["MainPID"]
    machine.ok("systemctl reload spotsched")  # ExecReload=/bin/kill -HUP $MAINPID
    state = machine.show("MainPID", "ActiveState", "NRestarts")
    assert state["MainPID"] == before
    assert state["ActiveState"] == "active"
    assert "Reloaded spotsched.service" in machine.journal()


def test_watchdog_restarts_a_hung_daemon(machine: Machine) -> None:
    dropin = machine.root / "etc/systemd/system/spotsched.service.d/watchdog.conf"
    dropin.write_text(f"[Service]\nWatchdogSec={5 * TICK_SECONDS}s\nRestartSec=1s\n")
    machine.ok("systemctl daemon-reload && systemctl restart spotsched")
    first = machine.show("MainPID", "NRestarts")
    time.sleep(8 * TICK_SECONDS)  # a ticking daemon keeps pinging: no restart
    assert machine.show("MainPID", "NRestarts") == first, tail(machine.journal())
    machine.ok(f"kill -STOP {first['MainPID']}")
    wait_for(
        "the watchdog to restart the daemon",
        lambda: (
            machine.show("NRestarts", "ActiveState")
            == {"NRestarts": str(int(first["NRestarts"]) + 1), "ActiveState": "active"}
        ),
        60,
    )
    assert "Failed with result 'watchdog'" in machine.journal()


def test_stop_exits_0(machine: Machine) -> None:
    machine.ok("systemctl stop spotsched", timeout=120)
    state = machine.show("ActiveState", "Result", "ExecMainStatus")
    assert state == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, tail(
        machine.journal()
    )
