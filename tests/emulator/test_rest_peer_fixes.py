"""What real peers' RunPod clients need from the emulator (issue 10): hosts with enough RAM per
GPU for SkyPilot's `minMemoryInGb = VRAM x count`, and numbers printed the way RunPod prints
them (`6`, not `6.0`)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.emulator.catalogue import GPU_TYPES, default_catalogue
from scheduler.emulator.jsonvalues import js_numbers

from .conftest import ON_DEMAND, Gql, pod_input, v2_pod


def test_every_host_has_at_least_its_gpus_vram_in_ram():
    """The whole class: no GPU type can be unlaunchable by a VRAM-sized RAM request."""
    catalogue = default_catalogue()
    for host in catalogue.hosts:
        gpu = catalogue.gpu(host.gpu_type_id)
        assert gpu is not None
        assert host.memory_gb_per_gpu >= gpu.memory_gb, (gpu.id, host)


@pytest.mark.parametrize("gpu", ["NVIDIA RTX A6000", "NVIDIA L40S", "NVIDIA H200"])
@pytest.mark.parametrize("count", [1, 2])
def test_skypilot_style_memory_request_launches(gql: Gql, emu, gpu, count):
    vram = next(g.memory_gb for g in GPU_TYPES if g.id == gpu)
    emu.set_market(gpu, "SECURE", stock=8)
    created = gql(
        ON_DEMAND,
        {"input": pod_input(gpuTypeId=gpu, gpuCount=count, minMemoryInGb=vram * count)},
    )["podFindAndDeployOnDemand"]
    assert created["machine"]["gpuTypeId"] == gpu


def test_rest_min_ram_per_gpu_of_the_vram_launches(rest, emu):
    emu.set_market("NVIDIA H200", "SECURE", stock=8)
    body = v2_pod(gpu={"id": "NVIDIA H200", "count": 2, "minRamPerGpu": 141})
    response = rest.post("/v2/pods", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["gpu"]["memory"] >= 282


def test_integral_floats_print_without_a_fraction(gql: Gql, client):
    text = client.post(
        "/graphql",
        json={
            "query": 'mutation { podFindAndDeployOnDemand(input: {gpuTypeId: "NVIDIA A40", '
            'cloudType: SECURE, imageName: "x", gpuCount: 2}) { vcpuCount memoryInGb } }'
        },
    ).text
    assert '"vcpuCount": 24,' in text and ".0" not in text
    balance = client.post("/graphql", json={"query": "{ myself { spendLimit } }"}).text
    assert balance == '{"data": {"myself": {"spendLimit": 80}}}'


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.one_of(st.lists(inner), st.dictionaries(st.text(), inner)),
)


@given(json_values)
def test_js_numbers_keeps_every_value(value):
    """Same JSON values (6.0 == 6), and no integral float is written with a fraction."""
    out = js_numbers(value)
    assert out == value
    assert json.loads(json.dumps(out)) == value

    def floats(v):
        if isinstance(v, float):
            yield v
        elif isinstance(v, dict):
            for item in v.values():
                yield from floats(item)
        elif isinstance(v, list):
            for item in v:
                yield from floats(item)

    assert all(not f.is_integer() for f in floats(out))
