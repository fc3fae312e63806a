"""Whole ticks on a virtual clock: the real store, the real RunPod client, the real reconciler,
and the RunPod emulator in-process as the only fake (it stands at the process boundary).

`world` wires a `VirtualClock`, an `Emulator` with a pinned market, an `httpx.Client` over the
emulator's transport, a provider (the GraphQL `RunPodClient`, or with `BOTH_APIS` also the REST
v2 `RestClient`), a migrated `Store` (the shared `engine` fixture) and a `Reconciler`. Tests
submit jobs with `world.submit(...)`, move time only with `world.run(...)` or
`world.run_until(...)`, and look at what a user would see: job states and reasons
(`job_detail`), pods in `emu.state()`, and money.

Tests here run on SQLite; a test decorated with `BOTH_BACKENDS` also runs on PostgreSQL (this
directory narrows the shared `backend` fixture to SQLite unless a test asks for both).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from scheduler.domain.clock import VirtualClock
from scheduler.domain.job import parse_job
from scheduler.emulator import Emulator
from scheduler.policy import PolicyConfig
from scheduler.reconcile import Reconciler, ReconcilerSettings, TickReport
from scheduler.runpod.factory import build_provider
from scheduler.runpod.port import ApiChoice, Provider
from scheduler.store import Store, open_engine

BOTH_BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

# A test decorated with this runs once per RunPod API: GraphQL and REST v2 (which has no spot,
# so its jobs must accept on-demand). `world.creates()` and `world.create_match(kind)` hide the
# difference in request names.
BOTH_APIS = pytest.mark.parametrize("api", ["graphql", "rest"], indirect=True)

BASE_URL = "https://api.runpod.io"
API_KEY = "integration-test-key"
IMAGE = "ghcr.io/acme/train:1"

# The pinned market every test starts from (dollars per GPU-hour). Community cloud is dearer
# than secure cloud on purpose, so a job that accepts both clouds lands on secure, and tests
# can predict every price.
GPU = "NVIDIA A40"
ALT_GPU = "NVIDIA RTX A5000"
FLOOR = 0.20  # A40 secure spot floor (minimumBidPrice)
ON_DEMAND = 0.40  # A40 secure on-demand price
ALT_FLOOR = 0.12
ALT_ON_DEMAND = 0.27
LIMIT = 0.30  # the default job's max_spot_price
REST_ON_DEMAND_LIMIT = 0.45  # the default job's max_on_demand_price on REST v2 (no spot there)
MARGIN = 0.05  # the world's bid_margin


def expected_bid(floor: float, limit: float = LIMIT, margin: float = MARGIN) -> float:
    """DESIGN.md: bid min(limit, floor x (1 + bid_margin)) per GPU, to a tenth of a cent."""
    return round(min(limit, floor * (1 + margin)), 3)


def sim(busy: float | None = None, then: str = "idle", checkpoint: bool = False) -> dict[str, str]:
    """The env of a simulated container: busy `busy` seconds (None: forever), then `then`."""
    env = {"SPOTSCHED_SIM_THEN": then}
    if busy is not None:
        env["SPOTSCHED_SIM_BUSY_SECONDS"] = str(int(busy))
    if checkpoint:
        env["SPOTSCHED_SIM_CHECKPOINT"] = "1"
    return env


class Crash(BaseException):
    """The daemon dies at this instant, like a SIGKILL: nothing after it reaches the database
    (an open transaction is rolled back) or RunPod. Raised through the whole tick."""


class HookedTransport(httpx.BaseTransport):
    """The emulator's transport, plus one-shot callbacks run after a matching request, and
    one-shot crashes of the daemon just before or just after a matching request.

    This is how a test makes the world change between two requests of one tick (RunPod drops
    spot, or a price moves, between the market poll and the create), or kills the daemon
    between committing an intent and making its call, or between the call and its result,
    without touching our code.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self._hooks: list[tuple[str, Callable[[], None]]] = []
        self._crashes: list[tuple[str, bool]] = []

    def after(self, match: str, action: Callable[[], None]) -> None:
        """Run `action` once, after the next request whose GraphQL document contains `match`."""
        self._hooks.append((match, action))

    def crash(self, match: str, *, after: bool) -> None:
        """Kill the daemon once, at the next request whose document contains `match`: before
        RunPod sees it (`after=False`) or once RunPod has carried it out (`after=True`)."""
        self._crashes.append((match, after))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        try:
            document = str(json.loads(body or b"{}").get("query") or "")
        except ValueError:
            document = ""
        crash = next((c for c in self._crashes if c[0] in document), None)
        if crash is not None:
            self._crashes.remove(crash)
            if not crash[1]:
                raise Crash(f"killed before {crash[0]}")
        try:
            response = self.inner.handle_request(request)
        finally:
            for hook in [h for h in self._hooks if h[0] in document]:
                self._hooks.remove(hook)
                hook[1]()
        if crash is not None:
            raise Crash(f"killed after {crash[0]}")
        return response


