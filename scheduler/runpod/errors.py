"""RunPod errors, translated at the boundary into what the caller does next.

- `TransientError`: try again later (5xx, timeouts, connection errors, non-JSON bodies, 429).
  - `MalformedResponse`: RunPod answered, but with something the API cannot mean (a NaN or
    negative price, a NUL byte, a million pods, a body over the size cap, nesting without end);
    the whole answer is dropped and the request failed like a transient one.
- `CapacityError`: no GPU for that request (or a spot bid under the floor): policy input.
- `NotFoundError`: the pod/volume is gone.
- `SpotUnsupportedError`: the API no longer knows spot: switch to on-demand only.
- `RejectedError`: the request itself is wrong (validation) or refused: fail the attempt.
- `AuthenticationError`: the key is missing, invalid or lacks permission: stop and alert.
- `InsufficientBalanceError` (REST v2 402): the account cannot pay for a pod: stop launching.
- `PoolForbiddenError` (REST v2 403 on a create): this account may not use that pool: skip it.
- `ConflictError` (REST v2 409): the action is not legal for the pod's status right now.
- `UnsupportedError`: the API answering has no such capability (e.g. a balance on REST v2).

Messages never contain the API key; they carry RunPod's own message text.

`DeadlineExceeded` is not a `RunPodError`: it is the caller's own time budget (a tick's) running
out, raised before anything more is sent, and it passes through handlers of RunPod errors so
that the caller's loop ends instead of trying the next call.
"""

from __future__ import annotations

import copy

from scheduler.domain.errors import SpotschedError


class RunPodError(SpotschedError):
    """RunPod returned an error."""

    def __init__(self, message: str | None = None, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation


class TransientError(RunPodError):
    """RunPod is unreachable or failing right now; try again later."""

    def __init__(
        self,
        message: str | None = None,
        *,
        operation: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, operation=operation)
        self.retry_after = retry_after


class MalformedResponse(TransientError):
    """RunPod's answer is malformed: out of bounds, of the wrong type or too large."""

    def __init__(
        self,
        message: str | None = None,
        *,
        operation: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, operation=operation, retry_after=retry_after)
        self.field = field


class CapacityError(RunPodError):
    """No GPU is available for that request right now (or the spot bid is under the floor)."""


class NotFoundError(RunPodError):
    """RunPod does not know that resource (any more)."""


class UnsupportedError(RunPodError):
    """The API in use has no such capability (REST v2 has no spot, bid-resume or balance)."""


class SpotUnsupportedError(UnsupportedError):
    """RunPod rejected the spot (interruptible) request as unsupported."""


class RejectedError(RunPodError):
    """RunPod rejected the request."""


class AuthenticationError(RunPodError):
    """RunPod rejected the API key (missing, invalid, or without permission)."""


class DeadlineExceeded(SpotschedError):
    """The time budget for these RunPod calls ran out; nothing more was sent."""

    def __init__(self, message: str | None = None, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.operation = operation


class InsufficientBalanceError(RunPodError):
    """RunPod refused a create for lack of credit (REST v2: HTTP 402): stop launching, alert."""


class PoolForbiddenError(CapacityError):
    """RunPod refused this account the requested pool (REST v2: HTTP 403 on a create): the
    offer is out of reach, like one without capacity; other offers may work."""


class ConflictError(RejectedError):
    """The action is not legal for the pod's current status (REST v2: HTTP 409)."""


def reworded(exc: TransientError, message: str) -> TransientError:
    """`exc` (same class, same fields, e.g. a `MalformedResponse`'s path) with a new message."""
    new = copy.copy(exc)
    new.args = (message, *exc.args[1:])
    return new
