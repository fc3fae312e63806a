"""RunPod's GPU type ids and display names, so that a job names a GPU RunPod sells.

Why: a job submitted with a misspelt GPU type (`RTX 4900`, `NVIDIA A4O`) would wait forever for
an offer that never comes. Submissions (CLI flags, TOML files) are checked against this list and
get a "did you mean"; display names (`A40`, `RTX 4090`) and any capitalisation resolve to the id
RunPod expects (`NVIDIA A40`). Rows inserted with SQL are not checked here: the daemon holds a
job whose GPU type the live market does not list (RunPod may list it later).

Provenance of each entry, newest RunPod facts first:
- `REF`: named in `shared/reference/runpod-graphql-api.md` (the `gpuTypes` examples: "NVIDIA A40",
  "NVIDIA RTX A4000", "NVIDIA GeForce RTX 3070" / "RTX 3070", "NVIDIA RTX A6000",
  "NVIDIA A100 80GB PCIe" / "A100 80GB", "NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090",
  "AMD Instinct MI300X OAM") or `runpod-rest-v2.md` (`GET /v2/catalog/gpus`: "NVIDIA GeForce
  RTX 4090" / "RTX 4090", "NVIDIA A100-SXM4-80GB").
- `LIST`: not in the shared reference; RunPod's public GPU type list as we know it (its GraphQL
  `gpuTypes { id displayName }` answer), including every type the emulator's catalogue sells.
  RunPod adds types over time: a newer one is refused at submission until it is added here,
  but a raw SQL row may name it (the daemon checks rows against the live market).

What it must not do: import the emulator (production code never does), or know prices.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GpuType:
    id: str
    display_name: str
    source: str  # REF or LIST, see the module docstring


KNOWN_GPU_TYPES: tuple[GpuType, ...] = (
    GpuType("NVIDIA A40", "A40", "REF"),
    GpuType("NVIDIA RTX A4000", "RTX A4000", "REF"),
    GpuType("NVIDIA RTX A6000", "RTX A6000", "REF"),
    GpuType("NVIDIA GeForce RTX 3070", "RTX 3070", "REF"),
    GpuType("NVIDIA GeForce RTX 4090", "RTX 4090", "REF"),
    GpuType("NVIDIA A100 80GB PCIe", "A100 80GB", "REF"),
    GpuType("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB", "REF"),
    GpuType("NVIDIA H100 80GB HBM3", "H100 SXM", "REF"),
    GpuType("AMD Instinct MI300X OAM", "MI300X", "REF"),
    GpuType("NVIDIA RTX A2000", "RTX A2000", "LIST"),
    GpuType("NVIDIA RTX A4500", "RTX A4500", "LIST"),
    GpuType("NVIDIA RTX A5000", "RTX A5000", "LIST"),
    GpuType("NVIDIA RTX 2000 Ada Generation", "RTX 2000 Ada", "LIST"),
    GpuType("NVIDIA RTX 4000 Ada Generation", "RTX 4000 Ada", "LIST"),
    GpuType("NVIDIA RTX 5000 Ada Generation", "RTX 5000 Ada", "LIST"),
    GpuType("NVIDIA RTX 6000 Ada Generation", "RTX 6000 Ada", "LIST"),
    GpuType("NVIDIA L4", "L4", "LIST"),
    GpuType("NVIDIA L40", "L40", "LIST"),
    GpuType("NVIDIA L40S", "L40S", "LIST"),
    GpuType("NVIDIA GeForce RTX 3080", "RTX 3080", "LIST"),
    GpuType("NVIDIA GeForce RTX 3080 Ti", "RTX 3080 Ti", "LIST"),
    GpuType("NVIDIA GeForce RTX 3090", "RTX 3090", "LIST"),
    GpuType("NVIDIA GeForce RTX 3090 Ti", "RTX 3090 Ti", "LIST"),
    GpuType("NVIDIA GeForce RTX 4080", "RTX 4080", "LIST"),
    GpuType("NVIDIA GeForce RTX 4080 SUPER", "RTX 4080 SUPER", "LIST"),
    GpuType("NVIDIA GeForce RTX 5090", "RTX 5090", "LIST"),
    GpuType("NVIDIA A30", "A30", "LIST"),
    GpuType("NVIDIA H100 PCIe", "H100 PCIe", "LIST"),
    GpuType("NVIDIA H100 NVL", "H100 NVL", "LIST"),
    GpuType("NVIDIA H200", "H200 SXM", "LIST"),
    GpuType("NVIDIA B200", "B200", "LIST"),
    GpuType("Tesla V100-PCIE-16GB", "Tesla V100", "LIST"),
    GpuType("Tesla V100-SXM2-16GB", "V100 SXM2", "LIST"),
    GpuType("Tesla V100-SXM2-32GB", "V100 SXM2 32GB", "LIST"),
)


def _key(text: str) -> str:
    return " ".join(text.lower().split())


_BY_NAME: dict[str, str] = {}
for _gpu in KNOWN_GPU_TYPES:
    _BY_NAME.setdefault(_key(_gpu.display_name), _gpu.id)
for _gpu in KNOWN_GPU_TYPES:
    _BY_NAME[_key(_gpu.id)] = _gpu.id  # an id always wins over a display name


def resolve_gpu_type(name: str) -> str | None:
    """RunPod's id for a GPU type id or display name in any capitalisation, else None."""
    return _BY_NAME.get(_key(name))


def suggest_gpu_types(name: str, limit: int = 3) -> list[str]:
    """Known ids close to `name` (a misspelt id or display name), best first."""
    found = difflib.get_close_matches(_key(name), list(_BY_NAME), n=limit * 2, cutoff=0.6)
    ids: list[str] = []
    for match in found:
        if _BY_NAME[match] not in ids:
            ids.append(_BY_NAME[match])
    return ids[:limit]


def unknown_gpu_type_message(name: str) -> str:
    """Why `name` is refused at submission, naming the closest known types."""
    shown = name if len(name) <= 60 else name[:57] + "..."
    hints = suggest_gpu_types(name)
    if hints:
        return f"unknown GPU type {shown!r}; did you mean " + " or ".join(map(repr, hints)) + "?"
    return (
        f"unknown GPU type {shown!r}; use a RunPod GPU type id such as 'NVIDIA A40' or a "
        "display name such as 'RTX 4090' (`spotsched prices` lists what RunPod sells)"
    )
