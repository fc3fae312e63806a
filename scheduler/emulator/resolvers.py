"""Root resolvers: each Query and Mutation field of the schema mapped to a world operation.

Why: one place that says what every root field does in the emulator. The roots are dicts of
callables (graphql-core's default resolver calls them with `(info, **args)`), built per request
around the world, which the request has locked and synced.

Fields the emulator does not model (serverless endpoints, secrets, CPU pods, `podEditJob`) answer
with a business error `This operation is not supported by the RunPod emulator.`.

What it must not do: lock, sync or read the clock (the request did), or format errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from scheduler.emulator import errors
from scheduler.emulator.errors import ApiError
from scheduler.emulator.pods import PodRequest
from scheduler.emulator.views import (
    View,
    data_center_view,
    gpu_view,
    pod_view,
    user_view,
    volume_view,
)
from scheduler.emulator.world import World

Resolver = Callable[..., Any]
Args = Mapping[str, Any]

PUBLIC_FIELDS = frozenset({"gpuTypes", "dataCenters", "countryCodes", "cpuFlavors", "__typename"})

_CPU_FLAVORS = (
    ("cpu3c", "Compute-Optimized", 2.0, 32, 2.0),
    ("cpu3g", "General Purpose", 2.0, 32, 4.0),
    ("cpu3m", "Memory-Optimized", 2.0, 16, 8.0),
    ("cpu5c", "Compute-Optimized", 2.0, 32, 2.0),
)


def _unsupported(*_args: Any, **_kwargs: Any) -> None:
    raise ApiError(errors.NOT_IMPLEMENTED)


def _input(args: Args) -> Mapping[str, Any]:
    value = args.get("input")
    return value if isinstance(value, Mapping) else {}


def query_root(world: World) -> dict[str, Resolver]:
    def gpu_types(_info: Any, input: Args | None = None) -> list[View]:
        flt = input or {}
        wanted: set[str] | None = None
        if flt.get("id") is not None:
            wanted = {flt["id"]}
        if flt.get("ids") is not None:
            wanted = (wanted or set()) | set(flt["ids"])
        return [
            gpu_view(world, g)
            for g in world.catalogue.gpu_types
            if wanted is None or g.id in wanted
        ]

    def pod(_info: Any, input: Args | None = None) -> View | None:
        found = world.pods.get((input or {}).get("podId", ""))
        return None if found is None else pod_view(world, found)

    def cpu_flavors(_info: Any, input: Args | None = None) -> list[View]:
        wanted = (input or {}).get("id")
        return [
            {
                "id": fid,
                "groupId": fid,
                "groupName": name,
                "displayName": name,
                "minVcpu": min_vcpu,
                "maxVcpu": max_vcpu,
                "vcpuBurstable": False,
                "ramMultiplier": ram,
                "diskLimitPerVcpu": 10,
                "specifics": lambda _info, input=None: {
                    "stockStatus": "High",
                    "securePrice": 0.06,
                    "slsPrice": 0.07,
                },
            }
            for fid, name, min_vcpu, max_vcpu, ram in _CPU_FLAVORS
            if wanted is None or fid == wanted
        ]

    def pod_templates(_info: Any, input: Args | None = None) -> list[View]:
        return list(world.account.templates.values())

    return {
        "gpuTypes": gpu_types,
        "pod": pod,
        "myself": lambda _info: user_view(world),
        "dataCenters": lambda _info: [
            data_center_view(world, d) for d in world.catalogue.data_centers
        ],
        "countryCodes": lambda _info: sorted(
            {d.country_code for d in world.catalogue.data_centers}
        ),
        "cpuFlavors": cpu_flavors,
        "podTemplates": pod_templates,
        "podTemplate": lambda _info, id: world.account.templates.get(id),
    }


def mutation_root(world: World) -> dict[str, Resolver]:
    def on_demand(_info: Any, **args: Any) -> View:
        return pod_view(world, world.create_pod(PodRequest.from_input(_input(args)), spot=False))

    def spot(_info: Any, **args: Any) -> View:
        return pod_view(world, world.create_pod(PodRequest.from_input(_input(args)), spot=True))

    def resume(_info: Any, **args: Any) -> View:
        data = _input(args)
        return pod_view(world, world.resume_pod(data["podId"], data.get("gpuCount")))

    def bid_resume(_info: Any, **args: Any) -> View:
        data = _input(args)
        pod = world.bid_resume(data["podId"], float(data["bidPerGpu"]), int(data["gpuCount"]))
        return pod_view(world, pod)

    def stop(_info: Any, **args: Any) -> View:
        return pod_view(world, world.stop_pod(_input(args)["podId"]))

    def terminate(_info: Any, **args: Any) -> None:
        world.terminate_pod(_input(args)["podId"])

    def create_volume(_info: Any, **args: Any) -> View | None:
        data = _input(args)
        volume = world.create_volume(
            str(data.get("name") or ""), int(data.get("size") or 10), str(data.get("dataCenterId"))
        )
        return volume_view(world, volume.id)

    def update_volume(_info: Any, **args: Any) -> View | None:
        data = _input(args)
        volume = world.account.update_volume(data["id"], data.get("name"), data.get("size"))
        return volume_view(world, volume.id)

    def delete_volume(_info: Any, **args: Any) -> None:
        world.account.delete_volume(_input(args)["id"])

    def save_template(_info: Any, **args: Any) -> View:
        return world.account.save_template(_input(args))

    def delete_template(_info: Any, templateName: str) -> None:
        world.account.delete_template(templateName)

    def update_user(_info: Any, **args: Any) -> View:
        pub_key = _input(args).get("pubKey")
        if isinstance(pub_key, str):
            world.account.pub_key = pub_key
        return user_view(world)

    def save_registry_auth(_info: Any, **args: Any) -> View:
        return world.account.save_registry_auth(str(_input(args).get("name")))

    def update_registry_auth(_info: Any, **args: Any) -> View | None:
        return world.account.registry_auths.get(_input(args).get("id", ""))

    def delete_registry_auth(_info: Any, registryAuthId: str) -> None:
        world.account.registry_auths.pop(registryAuthId, None)

    return {
        "podFindAndDeployOnDemand": on_demand,
        "podRentInterruptable": spot,
        "podResume": resume,
        "podBidResume": bid_resume,
        "podStop": stop,
        "podTerminate": terminate,
        "podEditJob": _unsupported,
        "deployCpuPod": _unsupported,
        "saveTemplate": save_template,
        "deleteTemplate": delete_template,
        "createNetworkVolume": create_volume,
        "updateNetworkVolume": update_volume,
        "deleteNetworkVolume": delete_volume,
        "updateUserSettings": update_user,
        "saveRegistryAuth": save_registry_auth,
        "updateRegistryAuth": update_registry_auth,
        "deleteRegistryAuth": delete_registry_auth,
        "saveEndpoint": _unsupported,
        "updateEndpointTemplate": _unsupported,
        "deleteEndpoint": _unsupported,
        "secretCreate": _unsupported,
        "secretDelete": _unsupported,
    }
