"""Documents as real clients send them: the seed example, SDK inline literals, runpodctl variables,
validation failures (HTTP 400, graphql-js wording), the envelope and the document cache."""

from __future__ import annotations

import pytest

from .conftest import Gql, pod_input

SEED_CREATE = """
mutation($input: PodFindAndDeployOnDemandInput!) {
  podFindAndDeployOnDemand(input: $input) {
    id
    name
    desiredStatus
    costPerHr
    machine {
      gpuDisplayName
      gpuCount
    }
    runtime {
      ports {
        publicPort
        type
      }
    }
  }
}
"""
SEED_SPOT = """
mutation($input: PodRentInterruptableInput!) {
  podRentInterruptable(input: $input) {
    id
    costPerHr
  }
}
"""
SEED_STOP = """
mutation($input: PodStopInput!) {
  podStop(input: $input) {
    id
    desiredStatus
  }
}
"""
SEED_RESUME = """
mutation($input: PodResumeInput!) {
  podResume(input: $input) {
    id
    desiredStatus
  }
}
"""
SEED_TERMINATE = """
mutation($input: PodTerminateInput!) {
  podTerminate(input: $input) {
    id
  }
}
"""
SEED_PODS = """
query {
  myself {
    pods {
      id
      name
      desiredStatus
      imageName
      costPerHr
      machine {
        gpuDisplayName
        gpuCount
      }
      runtime {
        uptimeInSeconds
        ports {
          publicPort
          type
        }
      }
    }
  }
}
"""
SEED_POD = """
query($podId: String!) {
  pod(input: { podId: $podId }) {
    id
    name
    desiredStatus
    imageName
    costPerHr
    machine {
      gpuDisplayName
      gpuCount
      cpuCores
      memoryInGb
    }
    runtime {
      uptimeInSeconds
      gpuUtilPercent
      ports {
        ip
        publicPort
        type
      }
    }
  }
}
"""
SEED_TEMPLATE = """
mutation($input: SaveTemplateInput!) {
  saveTemplate(input: $input) {
    id
    name
  }
}
"""
SEED_VOLUME = """
mutation($input: CreateNetworkVolumeInput!) {
  createNetworkVolume(input: $input) {
    id
    name
  }
}
"""
SEED_GPUS = """
query {
  gpuTypes {
    id
    displayName
    memoryInGb
    securePrice
    communityPrice
    lowestPrice(input: { gpuCount: 1 }) {
      minimumBidPrice
    }
  }
}
"""
SEED_CREATE_VARS = {
    "input": {
        "cloudType": "SECURE",
        "gpuCount": 1,
        "volumeInGb": 50,
        "containerDiskInGb": 20,
        "minVcpuCount": 4,
        "minMemoryInGb": 16,
        "gpuTypeId": "NVIDIA RTX A6000",
        "imageName": "runpod/pytorch:latest",
        "ports": "8888/http",
        "volumeMountPath": "/workspace",
        "env": [{"key": "JUPYTER_PASSWORD", "value": "secure123"}],
    }
}