@dataclasses.dataclass
class World:
    """Everything one scenario needs, and the verbs it uses."""

    clock: VirtualClock
    emu: Emulator
    transport: HookedTransport
    http: httpx.Client
    client: Provider
    engine: Engine
    store: Store
    reconciler: Reconciler
    reports: list[TickReport] = dataclasses.field(default_factory=list)
    engines: list[Engine] = dataclasses.field(default_factory=list)
    api: str = "graphql"

    # -- time ----------------------------------------------------------------------------------
    @property
    def now(self) -> Any:
        return self.clock.now()

    def elapsed(self) -> float:
        """Virtual seconds since the world was built."""
        return (self.clock.now() - self.emu.world.origin).total_seconds()

    def tick(self) -> TickReport:
        report = self.reconciler.tick(self.clock.now())
        self.reports.append(report)
        return report

    def run(self, ticks: int, every: float = 60.0) -> TickReport:
        """`ticks` times: move the clock on by `every` seconds, then tick. The last report."""
        assert ticks >= 1
        report = None
        for _ in range(ticks):
            self.clock.advance(every)
            report = self.tick()
        assert report is not None
        return report

    def run_until(
        self, done: Callable[[], bool], every: float = 60.0, limit: int = 100
    ) -> TickReport:
        """Tick every `every` seconds until `done()`; fails after `limit` ticks."""
        for _ in range(limit):
            report = self.run(1, every)
            if done():
                return report
        raise AssertionError(f"not done after {limit} ticks of {every}s")

    # -- jobs ----------------------------------------------------------------------------------
    def submit(self, name: str = "job", *, env: dict[str, str] | None = None, **fields: Any) -> int:
        """A job through `parse_job` (the CLI/TOML path): A40, secure cloud, spot limit $0.30
        (and on REST v2, which has no spot, an on-demand limit of $0.45)."""
        raw: dict[str, Any] = {
            "name": name,
            "image": IMAGE,
            "gpu_types": [GPU],
            "cloud_type": "SECURE",
            "max_spot_price": LIMIT,
        }
        if env is not None:
            raw["env"] = env
        if self.api == "rest":  # no spot on REST v2: the job must accept on-demand to run
            raw["max_on_demand_price"] = REST_ON_DEMAND_LIMIT
        raw.update(fields)
        return self.store.submit(parse_job(raw), self.clock.now(), "test")

    def job(self, job_id: int) -> dict[str, Any]:
        return self.store.job_detail(job_id)

    def state(self, job_id: int) -> str:
        return str(self.store.job_detail(job_id)["state"])

    def attempts(self, job_id: int) -> list[dict[str, Any]]:
        return list(self.store.job_detail(job_id)["attempts"])

    def cancel(self, job_id: int) -> None:
        self.store.request_cancel(job_id, self.clock.now())

    def sql(self, query: str, **params: Any) -> list[Any]:
        with self.engine.begin() as conn:
            result = conn.execute(text(query), params)
            return list(result.all()) if result.returns_rows else []

    # -- pods, as the emulator sees them -------------------------------------------------------
    def all_pods(self) -> list[dict[str, Any]]:
        """Every pod the emulator ever had, terminated ones included (desiredStatus TERMINATED)."""
        return list(self.emu.state()["pods"])

    def pods(self) -> list[dict[str, Any]]:
        """Pods that still exist (RUNNING or EXITED)."""
        return [p for p in self.all_pods() if p["desiredStatus"] != "TERMINATED"]

    def pod(self, pod_id: str) -> dict[str, Any]:
        return next(p for p in self.all_pods() if p["id"] == pod_id)

    def job_pods(self, job_id: int) -> list[dict[str, Any]]:
        """Existing pods named for this job by this installation."""
        prefix = f"spotsched-{self.installation}-{job_id}-"
        return [p for p in self.pods() if p["name"].startswith(prefix)]

    @property
    def installation(self) -> str:
        """This database's installation id, as its pod names carry it."""
        return self.store.installation(self.clock.now())

    def pod_name(self, job_id: int, number: int) -> str:
        """The name this installation gives the job's n-th pod."""
        return f"spotsched-{self.installation}-{job_id}-{number}"

    def running_pods(self) -> list[dict[str, Any]]:
        return [p for p in self.pods() if p["desiredStatus"] == "RUNNING"]

    def requests(self) -> int:
        return int(self.emu.state()["requests"]["total"])

    @property
    def launch_kind(self) -> str:
        """What a default job launches as: spot on GraphQL, on-demand on REST v2 (no spot)."""
        return "on_demand" if self.api == "rest" else "spot"

    @property
    def list_match(self) -> str:
        """The fault `match` of the pod list on this world's API."""
        return "listPods" if self.api == "rest" else "ListPods"

    @property
    def market_match(self) -> str:
        """The fault `match` of the market poll on this world's API."""
        return "listGpuTypes" if self.api == "rest" else "gpuTypes"

    def create_match(self, kind: str = "on_demand") -> str:
        """The fault `match` of a pod create of `kind` on this world's API."""
        if self.api == "rest":
            return "createPod"
        return "podRentInterruptable" if kind == "spot" else "podFindAndDeployOnDemand"

    def creates(self, kind: str | None = None) -> int:
        """Pod creates of `kind` (default: `launch_kind`) RunPod received over this world's API."""
        match = self.create_match(kind or self.launch_kind)
        return int(self.emu.state()["requests"]["byField"].get(match, 0))

    # -- the daemon ----------------------------------------------------------------------------
    def set_policy(self, **changes: Any) -> None:
        """Change the policy between ticks, as a config reload does."""
        self.reconciler.policy = dataclasses.replace(self.reconciler.policy, **changes)

    def run_until_crash(
        self, match: str, *, after: bool, every: float = 60.0, limit: int = 60, down: float = 0.0
    ) -> None:
        """Tick every `every` seconds until the daemon is killed at `match`, keep it down for
        `down` seconds (RunPod and the clock go on), then restart it."""
        self.transport.crash(match, after=after)
        for _ in range(limit):
            self.clock.advance(every)
            try:
                self.tick()
            except Crash:
                break
        else:
            raise AssertionError(f"no {match} request in {limit} ticks")
        if down:
            self.clock.advance(down)
        self.restart()

    def restart(self, api: str | None = None) -> None:
        """A daemon restart: new engine, store and reconciler (empty memories) on the same
        database; RunPod (the emulator) and the clock carry on. `api` switches the RunPod API
        (`[runpod] api` changed in the configuration before the restart)."""
        if api is not None:
            self.api = api
            self.client = build_provider(api, self.http, API_KEY, clock=self.clock)
        url = self.engine.url.render_as_string(hide_password=False)
        engine = open_engine(url)
        self.engines.append(engine)
        self.engine = engine
        self.store = Store(engine)
        self.reconciler = Reconciler(
            self.store, self.client, self.reconciler.policy, self.reconciler.settings
        )


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite unless the test is decorated with `BOTH_BACKENDS`."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def api(request: pytest.FixtureRequest) -> str:
    """The RunPod API: GraphQL unless the test is decorated with `BOTH_APIS`."""
    return str(getattr(request, "param", ApiChoice.GRAPHQL.value))


