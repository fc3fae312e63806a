"""GraphQL input objects built from the client's frozen requests (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scheduler.runpod.models import DeployRequest


def env_input(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in pairs]


def deploy_input(req: DeployRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": req.name,
        "imageName": req.image_name,
        "gpuTypeId": req.gpu_type_id,
        "gpuCount": req.gpu_count,
        "cloudType": req.cloud_type,
        "containerDiskInGb": req.container_disk_gb,
        "volumeInGb": req.volume_gb,
        "volumeMountPath": req.volume_mount_path,
    }
    optional = {
        "ports": req.ports,
        "dockerArgs": req.docker_args,
        "networkVolumeId": req.network_volume_id,
        "dataCenterId": req.data_center_id,
        "bidPerGpu": req.bid_per_gpu,
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    if req.env:
        fields["env"] = env_input(req.env)
    return fields
