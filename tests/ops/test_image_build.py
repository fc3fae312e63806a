"""Build the container image for real with buildah, offline, and run it.

No Docker engine is needed: buildah (vfs storage by default, chroot isolation, as root)
builds the Dockerfile FROM a Debian 12 base made here with debootstrap (minbase + python3,
python3-venv, python3-pip), since base images cannot be pulled. Stage 1 gets its dependency
wheels from a wheelhouse that the host's pip fills (mounted read-only, PIP_NO_INDEX=1);
where the machine allows a network namespace the whole build runs in an empty one, so it
provably needs no network. Then `buildah run` starts commands in the image as its user (uid
10001).

Cached between runs under $SPOTSCHED_CI_CACHE (default /var/tmp/spotsched-ci-cache): the
buildah storage with the base image (1.5 to 3 minutes to make once) and the wheelhouse. With
the cache, the build takes 65 to 110 s on 2 cores (up to 3 minutes on a busy machine) and the
whole module about 3 to 4 minutes, half of it `spotsched demo`.

Skips (with the reason) only where buildah cannot run at all: not root, or buildah/debootstrap
missing outside CI (see conftest.py).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import platform
import shutil
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ._support import REPO, cache_locked, debootstrap_into, run_checked, tail

pytestmark = pytest.mark.slow

SUITE = "bookworm"  # Debian 12: python3 is 3.11, as requires-python wants
BASE_PACKAGES = ["python3", "python3-venv", "python3-pip"]
# A new recipe (suite, packages, this version) means a new base image tag.
BASE_RECIPE = f"{SUITE} minbase {','.join(BASE_PACKAGES)} {platform.machine()} 1"
BASE_IMAGE = (
    f"localhost/spotsched-base:{SUITE}-{hashlib.sha256(BASE_RECIPE.encode()).hexdigest()[:12]}"
)
IMAGE = f"localhost/spotsched-ci:test-{os.getpid()}"
HEALTH_PORT = 9464
# vfs works everywhere (plain copies); overlay builds about twice as fast where the kernel
# and the cache's file system allow it: SPOTSCHED_BUILDAH_STORAGE_DRIVER=overlay.
DRIVER = os.environ.get("SPOTSCHED_BUILDAH_STORAGE_DRIVER", "vfs")
FindTool = Callable[[str], str]  # the `tool` fixture of conftest.py


@dataclass(frozen=True)
class Buildah:
    exe: str
    storage: Path

    def cmd(self, *args: str) -> list[str]:
        return [
            self.exe,
            "--root",
            str(self.storage / "root"),
            "--runroot",
            str(self.storage / "runroot"),
            "--storage-driver",
            DRIVER,
            *args,
        ]

    def __call__(self, *args: str, timeout: float = 120) -> str:
        return run_checked(self.cmd(*args), timeout, f"buildah {args[0]}").stdout.strip()

    def probe(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.cmd(*args), capture_output=True, text=True, timeout=timeout, check=False
        )


@dataclass(frozen=True)
class BuiltImage:
    buildah: Buildah
    name: str
    config: dict[str, Any]  # the image's Docker config
    offline: bool
    seconds: dict[str, float]  # how long each step of making it took


def ensure_base_image(buildah: Buildah, debootstrap: str) -> None:
    """The Debian base image: made once with debootstrap, then reused from the cache."""
    if buildah.probe("inspect", "--type", "image", BASE_IMAGE).returncode == 0:
        return
    container = buildah("from", "--name", f"spotsched-base-{os.getpid()}", "scratch")
    try:
        root = Path(buildah("mount", container))
        debootstrap_into(debootstrap, root, SUITE, BASE_PACKAGES)
        buildah("umount", container)
        buildah(
            "config",
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env",
            "LANG=C.UTF-8",
            "--cmd",
            "/bin/bash",
            container,
        )
        buildah("commit", "--rm", container, BASE_IMAGE, timeout=600)
    except BaseException:
        buildah.probe("rm", container)
        raise


def network_namespace_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def image(as_root: None, tool: FindTool, wheelhouse: Path) -> Iterator[BuiltImage]:
    buildah_exe, debootstrap = tool("buildah"), tool("debootstrap")
    with cache_locked() as cache:
        buildah = Buildah(buildah_exe, cache / f"buildah-{DRIVER}")
        can_run = buildah.probe("from", "--name", f"spotsched-probe-{os.getpid()}", "scratch")
        if can_run.returncode != 0:
            pytest.skip(f"buildah cannot run on this machine: {tail(can_run.stderr, 5)}")
        buildah.probe("rm", can_run.stdout.strip())
        seconds: dict[str, float] = {}
        started = time.monotonic()
        ensure_base_image(buildah, debootstrap)
        seconds["base image"] = time.monotonic() - started

        offline = network_namespace_works()
        build = buildah.cmd(
            "build",
            "--isolation",
            "chroot",
            "--format",
            "docker",  # the OCI format has no HEALTHCHECK
            "--build-arg",
            f"BASE={BASE_IMAGE}",
            "--build-arg",
            "PIP_NO_INDEX=1",
            "--build-arg",
            "PIP_FIND_LINKS=/wheelhouse",
            "--volume",
            f"{wheelhouse}:/wheelhouse:ro",
            "--tag",
            IMAGE,
            "--file",
            str(REPO / "Dockerfile"),
            str(REPO),
        )
        if offline:  # an empty network namespace: no route anywhere, not even loopback
            build = [shutil.which("unshare") or "unshare", "--net", *build]
        started = time.monotonic()
        run_checked(build, timeout=1500, what="image build")
        seconds["build"] = time.monotonic() - started
    try:
        inspected = json.loads(buildah("inspect", "--type", "image", IMAGE))
        yield BuiltImage(buildah, IMAGE, inspected["Docker"]["config"], offline, seconds)
    finally:
        with cache_locked():
            buildah.probe("rmi", IMAGE)
            buildah.probe("rmi", "--prune")


@pytest.fixture(scope="module")
def run_in_image(image: BuiltImage) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """`run_in_image(*argv)`: the command in a container of the image (as its USER, in its
    WORKDIR, with its ENV; the host's network)."""
    buildah = image.buildah
    container = buildah("from", "--name", f"spotsched-ci-{os.getpid()}", image.name)

    def run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return buildah.probe(
            "run", "--isolation", "chroot", container, "--", *argv, timeout=timeout
        )

    try:
        yield run
    finally:
        buildah.probe("rm", container)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_build_needed_no_network(image: BuiltImage) -> None:
    print("seconds:", {step: round(s, 1) for step, s in image.seconds.items()})  # -rP shows it
    if not image.offline:
        pytest.skip("no network namespace here: the image was built with the host's network")
    assert image.seconds["build"] > 0  # the build above ran inside `unshare --net`


def test_spotsched_version(run_in_image: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert ok(run_in_image("spotsched", "--version")).strip() == f"spotsched {version}"
    assert ok(run_in_image("python3", "-m", "scheduler", "--version")).strip().endswith(version)


def test_package_comes_from_the_venv(
    run_in_image: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    out = ok(run_in_image("python3", "-c", "import scheduler, sys; print(scheduler.__file__)"))
    assert out.startswith("/opt/spotsched/lib/python3.11/site-packages/scheduler/"), out


def test_runs_as_uid_10001_with_a_private_writable_state_dir(
    run_in_image: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    script = (
        'id -u; id -g; stat -c %a "$SPOTSCHED_STATE_DIR"; '
        'touch "$SPOTSCHED_STATE_DIR/probe" && rm "$SPOTSCHED_STATE_DIR/probe" && echo writable'
    )
    assert ok(run_in_image("sh", "-c", script)).split() == ["10001", "10001", "700", "writable"]


def test_database_migrations_run_in_the_image(
    run_in_image: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """The wheel carries the migrations, and the daemon's user can create its database."""
    help_text = ok(run_in_image("spotsched", "--help"))
    if " db " not in help_text:
        pytest.skip("`spotsched db upgrade` does not exist in this checkout")
    out = ok(run_in_image("spotsched", "db", "upgrade"))
    assert "revision" in out, out
    ok(run_in_image("test", "-s", "/var/lib/spotsched/spotsched.db"))


def test_image_config(image: BuiltImage) -> None:
    config = image.config
    env = dict(str(item).split("=", 1) for item in config["Env"])
    assert env["SPOTSCHED_STATE_DIR"] == "/var/lib/spotsched"
    assert env["SPOTSCHED_METRICS_HOST"] == "0.0.0.0"  # noqa: S104 (the image's setting)
    assert env["CREDENTIALS_DIRECTORY"] == "/etc/spotsched"
    assert env["PATH"].startswith("/opt/spotsched/bin:")
    assert config["User"] == "10001:10001"
    assert config["WorkingDir"] == "/var/lib/spotsched"
    assert set(config["Volumes"]) == {"/var/lib/spotsched"}
    assert set(config["ExposedPorts"]) == {"9464/tcp"}
    assert config["Entrypoint"] == ["spotsched"]
    assert config["Cmd"] == ["run", "--config", "/etc/spotsched/spotsched.toml"]
    health = config["Healthcheck"]
    assert health["Test"][:2] == ["CMD", "python3"]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_healthcheck_command(
    image: BuiltImage, run_in_image: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """The image's HEALTHCHECK command, run in the image against a stand-in /healthz on
    127.0.0.1:9464 (chroot isolation shares the host's network): 200 passes, 503 and no
    server fail."""
    command = image.config["Healthcheck"]["Test"][1:]
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", HEALTH_PORT), _Health)
    except OSError as exc:
        pytest.skip(f"cannot stand in for /healthz: 127.0.0.1:{HEALTH_PORT} is taken ({exc})")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _Health.status = 200
        healthy = run_in_image(*command, timeout=60)
        _Health.status = 503
        unhealthy = run_in_image(*command, timeout=60)
    finally:
        _Health.status = 200
        server.shutdown()
        server.server_close()
        thread.join(10)
    down = run_in_image(*command, timeout=60)
    assert healthy.returncode == 0, healthy.stderr
    assert unhealthy.returncode != 0, "a 503 from /healthz must fail the health check"
    assert down.returncode != 0, "no server must fail the health check"


def test_demo_runs(run_in_image: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """`spotsched demo`: a simulated day against the built-in emulator, no network, no key."""
    help_text = ok(run_in_image("spotsched", "--help"))
    if " demo " not in help_text:
        pytest.skip("`spotsched demo` does not exist in this checkout yet")
    demo_help = ok(run_in_image("spotsched", "demo", "--help"))
    argv = ["spotsched", "demo"]
    if "--fast" in demo_help:
        argv.append("--fast")
    elif "--seconds" in demo_help:
        argv += ["--seconds", "0"]  # the simulated day flat out, not spread over wall time
    if "--json" in demo_help:
        argv.append("--json")
    result = run_in_image(*argv, timeout=600)
    assert result.returncode == 0, f"{argv}\n{tail(result.stdout)}\n{tail(result.stderr)}"
    if "--json" in argv:
        jobs = json.loads(result.stdout)["jobs"]
        assert jobs, result.stdout
        assert all(job["state"] for job in jobs), result.stdout