def validation_errors(gql: Gql, query: str, variables=None) -> list[dict]:
    response = gql.raw(query, variables)
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert all(e["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" for e in errors)
    assert all(e["locations"] for e in errors)
    return errors


def test_seed_documents_that_production_rejects(gql):
    # graphql-js appends suggestions (here: Did you mean "cpuCount"?) after the sentence.
    gpu_count = 'Cannot query field "gpuCount" on type "PodMachineInfo".'
    messages = [e["message"] for e in validation_errors(gql, SEED_CREATE, SEED_CREATE_VARS)]
    assert len(messages) == 1
    assert messages[0].startswith(gpu_count)
    messages = [e["message"] for e in validation_errors(gql, SEED_PODS)]
    assert len(messages) == 1
    assert messages[0].startswith(gpu_count)
    messages = [e["message"] for e in validation_errors(gql, SEED_POD, {"podId": "x"})]
    assert 'Cannot query field "gpuUtilPercent" on type "PodRuntime".' in messages
    assert any(
        m.startswith('Cannot query field "cpuCores" on type "PodMachineInfo".') for m in messages
    )
    assert any(m.startswith('Cannot query field "gpuCount"') for m in messages)
    messages = [
        e["message"] for e in validation_errors(gql, SEED_TERMINATE, {"input": {"podId": "x"}})
    ]
    assert messages == [
        'Field "podTerminate" must not have a selection since type "Void" has no subfields.'
    ]
    assert gql.client.post("/graphql", json={"query": SEED_TERMINATE}).status_code == 400


def test_seed_documents_that_production_accepts(gql):
    spot = gql(
        SEED_SPOT,
        {
            "input": {
                "bidPerGpu": 0.30,
                "cloudType": "SECURE",
                "gpuCount": 1,
                "volumeInGb": 50,
                "containerDiskInGb": 20,
                "minVcpuCount": 4,
                "minMemoryInGb": 16,
                "gpuTypeId": "NVIDIA RTX A6000",
                "imageName": "runpod/pytorch:latest",
                "ports": "8888/http",
                "volumeMountPath": "/workspace",
            }
        },
    )["podRentInterruptable"]
    assert spot["costPerHr"] == pytest.approx(0.30)
    pod_id = spot["id"]
    stopped = gql(SEED_STOP, {"input": {"podId": pod_id}})["podStop"]
    assert stopped == {"id": pod_id, "desiredStatus": "EXITED"}
    template = gql(
        SEED_TEMPLATE,
        {
            "input": {
                "name": "PyTorch Training Template",
                "imageName": "runpod/pytorch:2.1.0-py3.10-cuda11.8.0-devel",
                "containerDiskInGb": 30,
                "volumeInGb": 100,
                "ports": "8888/http",
                "isServerless": False,
            }
        },
    )["saveTemplate"]
    assert template["name"] == "PyTorch Training Template"
    assert len(template["id"]) == 10
    volume = gql(
        SEED_VOLUME, {"input": {"name": "shared-models", "size": 500, "dataCenterId": "US-TX-3"}}
    )["createNetworkVolume"]
    assert volume["name"] == "shared-models"
    gpus = gql(SEED_GPUS)["gpuTypes"]
    assert len(gpus) >= 12
    assert all(g["lowestPrice"]["minimumBidPrice"] > 0 for g in gpus)


def test_seed_resume_of_an_on_demand_pod(gql):
    pod = gql(
        "mutation($input: PodFindAndDeployOnDemandInput!) "
        "{ podFindAndDeployOnDemand(input: $input) { id } }",
        SEED_CREATE_VARS,
    )["podFindAndDeployOnDemand"]
    gql(SEED_STOP, {"input": {"podId": pod["id"]}})
    resumed = gql(SEED_RESUME, {"input": {"podId": pod["id"]}})["podResume"]
    assert resumed == {"id": pod["id"], "desiredStatus": "RUNNING"}


def test_other_known_invalid_documents(gql):
    messages = [e["message"] for e in validation_errors(gql, '{ pod(input: {id: "x"}) { id } }')]
    assert 'Field "id" is not defined by type "PodFilter".' in messages
    errors = validation_errors(
        gql, 'mutation { podBidResume(input: {podId: "x", bidPerGpu: 0.2}) { id } }'
    )
    assert errors[0]["message"] == (
        'Field "PodBidResumeInput.gpuCount" of required type "Int!" was not provided.'
    )
    errors = validation_errors(
        gql, 'mutation { podResume(input: {podId: "x", allowedCudaVersions: ["12.4"]}) { id } }'
    )
    assert (
        errors[0]["message"]
        == 'Field "allowedCudaVersions" is not defined by type "PodResumeInput".'
    )


def test_sdk_inline_literal_documents(gql):
    created = gql(
        'mutation { podFindAndDeployOnDemand( input: { name: "n1", imageName: "img:1", '
        'cloudType: SECURE, startSsh: true, gpuTypeId: "NVIDIA A40", supportPublicIp: true, '
        "gpuCount: 2, volumeInGb: 20, minVcpuCount: 1, minMemoryInGb: 1, dataCenterId: null, "
        'dockerArgs: "bash -c \\"sleep 1\\"", containerDiskInGb: 10, ports: "22/tcp,8888/http", '
        'volumeMountPath: "/runpod-volume", env: [{ key: "A", value: "b" }] } ) '
        "{ id imageName env machineId machine { podHostId } } }"
    )["podFindAndDeployOnDemand"]
    assert created["env"] == ["A=b"]
    assert created["machine"]["podHostId"].startswith(created["id"] + "-")
    assert len(created["id"]) == 14
    assert created["id"].isalnum() and created["id"].lower() == created["id"]
    pod = gql(
        f'query pod {{ pod(input: {{podId: "{created["id"]}"}}) {{ id dockerArgs gpuCount '
        "containerDiskInGb costPerHr desiredStatus podType ports volumeInGb } }"
    )["pod"]
    assert pod["dockerArgs"] == 'bash -c "sleep 1"'
    assert pod["gpuCount"] == 2
    assert pod["podType"] == "RESERVED"
    assert pod["costPerHr"] == pytest.approx(2 * 0.40)


def test_variables_extra_undeclared_are_ignored_and_typename_is_accepted(gql):
    data = gql(
        "query GpuTypes($lowestPriceInput: GpuLowestPriceInput, $gpuTypesInput: GpuTypeFilter) {"
        " gpuTypes(input: $gpuTypesInput) { id __typename"
        " lowestPrice(input: $lowestPriceInput) { minimumBidPrice stockStatus __typename } } }",
        {
            "lowestPriceInput": {"secureCloud": True, "dataCenterId": "EU-RO-1", "gpuCount": 1},
            "GpuTypeFilter": {"cluster": False},
        },
    )
    assert len(data["gpuTypes"]) >= 12
    assert data["gpuTypes"][0]["__typename"] == "GpuType"
    assert data["gpuTypes"][0]["lowestPrice"]["__typename"] == "LowestPrice"


def test_operation_name_selects_the_operation(gql):
    query = "query A { countryCodes } query B { dataCenters { id } }"
    response = gql.raw(query, operationName="B")
    assert response.status_code == 200
    assert "dataCenters" in response.json()["data"]
    assert gql.raw(query).status_code == 400  # which one? graphql says: must name it


def test_variable_coercion_errors_are_400(gql):
    response = gql.raw("query($id: String!) { pod(input: {podId: $id}) { id } }", {"id": 3})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["message"].startswith('Variable "$id" got invalid value 3;')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    response = gql.raw("query($id: String!) { pod(input: {podId: $id}) { id } }", {})
    assert response.json()["errors"][0]["message"] == (
        'Variable "$id" of required type "String!" was not provided.'
    )
    response = gql.raw(
        "mutation($input: PodFindAndDeployOnDemandInput) "
        "{ podFindAndDeployOnDemand(input: $input) { id } }",
        {"input": pod_input(cloudType="MOON")},
    )
    assert response.status_code == 400


def test_syntax_errors_and_bad_bodies_are_400(gql, client):
    response = gql.raw("{ pod(")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert response.json()["errors"][0]["message"].startswith("Syntax Error:")
    assert client.post("/graphql", content=b"{nope").status_code == 400
    assert client.post("/graphql", json={"variables": {}}).status_code == 400
    assert (
        client.post("/graphql", json={"query": "{ countryCodes }", "variables": []}).status_code
        == 400
    )
    assert client.get("/graphql").status_code == 400
    assert client.post("/other", json={"query": "{ countryCodes }"}).status_code == 404


def test_success_has_no_errors_key_and_business_errors_have_path_and_code(gql):
    response = gql.raw("{ countryCodes }")
    assert response.json() == {
        "data": {"countryCodes": sorted(response.json()["data"]["countryCodes"])}
    }
    assert "errors" not in response.json()
    response = gql.raw('mutation { podTerminate(input: {podId: "nosuchpod00000"}) }')
    assert response.status_code == 200
    assert response.json() == {
        "data": {"podTerminate": None},
        "errors": [
            {
                "message": "pod not found to terminate",
                "locations": [{"line": 1, "column": 12}],
                "path": ["podTerminate"],
                "extensions": {"code": "RUNPOD"},
            }
        ],
    }


def test_unknown_pod_is_null(gql):
    assert gql('{ pod(input: {podId: "nosuchpod00000"}) { id } }') == {"pod": None}


def test_document_cache_parses_each_text_once(gql, emu):
    query = "{ gpuTypes { id } }"
    for _ in range(5):
        gql(query)
    gql("{ countryCodes }")
    gql.raw("{ pod(")
    gql.raw("{ pod(")
    cache = emu.state()["documentCache"]
    assert cache["parses"] == 3
    assert cache["hits"] == 5
    assert emu.documents.parses == 3


def test_document_cache_is_bounded():
    from scheduler.emulator.graphql_app import DocumentCache

    cache = DocumentCache(max_size=2)
    for text in ("{ countryCodes }", "{ dataCenters { id } }", "{ gpuTypes { id } }"):
        cache.get(text)
    assert len(cache) == 2
    cache.get("{ countryCodes }")  # evicted: parsed again
    assert cache.parses == 4


def test_unsupported_operations_answer_a_business_error(gql):
    error = gql.error('mutation { deleteEndpoint(id: "x") }')
    assert error["message"] == "This operation is not supported by the RunPod emulator."
