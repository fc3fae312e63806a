"""One request path for REST v2: Bearer header, our User-Agent, rate limits, retries, pages.

- The key travels only in `Authorization: Bearer` (never the URL) and is scrubbed from every
  error message; a User-Agent of our own is always sent (Cloudflare answers Python's default
  with an HTML 403, reference §1.2).
- 429: wait `Retry-After` and try again, for any operation (a refused request was not executed);
  one call waits at most `RetryPolicy.max_retry_after` in all, so a longer wait fails fast. A
  `RateLimit` header saying a window is empty pauses the next request the same way, unsent.
- 5xx, 408, timeouts and connection errors are retried with capped, jittered back-off only for
  operations marked `retry` (reads, deletes, stop). A create never is: see `client.deploy`.
- Lists follow `pagination.nextCursor` until `hasNextPage` is false; an answer without
  `pagination` is a single page (the 2026-08-18 spec); a repeated cursor or more than
  `MAX_PAGES` pages is a malformed answer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

import httpx
import structlog

from scheduler import __version__
from scheduler.domain.clock import Clock
from scheduler.runpod.bounds import time_left
from scheduler.runpod.errors import AuthenticationError, RunPodError, TransientError, reworded
from scheduler.runpod.exchange import report_request, request_headers
from scheduler.runpod.models import RequestRecord
from scheduler.runpod.parse import MalformedResponse
from scheduler.runpod.rest import problems
from scheduler.runpod.rest.ratelimit import RateLimitState
from scheduler.runpod.retry import RetryPolicy
from scheduler.runpod.secret import ApiKey
from scheduler.runpod.translate import error_kind

T = TypeVar("T")

USER_AGENT: Final = f"spotsched/{__version__} (rest-v2)"
DEFAULT_BASE: Final = "/v2"
MAX_PAGES: Final = 200
PAGE_LIMIT: Final = 1000

_log = structlog.get_logger(__name__)
_HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpx.CookieConflict)


@dataclass(frozen=True, slots=True)
class RestOp:
    """One v2 operation: its `operationId`, method, and whether a failure may be retried."""

    name: str
    method: str
    retry: bool
    create: bool = False


class RestHttp:
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
        base_url: str = DEFAULT_BASE,
        page_size: int = PAGE_LIMIT,
    ) -> None:
        base = httpx.URL(base_url)
        if "api_key" in str(base.params):
            raise ValueError("pass the API key as api_key=, never in the URL")
        if base.is_relative_url and not http.base_url.is_absolute_url:
            raise ValueError(f"url {base_url!r} is relative but the httpx.Client has no base_url")
        self._http = http
        self._base = base_url.rstrip("/")
        self._key = ApiKey(api_key) if api_key and api_key.strip() else None
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._retry = retry
        self._on_request = on_request
        self._timeout = timeout
        self.limits = RateLimitState()
        self._page_size = str(page_size)
        self._deadline: datetime | None = None

    @contextmanager
    def deadline(self, at: datetime | None) -> Iterator[None]:
        """Calls inside the block neither start nor wait past `at` (a tick's time budget)."""
        previous, self._deadline = self._deadline, at
        try:
            yield
        finally:
            self._deadline = previous

    def _time_left(
        self, op: RestOp, then: str, *, wait: float = 0.0, cause: Exception | None = None
    ) -> float:
        """The request timeout to use, cut to the budget; `DeadlineExceeded` when none is left."""
        now = self._clock.now()
        return time_left(self._deadline, now, self._timeout, op, then, wait=wait, cause=cause)

    @property
    def base_url(self) -> str:
        return self._base

    def call(
        self,
        op: RestOp,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """The JSON answer (None for 204), or the translated error after bounded retries."""
        if self._key is None:
            raise AuthenticationError(
                "no RunPod API key is configured (REST v2 needs one for every call)",
                operation=op.name,
            )
        attempt, slept = 1, 0.0
        while True:
            try:
                self._pause(op)
                return self._attempt(op, path, params, body, attempt)
            except TransientError as exc:
                rate_limited = isinstance(exc, problems.RateLimitedError)
                if not (op.retry or rate_limited):
                    raise
                if attempt >= self._retry.max_attempts:
                    raise reworded(
                        exc, f"{exc.message} (gave up after {attempt} attempts)"
                    ) from exc
                delay = self._retry.delay(attempt - 1, self._rng, exc.retry_after)
                if (exc.retry_after or 0.0) > self._retry.max_retry_after or (
                    slept + delay > self._retry.max_retry_after
                ):
                    raise  # one call never waits longer than max_retry_after in all
                self._time_left(op, "retry", wait=delay, cause=exc)
                slept += delay
                # Debug: the caller logs the final failure once, with the attempt count.
                _log.debug(
                    "runpod_request_retry",
                    operation=op.name,
                    attempt=attempt,
                    delay_seconds=round(delay, 3),
                    retry_after=exc.retry_after,
                )
                self._clock.sleep(delay)
                attempt += 1

    def pages(
        self, op: RestOp, path: str, member: str, params: Mapping[str, str] | None = None
    ) -> list[Any]:
        """Every item of a (possibly paginated) list answer."""
        out: list[Any] = []
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            query = dict(params or {}) | {"limit": self._page_size}
            if cursor is not None:
                query["cursor"] = cursor
            body = self.call(op, path, params=query)
            if not isinstance(body, dict) or not isinstance(body.get(member), list):
                raise self._malformed(op, f"the answer has no list {member!r}")
            out.extend(body[member])
            pagination = body.get("pagination")
            if not isinstance(pagination, dict) or pagination.get("hasNextPage") is not True:
                return out
            cursor = pagination.get("nextCursor")
            if not isinstance(cursor, str) or not cursor or cursor in seen or len(cursor) > 4096:
                raise self._malformed(op, "pagination.nextCursor is missing or repeats")
            seen.add(cursor)
        raise self._malformed(op, f"more than {MAX_PAGES} pages")

    def _malformed(self, op: RestOp, what: str) -> TransientError:
        return TransientError(
            f"RunPod answered {op.name} in an unexpected shape: {what}", operation=op.name
        )

    def _pause(self, op: RestOp) -> None:
        wait = self.limits.wait(self._clock.now())
        if wait <= 0:
            return
        if wait > self._retry.max_retry_after:
            raise TransientError(
                f"RunPod's {self.limits.window} rate-limit window is used up; it resets in "
                f"{wait:.0f}s (not sent)",
                operation=op.name,
                retry_after=wait,
            )
        self._time_left(op, "wait for the rate-limit window", wait=wait)
        _log.info("runpod_rate_limit_pause", operation=op.name, seconds=round(wait, 3))
        self._clock.sleep(wait)

    def _attempt(
        self,
        op: RestOp,
        path: str,
        params: Mapping[str, str] | None,
        body: Mapping[str, Any] | None,
        attempt: int,
    ) -> Any:
        timeout = self._time_left(op, "send")
        outcome = "ok"
        started = time.perf_counter()
        try:
            try:
                response = self._http.request(
                    op.method,
                    f"{self._base}{path}",
                    params=dict(params) if params else None,
                    json=dict(body) if body is not None else None,
                    headers=request_headers(self._key, USER_AGENT),
                    timeout=timeout,
                )
            except _HTTPX_ERRORS as exc:
                raise problems.transport_error(exc, op.name) from exc
            now = self._clock.now()
            if self.limits.observe(
                response.headers.get("ratelimit"), response.headers.get("ratelimit-policy"), now
            ):
                _log.info("runpod_rate_limit_policy", policy=self.limits.policy)
            if not response.is_success:
                raise problems.error_for(response, op.name, create=op.create, now=now)
            if response.status_code == httpx.codes.NO_CONTENT or not response.content:
                return None
            return problems.json_body(response, op.name)
        except RunPodError as exc:
            outcome = error_kind(exc)
            if self._key is not None:
                exc.args = (self._key.redact(exc.message), *exc.args[1:])
            raise
        finally:
            report_request(
                self._on_request,
                RequestRecord(op.name, outcome, time.perf_counter() - started, attempt),
            )


def shape(op: RestOp, parse: Callable[[Any], T], value: Any) -> T:
    """`parse(value)`, a malformed answer turned into a transient error of `op`."""
    try:
        return parse(value)
    except MalformedResponse as exc:
        raise TransientError(
            f"RunPod answered {op.name} in an unexpected shape: {exc}", operation=op.name
        ) from exc
