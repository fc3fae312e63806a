"""The business errors the emulated API answers with (HTTP 200 + `errors`), with RunPod's texts.

Why: clients classify RunPod errors by their exact message (dstack matches
`pod not found to terminate` exactly), so the texts live in one place, verbatim from
`runpod-graphql-api.md` §2. Texts marked "emulator" are not documented for the real API; they are
plausible choices, stable so that clients can classify on them.

Extension codes: `RUNPOD` for business errors (as in RunPod's `createCluster` failure),
`UNSUPPORTED` for spot mutations once spot is switched off, `INTERNAL_SERVER_ERROR` for the
generic failure.

What it must not do: format envelopes or pick HTTP status codes (graphql_app.py does).
"""

from __future__ import annotations

ON_DEMAND_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
SPOT_CAPACITY = (
    "There are no instances available with the request specifications. Please try again later."
)
HOST_FULL = "There are not enough free GPUs on the host machine to start this pod."
SPOT_RESUME_AS_ON_DEMAND = "Cannot resume a spot pod as an on demand pod."
TERMINATE_NOT_FOUND = "pod not found to terminate"
VOLUME_NOT_FOUND = "Tried to delete nonexistent network volume"
INTERNAL = "Something went wrong. Please try again later or contact support."
UNAUTHORIZED = "Unauthorized"
# emulator: RunPod's text after the spot removal (2026-09-11) is unknown.
SPOT_UNSUPPORTED = "Spot pods are no longer supported. Use on-demand pods instead."
# emulator: texts for cases the reference does not document.
POD_NOT_FOUND = "pod not found"
ON_DEMAND_RESUME_AS_SPOT = "Cannot resume an on demand pod as a spot pod."
NO_IMAGE = "Pod needs an imageName or a templateId."
UNKNOWN_DATA_CENTER = "Invalid data center id."
UNKNOWN_NETWORK_VOLUME = "Network volume not found."
TEMPLATE_NAME_TAKEN = "Template name must be unique."
NOT_IMPLEMENTED = "This operation is not supported by the RunPod emulator."


class ApiError(Exception):
    """A business error: the field resolves to null and `errors[]` carries message and code."""

    def __init__(self, message: str, code: str = "RUNPOD") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
