"""`RunPodClient`: the production RunPod GraphQL client (the provider port).

Synchronous, over an injected `httpx.Client` (the caller owns base URL, transport and
connection pool); time comes from an injected `Clock`, randomness from an injected
`random.Random`, so retries can be replayed exactly on a `VirtualClock`.

What it guarantees:

- Every call returns frozen `models` values or raises a `errors.RunPodError` subclass that says
  what to do next; no httpx exception or type leaves this package.
- Reads, stop, terminate and volume delete are retried on `TransientError` (capped exponential
  back-off, full jitter, `Retry-After` as a lower bound). Creates (deploy, resume, bid-resume,
  volume, template) are never retried: one that timed out may have succeeded, and only the caller
  can resolve that (by the pod's deterministic name).
- The API key travels only in the `Authorization: Bearer` header, never in the URL, and never
  appears in an exception message, a log line or a repr.
- Answers are bounded: a body over `MAX_BODY_BYTES` (decompressed) is not read further, and
  `parse` checks every value; a bad answer is `MalformedResponse`, never a NaN in a model.
- Inside `with client.deadline(at):` (the reconciler's tick budget) no request starts, and no
  retry waits, past `at`; each request's timeout is cut to the time left. What would pass it
  raises `DeadlineExceeded` instead, before sending anything more.

It does not decide anything (no policy) and never sleeps except between retries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final, TypeVar

import httpx
import structlog

from scheduler import __version__
from scheduler.domain.clock import Clock
from scheduler.runpod import documents, parse
from scheduler.runpod.bounds import read_capped, time_left
from scheduler.runpod.documents import Operation
from scheduler.runpod.errors import (
    AuthenticationError,
    DeadlineExceeded,
    MalformedResponse,
    NotFoundError,
    RunPodError,
    TransientError,
    reworded,
)
from scheduler.runpod.exchange import report_request, request_headers
from scheduler.runpod.inputs import deploy_input, env_input
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
from scheduler.runpod.port import Api, Capabilities
from scheduler.runpod.retry import RetryPolicy
from scheduler.runpod.secret import ApiKey
from scheduler.runpod.translate import error_from_transport, error_kind, root_value

T = TypeVar("T")

DEFAULT_URL: Final = "/graphql"
USER_AGENT: Final = f"spotsched/{__version__}"
DEFAULT_MARKET_COMBOS: Final[tuple[tuple[int, bool | None], ...]] = ((1, True), (1, False))

_log = structlog.get_logger(__name__)

# httpx raises these outside its HTTPError tree; all of them must be translated too.
_HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict)


class RunPodClient:
    """RunPod's GraphQL API as typed, idempotent-where-possible method calls."""

    def __init__(
        self,
        http: httpx.Client,
        api_key: str | None,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing it is safe
        on_request: Callable[[RequestRecord], None] | None = None,
        timeout: float = 30.0,
        url: str = DEFAULT_URL,
    ) -> None:
        target = httpx.URL(url)
        if "api_key" in str(target.params) or "api_key" in str(http.base_url.params):
            raise ValueError("pass the API key as api_key=, never in the URL")
        if target.is_relative_url and not http.base_url.is_absolute_url:
            raise ValueError(f"url {url!r} is relative but the httpx.Client has no base_url")
        self._http = http
        self._url = url
        self._key = ApiKey(api_key) if api_key and api_key.strip() else None
        # `url` merged with the client's base URL, and the base URL it was merged with.
        self._merged: tuple[httpx.URL, httpx.URL] | None = None
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._retry = retry
        self._on_request = on_request
        self._timeout = timeout
        self._deadline: datetime | None = None

    def __repr__(self) -> str:
        key = "'***'" if self._key is not None else "None"
        return f"RunPodClient(url={self._url!r}, api_key={key})"

    # Spot is a capability the reconciler detects from the market and from rejections.
    capabilities: Final = Capabilities.all_on(Api.GRAPHQL)

    @contextmanager
    def deadline(self, at: datetime | None) -> Iterator[None]:
        """Calls inside the block neither start nor wait past `at` (see the module docstring)."""
        previous, self._deadline = self._deadline, at
        try:
            yield
        finally:
            self._deadline = previous

    # ------------------------------------------------------------------ reads

    def market(
        self,
        combos: Sequence[tuple[int, bool | None]] = DEFAULT_MARKET_COMBOS,
        gpu_type_ids: Sequence[str] | None = None,
    ) -> Market:
        """Every GPU type (or those in `gpu_type_ids`) with one `lowestPrice` per
        (gpu_count, secure_cloud) combination.

        `secure_cloud` None asks for both clouds. One request; works without an API key.
        """
        unique = tuple(dict.fromkeys((int(n), s) for n, s in combos))
        if not unique:
            raise ValueError("market() needs at least one (gpu_count, secure_cloud) combination")
        for n, secure in unique:
            if n < 1 or secure not in (True, False, None):
                raise ValueError(f"bad market combination ({n!r}, {secure!r})")
        op = documents.market_operation(len(unique), gpu_type_ids is not None)
        aliases = [documents.market_alias(i) for i in range(len(unique))]
        variables: dict[str, Any] = {}
        if gpu_type_ids is not None:
            variables["types"] = {"ids": sorted(set(gpu_type_ids))}
        for alias, (n, secure) in zip(aliases, unique, strict=True):
            variables[alias] = (
                {"gpuCount": n}
                if secure is None
                else {
                    "gpuCount": n,
                    "secureCloud": secure,
                }
            )
        return self._call(op, variables, lambda v: parse.market(v, unique, aliases))

    def list_pods(self) -> tuple[Pod, ...]:
        """Every pod of the account (any status)."""
        return self._call(
            documents.LIST_PODS,
            {},
            lambda v: parse.pods(_myself(v, documents.LIST_PODS).get("pods")),
        )

    def get_pod(self, pod_id: str) -> Pod | None:
        """One pod, or None if RunPod does not know it (terminated or never existed)."""
        try:
            return self._call(
                documents.GET_POD,
                {"input": {"podId": pod_id}},
                lambda v: None if v is None else parse.pod(v),
            )
        except NotFoundError:
            return None

    def account(self) -> Account:
        """Balance, current spend rate and spend limit."""
        return self._call(
            documents.ACCOUNT, {}, lambda v: parse.account(_myself(v, documents.ACCOUNT))
        )

    def list_network_volumes(self) -> tuple[NetworkVolume, ...]:
        op = documents.LIST_NETWORK_VOLUMES
        return self._call(
            op, {}, lambda v: parse.network_volumes(_myself(v, op).get("networkVolumes"))
        )

    def data_centers(
        self, gpu_count: int = 1, secure_cloud: bool | None = None
    ) -> tuple[DataCenter, ...]:
        """Data centres with per-GPU-type availability for `gpu_count` GPUs. No key needed."""
        availability: dict[str, Any] = {"gpuCount": gpu_count}
        if secure_cloud is not None:
            availability["secureCloud"] = secure_cloud
        return self._call(documents.DATA_CENTERS, {"input": availability}, parse.data_centers)

    # ------------------------------------------------------------------ pod lifecycle

    def deploy(self, req: DeployRequest) -> Pod:
        """Create a pod: spot (`podRentInterruptable`) when `req.bid_per_gpu` is set.

        Never retried. A `TransientError` here means the pod may or may not exist: find it by
        `req.name`. Spot may raise `SpotUnsupportedError`; no capacity or a too-low bid raise
        `CapacityError`.
        """
        op = documents.DEPLOY_SPOT if req.bid_per_gpu is not None else documents.DEPLOY_ON_DEMAND
        return self._call(op, {"input": deploy_input(req)}, parse.pod)

    def stop_pod(self, pod_id: str) -> None:
        """Stop a pod (GPU released, volume kept). Retried; `NotFoundError` if it is gone."""
        self._call(documents.STOP_POD, {"input": {"podId": pod_id}}, _ignore)

    def resume_pod(self, pod_id: str, gpu_count: int) -> Pod:
        """Start a stopped on-demand pod on its original host. Never retried."""
        variables = {"input": {"podId": pod_id, "gpuCount": gpu_count}}
        return self._call(documents.RESUME_POD, variables, parse.pod)

    def bid_resume_pod(self, pod_id: str, bid_per_gpu: float, gpu_count: int) -> Pod:
        """Start (or re-bid) a stopped spot pod at `bid_per_gpu` $/GPU-hour. Never retried."""
        variables = {"input": {"podId": pod_id, "bidPerGpu": bid_per_gpu, "gpuCount": gpu_count}}
        return self._call(documents.BID_RESUME_POD, variables, parse.pod)

    def terminate_pod(self, pod_id: str) -> bool:
        """Delete a pod. True if it was terminated now, False if it was already gone.

        Both mean the pod no longer exists (terminating is idempotent), so this is retried.
        """
        try:
            self._call(documents.TERMINATE_POD, {"input": {"podId": pod_id}}, _ignore)
        except NotFoundError:  # "pod not found to terminate"
            return False
        return True

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
        """Create a pod template (names are unique per account). Never retried."""
        pairs = env.items() if isinstance(env, Mapping) else (env or ())
        template_input: dict[str, Any] = {
            "name": name,
            "imageName": image_name,
            # The SDK always sends these (empty when unset); keep to what production accepts.
            "dockerArgs": docker_args or "",
            "containerDiskInGb": container_disk_gb,
            "volumeInGb": volume_gb,
            "volumeMountPath": volume_mount_path,
            "ports": ports or "",
            "env": env_input(pairs),
            "isServerless": False,
        }
        return self._call(documents.SAVE_TEMPLATE, {"input": template_input}, parse.template)

    def create_network_volume(self, name: str, size_gb: int, data_center_id: str) -> NetworkVolume:
        """Create a network volume. Never retried.

        The data-centre id is upper-cased: dstack found lower-case ids accepted but broken.
        """
        volume_input = {"name": name, "size": size_gb, "dataCenterId": data_center_id.upper()}
        return self._call(
            documents.CREATE_NETWORK_VOLUME, {"input": volume_input}, parse.network_volume
        )

    def delete_network_volume(self, volume_id: str) -> bool:
        """Delete a network volume. True if deleted now, False if it did not exist."""
        try:
            self._call(documents.DELETE_NETWORK_VOLUME, {"input": {"id": volume_id}}, _ignore)
        except NotFoundError:  # "Tried to delete nonexistent network volume"
            return False
        return True

    # ------------------------------------------------------------------ the one request path

    def _call(self, op: Operation, variables: dict[str, Any], parse_root: Callable[[Any], T]) -> T:
        if op.needs_key and self._key is None:
            raise AuthenticationError("no RunPod API key is configured", operation=op.name)
        attempts = self._retry.max_attempts if op.retry else 1
        attempt = 1
        while True:
            timeout = self._time_left(op, "start the request")
            try:
                return self._attempt(op, variables, parse_root, attempt, timeout)
            except TransientError as exc:
                if not op.retry:
                    raise reworded(
                        exc,
                        f"{exc.message}; {op.name} is not retried because it may have "
                        "succeeded: look the resource up by name before creating it again",
                    ) from exc
                if attempt >= attempts:
                    gave_up = f"{exc.message} (gave up after {attempt} attempts)"
                    raise reworded(exc, gave_up) from exc
                delay = self._retry.delay(attempt - 1, self._rng, exc.retry_after)
                self._time_left(op, f"wait {delay:.1f}s to try again", wait=delay, cause=exc)
                # Debug: the caller logs the final failure once, with the attempt count.
                _log.debug(
                    "runpod_request_retry",
                    operation=op.name,
                    attempt=attempt,
                    delay_seconds=round(delay, 3),
                    retry_after=exc.retry_after,
                    error_class=type(exc).__name__,
                )
                self._clock.sleep(delay)
                attempt += 1

    def _time_left(
        self, op: Operation, then: str, *, wait: float = 0.0, cause: Exception | None = None
    ) -> float:
        # `cause` is a RunPodError whose message `_attempt` has already redacted.
        now = self._clock.now()
        return time_left(self._deadline, now, self._timeout, op, then, wait=wait, cause=cause)

    def _past_deadline(self) -> bool:
        return self._deadline is not None and self._clock.now() >= self._deadline

    def _attempt(
        self,
        op: Operation,
        variables: dict[str, Any],
        parse_root: Callable[[Any], T],
        attempt: int,
        timeout: float,
    ) -> T:
        outcome = "ok"
        started = time.perf_counter()
        try:
            try:
                request = self._http.build_request(
                    "POST",
                    self._target(),
                    json={"query": op.document, "variables": variables},
                    headers=request_headers(self._key, USER_AGENT),
                    timeout=timeout,
                )
                response = self._http.send(request, stream=True)
                try:
                    body = read_capped(response, op, self._past_deadline)
                finally:
                    response.close()
            except _HTTPX_ERRORS as exc:
                raise error_from_transport(exc, op) from exc
            value = root_value(response, op, self._clock.now(), body)
            try:
                return parse_root(value)
            except MalformedResponse as exc:
                raise MalformedResponse(
                    f"RunPod answered {op.root} with a malformed value: {exc.message}",
                    operation=op.name,
                    field=f"{op.root}.{exc.field}" if exc.field else op.root,
                ) from exc
        except RunPodError as exc:
            outcome = error_kind(exc)
            if self._key is not None:
                exc.args = (self._key.redact(exc.message), *exc.args[1:])
            raise
        except DeadlineExceeded:
            outcome = "deadline_exceeded"
            raise
        finally:
            report_request(
                self._on_request,
                RequestRecord(op.name, outcome, time.perf_counter() - started, attempt),
            )

    def _target(self) -> httpx.URL | str:
        """The URL to post to: `url` merged with the client's base URL as httpx merges it.

        httpx parses and merges a string URL on every request; the merged URL is kept for as
        long as the client's base URL is the same object. A client with default query params
        gets the plain `url`, so httpx keeps merging those params itself.
        """
        http = self._http
        if http.params:
            return self._url
        base = http.base_url
        if self._merged is None or self._merged[0] is not base:
            self._merged = (base, http.build_request("POST", self._url).url)
        return self._merged[1]


def _myself(value: Any, op: Operation) -> Mapping[str, Any]:
    """`myself`, which RunPod returns as null when the key is missing or invalid."""
    if value is None:
        raise AuthenticationError(
            "RunPod returned no account (myself is null): the API key is missing or invalid",
            operation=op.name,
        )
    if not isinstance(value, Mapping):
        raise MalformedResponse("it is not an object")  # `_attempt` names the field
    return value


def _ignore(value: Any) -> None:
    return None
