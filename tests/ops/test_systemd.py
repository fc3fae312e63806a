"""The systemd unit: the daemon's contract, `systemd-analyze verify`, and its exposure score.

`systemd-analyze verify` and `systemd-analyze security --offline=true` work on unit files
without systemd running as PID 1 (they load the unit into a test-mode manager), so these run
in containers and CI. `verify` insists that ExecStart's binary exists: it checks a copy of the
unit whose ExecStart points at a stub with the same arguments, since the real path
(/opt/spotsched/bin/spotsched, see docs/install.md) only exists on an installed host.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "spotsched.service"
INSTALL_DOC = REPO / "docs" / "install.md"
EXEC = "/opt/spotsched/bin/spotsched"
EXEC_START = f"{EXEC} run --config /etc/spotsched/spotsched.toml"
MAX_EXPOSURE = 2.0
FindTool = Callable[[str], str]  # the `tool` fixture of conftest.py
# No colours, no pager, plain messages from systemd-analyze.
ENV = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": "", "SYSTEMD_LOG_COLOR": "0"}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> keys -> every value assigned (in order); comments and blanks dropped."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"assignment outside a section: {raw!r}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_with_stub_exec(tmp_path: Path) -> Path:
    """A copy of the unit (same name) whose ExecStart binary is an existing stub."""
    stub = tmp_path / "bin" / "spotsched"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    text = UNIT.read_text()
    assert text.count(f"ExecStart={EXEC} ") == 1
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    copy = unit_dir / UNIT.name
    copy.write_text(text.replace(f"ExecStart={EXEC} ", f"ExecStart={stub} "))
    return copy


def verify(analyze: str, unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [analyze, "verify", "--man=no", "--recursive-errors=no", str(unit)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )


def lines_about_unit(output: str) -> list[str]:
    return [line for line in output.splitlines() if "spotsched" in line]


def test_unit_states_the_daemon_contract() -> None:
    unit = parse_unit(UNIT.read_text())
    service, head = unit["Service"], unit["Unit"]

    def one(section: dict[str, list[str]], key: str) -> str:
        assert key in section, f"{key}= missing"
        return section[key][-1]

    assert one(service, "Type") == "notify"
    assert one(service, "NotifyAccess") == "main"
    assert one(service, "ExecStart") == EXEC_START
    assert one(service, "ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one(service, "Restart") == "on-failure"
    assert re.fullmatch(r"\d+s", one(service, "RestartSec"))
    # The daemon pings once per tick (30 s by default): leave room for a slow tick.
    watchdog = one(service, "WatchdogSec")
    assert re.fullmatch(r"\d+s", watchdog) and int(watchdog[:-1]) >= 90
    assert int(one(head, "StartLimitBurst")) > 1
    assert one(head, "StartLimitIntervalSec")
    assert one(service, "DynamicUser") == "yes"
    assert one(service, "StateDirectory") == "spotsched"
    assert one(service, "ConfigurationDirectory") == "spotsched"
    assert one(service, "LoadCredential") == "runpod-api-key:/etc/spotsched/runpod-api-key"
    assert "SPOTSCHED_STATE_DIR=%S/spotsched" in service["Environment"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]

    hardening = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "PrivateUsers": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallArchitectures": "native",
        "MemoryDenyWriteExecute": "yes",
        "LockPersonality": "yes",
        "RestrictRealtime": "yes",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "RemoveIPC": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "ProtectProc": "invisible",
        "ProcSubset": "pid",
        "UMask": "0077",
        "DevicePolicy": "closed",
    }
    assert {k: service.get(k, ["<missing>"])[-1] for k in hardening} == hardening
    assert "@system-service" in service["SystemCallFilter"]


def test_install_guide_matches_the_unit() -> None:
    guide = INSTALL_DOC.read_text()
    assert EXEC in guide, "docs/install.md must install the venv that ExecStart points into"
    for needed in (
        "/etc/spotsched/runpod-api-key",
        "/etc/spotsched/spotsched.toml",
        "systemctl enable --now spotsched",
        "systemctl reload spotsched",
        "journalctl -u spotsched",
    ):
        assert needed in guide, needed


def test_systemd_analyze_verify_is_clean(tool: FindTool, tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    result = verify(analyze, unit_with_stub_exec(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert lines_about_unit(output) == [], output


def test_verify_check_catches_a_broken_unit(tool: FindTool, tmp_path: Path) -> None:
    """The check above is not vacuous: the same call reports a bad setting in this unit."""
    analyze = tool("systemd-analyze")
    copy = unit_with_stub_exec(tmp_path)
    copy.write_text(copy.read_text().replace("Type=notify", "Type=notifyy"))
    result = verify(analyze, copy)
    assert any("notifyy" in line for line in lines_about_unit(result.stdout + result.stderr)), (
        result.stdout + result.stderr
    )


def test_security_exposure_is_low(tool: FindTool) -> None:
    analyze = tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    match = re.search(r"Overall exposure level for spotsched\.service:\s*([0-9]+\.[0-9]+)", output)
    assert match, output
    exposure = float(match.group(1))
    failing = "\n".join(line for line in output.splitlines() if line.startswith("✗"))
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{failing}"


def test_parse_unit_keeps_repeated_keys() -> None:
    text = "[Service]\nType=notify\n# c\n;c\n\nEnvironment=A=1\nEnvironment=B=2\n"
    assert parse_unit(text) == {"Service": {"Type": ["notify"], "Environment": ["A=1", "B=2"]}}
