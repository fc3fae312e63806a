"""`RestClient`: RunPod's REST API v2 behind the provider port (`port.Provider`).

Same methods, values and errors as the GraphQL `RunPodClient`; what v2 lacks is reported:
`capabilities` has no spot, bid-resume or balance; `deploy` with a bid and `bid_resume_pod` raise
`SpotUnsupportedError`; `account()` raises `UnsupportedError`.

Placement (what v2 makes possible): `market()` keeps the catalogue's stock per data center, and
`deploy` creates with `dataCenterIds` — the network volume's data center for a job with a volume,
the job's data center if it names one, else the data centers that list stock for that GPU type,
count and cloud, best stock first (HIGH, MEDIUM, LOW; at most `MAX_PLACEMENTS` tries). A 400
capacity answer or a 403 for that pool moves to the next data center (stock is advisory, so a
create right after "available" failing is the norm); anything else ends the create.

A create is never retried blindly (v2 has no idempotency key and names are not unique): after a
timeout, a 5xx or an unreadable answer, the client lists the pods and returns the one with the
request's name if RunPod made it; otherwise the outcome is unknown (`TransientError`) and the
reconciler adopts the pod by name on a later tick or gives the launch up.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import httpx
import structlog

from scheduler.domain.clock import Clock
from scheduler.runpod.errors import (
    CapacityError,
    ConflictError,
    NotFoundError,
    SpotUnsupportedError,
    TransientError,
    UnsupportedError,
)
from scheduler.runpod.models import (
    Account,
    DataCenter,
    DeployRequest,
    Market,
    NetworkVolume,
    Pod,
    RequestRecord,
    Template,
)
from scheduler.runpod.port import Api, Capabilities, Capability
from scheduler.runpod.rest import wire
from scheduler.runpod.rest.http import DEFAULT_BASE, PAGE_LIMIT, RestHttp, RestOp, shape
from scheduler.runpod.retry import RetryPolicy

DEFAULT_MARKET_COMBOS: Final[tuple[tuple[int, bool | None], ...]] = ((1, True), (1, False))
MAX_PLACEMENTS: Final = 4
MIN_PERSISTENT_GB: Final = 10  # v2's floor for mounts.persistent.size
SPOT_ABSENT: Final = "spot (interruptible) pods are not available on RunPod's REST API v2"

LIST_PODS = RestOp("listPods", "GET", retry=True)
GET_POD = RestOp("getPod", "GET", retry=True)
CREATE_POD = RestOp("createPod", "POST", retry=False, create=True)
DELETE_POD = RestOp("deletePod", "DELETE", retry=True)
STOP_POD = RestOp("podAction", "POST", retry=True)  # stopping twice changes nothing
START_POD = RestOp("podAction", "POST", retry=False)
GPU_TYPES = RestOp("listGpuTypes", "GET", retry=True)
DATA_CENTERS = RestOp("listDataCenters", "GET", retry=True)
LIST_VOLUMES = RestOp("listNetworkVolumes", "GET", retry=True)
GET_VOLUME = RestOp("getNetworkVolume", "GET", retry=True)
CREATE_VOLUME = RestOp("createNetworkVolume", "POST", retry=False)
DELETE_VOLUME = RestOp("deleteNetworkVolume", "DELETE", retry=True)
CREATE_TEMPLATE = RestOp("createTemplate", "POST", retry=False)

_log = structlog.get_logger(__name__)


def _id(value: str) -> str:
    return quote(value, safe="")


class RestClient:
    """RunPod's REST API v2 as the provider port."""

    capabilities: Final = Capabilities.all_on(
        Api.REST, absent=(Capability.SPOT, Capability.BID_RESUME, Capability.BALANCE)
    )

    def __init__(
        self,
        http: httpx.Client,
        api_key: str | None,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen
        on_request: Callable[[RequestRecord], None] | None = None,
        timeout: float = 30.0,
        url: str = DEFAULT_BASE,
        page_size: int = PAGE_LIMIT,
    ) -> None:
        self._rest = RestHttp(
            http,
            api_key,
            clock=clock,
            rng=rng,
            retry=retry,
            on_request=on_request,
            timeout=timeout,
            base_url=url,
            page_size=page_size,
        )
        # (gpu type, count, secure) -> data centers listing stock, best first.
        self._stock: dict[tuple[str, int, bool], tuple[str, ...]] = {}

    def deadline(self, at: datetime | None) -> AbstractContextManager[None]:
        """Calls inside the block neither start nor wait past `at` (a tick's time budget)."""
        return self._rest.deadline(at)

    def __repr__(self) -> str:
        return f"RestClient(url={self._rest.base_url!r}, api_key='***')"

    # ------------------------------------------------------------------ reads

    def market(
        self,
        combos: Sequence[tuple[int, bool | None]] = DEFAULT_MARKET_COMBOS,
        gpu_type_ids: Sequence[str] | None = None,
    ) -> Market:
        """On-demand list prices and stock from the GPU catalogue: one request per
        (GPU count, cloud) asked (`secure_cloud` None asks both clouds). No spot prices."""
        unique = tuple(dict.fromkeys((int(n), s) for n, s in combos))
        if not unique:
            raise ValueError("market() needs at least one (gpu_count, secure_cloud) combination")
        for n, secure in unique:
            if n < 1 or secure not in (True, False, None):
                raise ValueError(f"bad market combination ({n!r}, {secure!r})")
        asks = dict.fromkeys(
            (n, s) for n, secure in unique for s in ((True, False) if secure is None else (secure,))
        )
        answers = []
        for n, secure in asks:
            params = {
                "include": "AVAILABILITY",
                "product": "POD",
                "count": str(n),
                "cloud": "SECURE" if secure else "COMMUNITY",
            }
            body = self._rest.call(GPU_TYPES, "/catalog/gpus", params=params)
            gpus = shape(GPU_TYPES, wire.gpus, body)
            for g in gpus:
                ranked = sorted(
                    (d for d in g.dataCenters if d.availability in wire.STOCK_RANK),
                    key=lambda d: wire.STOCK_RANK[d.availability],
                )
                self._stock[(g.id, n, secure)] = tuple(d.id for d in ranked)
            answers.append((n, secure, gpus))
        return shape(GPU_TYPES, lambda a: wire.market(a, unique, gpu_type_ids), answers)

    def list_pods(self) -> tuple[Pod, ...]:
        """Every pod of the account (terminated pods are not listed by v2)."""
        raw = self._rest.pages(LIST_PODS, "/pods", "pods")
        return shape(LIST_PODS, lambda r: tuple(wire.pod(p) for p in r), raw)

    def get_pod(self, pod_id: str) -> Pod | None:
        try:
            body = self._rest.call(GET_POD, f"/pods/{_id(pod_id)}")
        except NotFoundError:
            return None
        return shape(GET_POD, wire.pod, body)

    def account(self) -> Account:
        raise UnsupportedError(
            "the account balance is not available on RunPod's REST API v2", operation="account"
        )

    def list_network_volumes(self) -> tuple[NetworkVolume, ...]:
        raw = self._rest.pages(LIST_VOLUMES, "/network-volumes", "networkVolumes")
        return shape(LIST_VOLUMES, lambda r: tuple(wire.network_volume(v) for v in r), raw)

    def data_centers(
        self, gpu_count: int = 1, secure_cloud: bool | None = None
    ) -> tuple[DataCenter, ...]:
        """Data centers with their stock per GPU type (v2 computes it for one GPU, any cloud)."""
        params = {"include": "GPU_AVAILABILITY"}
        body = self._rest.call(DATA_CENTERS, "/catalog/datacenters", params=params)
        return shape(DATA_CENTERS, wire.data_centers, body)

    # ------------------------------------------------------------------ pod lifecycle

    def deploy(self, req: DeployRequest) -> Pod:
        if req.bid_per_gpu is not None:
            raise SpotUnsupportedError(SPOT_ABSENT, operation="createPod")
        body = create_body(req)
        places = self._placements(req)
        last: CapacityError | None = None
        for place in places[:MAX_PLACEMENTS]:
            if place is not None:
                body["dataCenterIds"] = [place]
            try:
                return self._create_once(req.name, body)
            except CapacityError as exc:  # no capacity there, or the pool is forbidden
                _log.info("runpod_placement_refused", data_center=place, error=exc.message)
                last = exc
        assert last is not None
        raise last

    def _placements(self, req: DeployRequest) -> list[str | None]:
        if req.network_volume_id is not None:
            volume = self._volume(req.network_volume_id)
            if volume.data_center_id:
                return [volume.data_center_id]
        if req.data_center_id is not None:
            return [req.data_center_id.upper()]
        secure = req.cloud_type != "COMMUNITY"
        ranked = self._stock.get((req.gpu_type_id, req.gpu_count, secure))
        return list(ranked) if ranked else [None]

    def _volume(self, volume_id: str) -> NetworkVolume:
        body = self._rest.call(GET_VOLUME, f"/network-volumes/{_id(volume_id)}")
        return shape(GET_VOLUME, wire.network_volume, body)

    def _create_once(self, name: str, body: dict[str, Any]) -> Pod:
        try:
            answer = self._rest.call(CREATE_POD, "/pods", body=body)
            return shape(CREATE_POD, wire.pod, answer)
        except TransientError as exc:
            found = self._find_created(name)
            if found is not None:
                _log.warning("runpod_create_adopted", pod_id=found.id, error=exc.message)
                return found
            raise TransientError(
                f"{exc.message}; createPod is not retried (no idempotency key): no pod named "
                "like the request is listed yet, so the reconciler adopts it by name later or "
                "gives the launch up",
                operation=CREATE_POD.name,
                retry_after=exc.retry_after,
            ) from exc

    def _find_created(self, name: str) -> Pod | None:
        try:
            pods = self.list_pods()
        except TransientError:
            return None
        mine = [p for p in pods if p.name == name and p.desired_status != "TERMINATED"]
        return mine[-1] if len(mine) == 1 else None

    def stop_pod(self, pod_id: str) -> None:
        """Stop a pod. A pod that is already stopped counts as stopped; 409 otherwise
        (locked, or a status that cannot stop) is `ConflictError`."""
        try:
            self._action(pod_id, "stop", STOP_POD)
        except ConflictError:
            pod = self.get_pod(pod_id)
            if pod is None:
                raise NotFoundError("pod not found", operation=STOP_POD.name) from None
            if pod.desired_status != "EXITED":
                raise

    def resume_pod(self, pod_id: str, gpu_count: int) -> Pod:
        """Start a stopped pod on its host (v2 cannot change the GPU count). Never retried."""
        return self._action(pod_id, "start", START_POD)

    def bid_resume_pod(self, pod_id: str, bid_per_gpu: float, gpu_count: int) -> Pod:
        raise SpotUnsupportedError(SPOT_ABSENT, operation="podBidResume")

    def terminate_pod(self, pod_id: str) -> bool:
        """Delete a pod: True if deleted now, False if it was already gone."""
        try:
            self._rest.call(DELETE_POD, f"/pods/{_id(pod_id)}")
        except NotFoundError:
            return False
        return True

    def _action(self, pod_id: str, action: str, op: RestOp) -> Pod:
        answer = self._rest.call(op, f"/pods/{_id(pod_id)}/action", body={"action": action})
        return shape(op, wire.pod, answer)

    # ------------------------------------------------------------------ templates, volumes

    def save_template(
        self,
        name: str,
        image_name: str,
        *,
        docker_args: str | None = None,
        container_disk_gb: int = 10,
        volume_gb: int = 0,
        volume_mount_path: str = "/workspace",
        ports: str | None = None,
        env: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> Template:
        pairs = env.items() if isinstance(env, Mapping) else (env or ())
        body: dict[str, Any] = {
            "name": name,
            "image": image_name,
            "disk": container_disk_gb,
            "env": dict(pairs),
            "ports": _ports(ports),
        }
        if docker_args:
            body["args"] = docker_args
        if volume_gb:
            size = max(volume_gb, MIN_PERSISTENT_GB)
            body["mounts"] = {"persistent": {"size": size, "path": volume_mount_path}}
        answer = self._rest.call(CREATE_TEMPLATE, "/templates", body=body)
        return shape(CREATE_TEMPLATE, wire.template, answer)

    def create_network_volume(self, name: str, size_gb: int, data_center_id: str) -> NetworkVolume:
        body = {"name": name, "size": size_gb, "dataCenter": data_center_id.upper()}
        answer = self._rest.call(CREATE_VOLUME, "/network-volumes", body=body)
        return shape(CREATE_VOLUME, wire.network_volume, answer)

    def delete_network_volume(self, volume_id: str) -> bool:
        try:
            self._rest.call(DELETE_VOLUME, f"/network-volumes/{_id(volume_id)}")
        except NotFoundError:
            return False
        return True


def _ports(ports: str | None) -> list[str]:
    return [p.strip() for p in (ports or "").split(",") if p.strip()]


def create_body(req: DeployRequest) -> dict[str, Any]:
    """The closed `CreatePodRequest` for `req` (field renames: reference §4)."""
    body: dict[str, Any] = {
        "name": req.name,
        "image": req.image_name,
        "gpu": {"id": req.gpu_type_id, "count": req.gpu_count},
        "disk": req.container_disk_gb,
    }
    if req.cloud_type in ("SECURE", "COMMUNITY"):
        body["cloud"] = req.cloud_type  # v2 has no ALL; omitted means SECURE
    if req.ports:
        body["ports"] = _ports(req.ports)
    if req.docker_args:
        body["args"] = req.docker_args
    if req.env:
        body["env"] = dict(req.env)
    if req.network_volume_id is not None:
        body["mounts"] = {
            "network": [{"volumeId": req.network_volume_id, "path": req.volume_mount_path}]
        }
    elif req.volume_gb:
        size = max(req.volume_gb, MIN_PERSISTENT_GB)
        body["mounts"] = {"persistent": {"size": size, "path": req.volume_mount_path}}
    return body
