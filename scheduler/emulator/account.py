"""The account's stored things besides pods: network volumes, templates, registry credentials.

Why: clients create and look these up (`myself { networkVolumes }`, `saveTemplate`), and a network
volume pins the data center of the pods that mount it.

What it must not do: bill, or know about pods and hosts; the world checks data centers.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scheduler.emulator.catalogue import random_id
from scheduler.emulator.errors import TEMPLATE_NAME_TAKEN, VOLUME_NOT_FOUND, ApiError


@dataclass
class NetworkVolume:
    id: str
    name: str
    size: int
    data_center_id: str


_TEMPLATE_FIELDS = (
    "name",
    "imageName",
    "dockerArgs",
    "containerDiskInGb",
    "volumeInGb",
    "volumeMountPath",
    "ports",
    "isServerless",
    "isPublic",
    "readme",
    "startSsh",
    "startJupyter",
    "startScript",
    "advancedStart",
    "containerRegistryAuthId",
    "category",
)


@dataclass
class Account:
    """Network volumes, templates and settings of the single emulated user."""

    rng: random.Random
    pub_key: str = ""
    volumes: dict[str, NetworkVolume] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    registry_auths: dict[str, dict[str, Any]] = field(default_factory=dict)

    def create_volume(self, name: str, size: int, data_center_id: str) -> NetworkVolume:
        volume = NetworkVolume(random_id(self.rng, 10), name, size, data_center_id)
        self.volumes[volume.id] = volume
        return volume

    def update_volume(self, volume_id: str, name: str | None, size: int | None) -> NetworkVolume:
        volume = self.volumes.get(volume_id)
        if volume is None:
            raise ApiError("Tried to update nonexistent network volume")
        if name is not None:
            volume.name = name
        if size is not None:
            volume.size = max(volume.size, size)
        return volume

    def delete_volume(self, volume_id: str) -> None:
        if self.volumes.pop(volume_id, None) is None:
            raise ApiError(VOLUME_NOT_FOUND)

    def save_template(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Upsert: with an `id` the template is updated; names are unique per account."""
        template_id = data.get("id")
        existing = self.templates.get(template_id) if isinstance(template_id, str) else None
        name = data.get("name")
        for other in self.templates.values():
            if other["name"] == name and other is not existing:
                raise ApiError(TEMPLATE_NAME_TAKEN)
        template = existing or {"id": random_id(self.rng, 10), "isRunpod": False, "earned": 0.0}
        for key in _TEMPLATE_FIELDS:
            if key in data:
                template[key] = data[key]
        if "env" in data:
            template["env"] = [{"key": e["key"], "value": e["value"]} for e in data["env"] or ()]
        template.setdefault("env", [])
        template.setdefault("name", None)
        self.templates[template["id"]] = template
        return template

    def delete_template(self, name: str) -> None:
        for template_id, template in list(self.templates.items()):
            if template["name"] == name:
                del self.templates[template_id]
                return
        raise ApiError("Template not found")

    def save_registry_auth(self, name: str) -> dict[str, Any]:
        auth = {"id": random_id(self.rng, 10), "name": name, "userId": "user_emulator"}
        self.registry_auths[auth["id"]] = auth
        return auth
