"""How long and how much one RunPod exchange may take: a deadline and a body size cap.

Why: a hung or hostile API must not hold a tick past the systemd watchdog, nor make the daemon
read a gigabyte. The client asks `time_left` before each request and each retry wait, and reads
bodies through `read_capped`.

Pure arithmetic and reading of an already opened response: no clock reads of its own (the
caller passes `now`), no sleeping, no logging.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

import httpx

from scheduler.runpod.documents import Operation
from scheduler.runpod.errors import DeadlineExceeded, MalformedResponse

MAX_BODY_BYTES: Final = 16 * 1024 * 1024
"""The largest answer read (after decompression); a large account's pod list is under 1 MiB."""
MIN_REQUEST_TIMEOUT: Final = 0.05


def time_left(
    deadline: datetime | None,
    now: datetime,
    timeout: float,
    op: Operation,
    then: str,
    *,
    wait: float = 0.0,
    cause: Exception | None = None,
) -> float:
    """The request timeout to use: `timeout` cut to what is left before `deadline` once `wait`
    more seconds have passed; `DeadlineExceeded` (saying what could not be done: `then`) if
    nothing is left."""
    if deadline is None:
        return timeout
    left = (deadline - now).total_seconds() - wait
    if left <= 0:
        why = f" after {type(cause).__name__}: {cause}" if cause is not None else ""
        raise DeadlineExceeded(
            f"no time left in the budget to {then} ({op.name}){why}", operation=op.name
        ) from cause
    return max(MIN_REQUEST_TIMEOUT, min(timeout, left))


def too_large(op: Operation) -> MalformedResponse:
    return MalformedResponse(
        f"RunPod answered {op.root} with a body over {MAX_BODY_BYTES // (1024 * 1024)} MiB",
        operation=op.name,
        field=op.root,
    )


def read_capped(
    response: httpx.Response, op: Operation, past_deadline: Callable[[], bool]
) -> bytes:
    """The (decompressed) body of a streamed response, refusing to read past `MAX_BODY_BYTES`
    or, chunk by chunk, past the deadline (a server dripping a byte at a time)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large(op)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large(op)
        chunks.append(chunk)
        if past_deadline():
            raise DeadlineExceeded(
                f"no time left in the budget to read RunPod's answer ({op.name})",
                operation=op.name,
            )
    return b"".join(chunks)
