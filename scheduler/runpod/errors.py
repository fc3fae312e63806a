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

Messages never contain the API key; they carry RunPod's own message text.

`DeadlineExceeded` is not a `RunPodError`: it is the caller's own time budget (a tick's) running
out, raised before anything more is sent, and it passes through handlers of RunPod errors so
that the caller's loop ends instead of trying the next call.
"""

from __future__ import annotations

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


class SpotUnsupportedError(RunPodError):
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