@pytest.fixture
def policy() -> PolicyConfig:
    """The world's policy: defaults except for a bid margin the tests compute with."""
    return PolicyConfig(
        bid_margin=MARGIN,
        launch_grace=90.0,
        resume_wait=600.0,
        orphan_grace=300.0,
    )


def pin_market(emu: Emulator) -> None:
    emu.set_market(GPU, "SECURE", spot_price=FLOOR, on_demand_price=ON_DEMAND, stock=16)
    emu.set_market(GPU, "COMMUNITY", spot_price=0.33, on_demand_price=0.60, stock=16)
    emu.set_market(ALT_GPU, "SECURE", spot_price=ALT_FLOOR, on_demand_price=ALT_ON_DEMAND, stock=16)
    emu.set_market(ALT_GPU, "COMMUNITY", spot_price=0.25, on_demand_price=0.45, stock=16)


def build_world(
    engine: Engine, clock: VirtualClock, policy: PolicyConfig, api: str = "graphql"
) -> World:
    """A world on this database; `close_world` when done."""
    emu = Emulator(clock, seed=11, api_key=API_KEY, startup_delay=20.0)
    pin_market(emu)
    transport = HookedTransport(emu.transport())
    http = httpx.Client(transport=transport, base_url=BASE_URL)
    client = build_provider(api, http, API_KEY, clock=clock)
    store = Store(engine)
    reconciler = Reconciler(store, client, policy, ReconcilerSettings(price_sample_interval=300.0))
    return World(clock, emu, transport, http, client, engine, store, reconciler, api=api)


def close_world(w: World) -> None:
    w.http.close()
    for extra in w.engines:
        extra.dispose()


@pytest.fixture
def world(engine: Engine, clock: VirtualClock, policy: PolicyConfig, api: str) -> Iterator[World]:
    w = build_world(engine, clock, policy, api)
    try:
        yield w
    finally:
        close_world(w)
