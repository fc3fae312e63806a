"""Every GraphQL document the client can send, as module constants.

The documents are fixed text and everything a caller controls travels in `variables`, so the
server parses each document once (its parse cache hits) and no user string is ever spliced into
GraphQL. Each `Operation` also says how the client treats it: whether it may be retried (reads
and idempotent deletes: yes; creates: never, because a create that timed out may have
succeeded), whether it is a spot operation (so "unknown field/type" means spot was removed),
and whether it needs an API key.

Field choices follow reference §8: per-GPU utilisation lives in `runtime.gpus`, `podTerminate`
and `deleteNetworkVolume` return `Void` (no selection), `pod` takes `input: {podId}`.
`tests/runpod/test_documents.py` validates every document here against the emulator's schema.
This module must not import httpx or do I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True, slots=True)
class Operation:
    """One GraphQL document plus the client's policy for sending it."""

    name: str  # stable snake_case name, used in errors, logs and metrics
    document: str
    root: str  # the root field whose value the caller wants
    retry: bool  # safe to send again after a transient failure
    spot: bool = False  # a spot mutation: "unknown field/type" means spot is unsupported
    needs_key: bool = True


# The pod selection every pod-returning operation uses, so every `Pod` is parsed the same way.
POD_FIELDS = """
    id
    name
    imageName
    desiredStatus
    podType
    costPerHr
    gpuCount
    lastStatusChange
    env
    networkVolumeId
    machineId
    machine { gpuTypeId dataCenterId }
    runtime { uptimeInSeconds gpus { id gpuUtilPercent memoryUtilPercent } }
"""

LOWEST_PRICE_FIELDS = (
    "minimumBidPrice uninterruptablePrice stockStatus maxUnreservedGpuCount availableGpuCounts"
)

GPU_TYPE_FIELDS = (
    "id displayName memoryInGb securePrice communityPrice secureSpotPrice communitySpotPrice"
)


def market_alias(index: int) -> str:
    """The alias (and variable name) of the `index`-th `lowestPrice` combination."""
    return f"lp{index}"


@cache
def market_operation(combos: int, filtered: bool = False) -> Operation:
    """The market query for `combos` `lowestPrice` combinations, one alias each.

    The text depends only on how many combinations are asked for (counts and cloud flags are
    variables), so a daemon that always asks the same shape sends one document forever.
    """
    if combos < 1:
        raise ValueError("the market query needs at least one lowestPrice combination")
    aliases = [market_alias(i) for i in range(combos)]
    declarations = ", ".join(f"${a}: GpuLowestPriceInput!" for a in aliases)
    if filtered:
        declarations = "$types: GpuTypeFilter, " + declarations
    selections = "\n".join(
        f"    {a}: lowestPrice(input: ${a}) {{ {LOWEST_PRICE_FIELDS} }}" for a in aliases
    )
    document = (
        f"query Market({declarations}) {{\n"
        f"  gpuTypes{'(input: $types)' if filtered else ''} {{\n    {GPU_TYPE_FIELDS}\n"
        f"{selections}\n  }}\n}}\n"
    )
    return Operation("market", document, "gpuTypes", retry=True, needs_key=False)


LIST_PODS = Operation(
    "list_pods",
    f"query ListPods {{\n  myself {{\n    pods {{{POD_FIELDS}    }}\n  }}\n}}\n",
    "myself",
    retry=True,
)

GET_POD = Operation(
    "get_pod",
    f"query GetPod($input: PodFilter!) {{\n  pod(input: $input) {{{POD_FIELDS}  }}\n}}\n",
    "pod",
    retry=True,
)

DEPLOY_ON_DEMAND = Operation(
    "deploy_on_demand",
    "mutation DeployOnDemand($input: PodFindAndDeployOnDemandInput!) {\n"
    f"  podFindAndDeployOnDemand(input: $input) {{{POD_FIELDS}  }}\n}}\n",
    "podFindAndDeployOnDemand",
    retry=False,
)

DEPLOY_SPOT = Operation(
    "deploy_spot",
    "mutation DeploySpot($input: PodRentInterruptableInput!) {\n"
    f"  podRentInterruptable(input: $input) {{{POD_FIELDS}  }}\n}}\n",
    "podRentInterruptable",
    retry=False,
    spot=True,
)

STOP_POD = Operation(
    "stop_pod",
    "mutation StopPod($input: PodStopInput!) {\n  podStop(input: $input) { id desiredStatus }\n}\n",
    "podStop",
    retry=True,
)

RESUME_POD = Operation(
    "resume_pod",
    "mutation ResumePod($input: PodResumeInput!) {\n"
    f"  podResume(input: $input) {{{POD_FIELDS}  }}\n}}\n",
    "podResume",
    retry=False,
)

BID_RESUME_POD = Operation(
    "bid_resume_pod",
    "mutation BidResumePod($input: PodBidResumeInput!) {\n"
    f"  podBidResume(input: $input) {{{POD_FIELDS}  }}\n}}\n",
    "podBidResume",
    retry=False,
    spot=True,
)

TERMINATE_POD = Operation(
    "terminate_pod",
    "mutation TerminatePod($input: PodTerminateInput!) {\n  podTerminate(input: $input)\n}\n",
    "podTerminate",
    retry=True,
)

SAVE_TEMPLATE = Operation(
    "save_template",
    "mutation SaveTemplate($input: SaveTemplateInput!) {\n"
    "  saveTemplate(input: $input) { id name imageName }\n}\n",
    "saveTemplate",
    retry=False,
)

CREATE_NETWORK_VOLUME = Operation(
    "create_network_volume",
    "mutation CreateNetworkVolume($input: CreateNetworkVolumeInput!) {\n"
    "  createNetworkVolume(input: $input) { id name size dataCenterId }\n}\n",
    "createNetworkVolume",
    retry=False,
)

LIST_NETWORK_VOLUMES = Operation(
    "list_network_volumes",
    "query NetworkVolumes {\n"
    "  myself {\n    networkVolumes { id name size dataCenterId }\n  }\n}\n",
    "myself",
    retry=True,
)

DELETE_NETWORK_VOLUME = Operation(
    "delete_network_volume",
    "mutation DeleteNetworkVolume($input: DeleteNetworkVolumeInput!) {\n"
    "  deleteNetworkVolume(input: $input)\n}\n",
    "deleteNetworkVolume",
    retry=True,  # idempotent: a volume that is already gone counts as deleted
)

ACCOUNT = Operation(
    "account",
    "query Account {\n"
    "  myself {\n    clientBalance\n    currentSpendPerHr\n    spendLimit\n  }\n}\n",
    "myself",
    retry=True,
)

DATA_CENTERS = Operation(
    "data_centers",
    "query DataCenters($input: GpuAvailabilityInput) {\n"
    "  dataCenters {\n    id\n    name\n    location\n"
    "    gpuAvailability(input: $input) { gpuTypeId stockStatus available }\n  }\n}\n",
    "dataCenters",
    retry=True,
    needs_key=False,
)

# Every fixed operation; the market query is generated per combination count by
# `market_operation` (cached), so tests validate it for several counts.
FIXED_OPERATIONS: tuple[Operation, ...] = (
    LIST_PODS,
    GET_POD,
    DEPLOY_ON_DEMAND,
    DEPLOY_SPOT,
    STOP_POD,
    RESUME_POD,
    BID_RESUME_POD,
    TERMINATE_POD,
    SAVE_TEMPLATE,
    CREATE_NETWORK_VOLUME,
    LIST_NETWORK_VOLUMES,
    DELETE_NETWORK_VOLUME,
    ACCOUNT,
    DATA_CENTERS,
)
