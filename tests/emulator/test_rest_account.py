"""REST v2 network volumes, templates and SSH keys, shared with the GraphQL API."""

from __future__ import annotations

from .conftest import Gql, v2_pod

VOLUMES = "{ myself { networkVolumes { id name size dataCenterId } } }"
TEMPLATES = "{ myself { podTemplates { id name imageName env { key value } } } }"


def test_network_volume_crud(rest, gql: Gql):
    created = rest.post(
        "/v2/network-volumes",
        json={"name": "ds", "size": 100, "dataCenter": "EU-RO-1", "type": "HIGH_PERFORMANCE"},
    )
    assert created.status_code == 201
    volume = created.json()
    assert {k: volume[k] for k in ("name", "size", "dataCenter", "type")} == {
        "name": "ds",
        "size": 100,
        "dataCenter": "EU-RO-1",
        "type": "HIGH_PERFORMANCE",
    }
    assert gql(VOLUMES)["myself"]["networkVolumes"] == [
        {"id": volume["id"], "name": "ds", "size": 100, "dataCenterId": "EU-RO-1"}
    ]
    assert rest.get(f"/v2/network-volumes/{volume['id']}").json() == volume
    grown = rest.patch(f"/v2/network-volumes/{volume['id']}", json={"size": 200, "name": "d2"})
    assert (grown.json()["size"], grown.json()["name"]) == (200, "d2")
    shrink = rest.patch(f"/v2/network-volumes/{volume['id']}", json={"size": 150})
    assert shrink.status_code == 400
    assert shrink.json()["detail"] == "Invalid request body or size decrease attempted"
    empty = rest.patch(f"/v2/network-volumes/{volume['id']}", json={})
    assert empty.status_code == 422
    listed = rest.get("/v2/network-volumes").json()
    assert [v["id"] for v in listed["networkVolumes"]] == [volume["id"]]
    assert rest.delete(f"/v2/network-volumes/{volume['id']}").status_code == 204
    assert rest.get(f"/v2/network-volumes/{volume['id']}").status_code == 404
    assert rest.delete(f"/v2/network-volumes/{volume['id']}").status_code == 404
    assert gql(VOLUMES)["myself"]["networkVolumes"] == []


def test_network_volume_rules(rest):
    response = rest.post(
        "/v2/network-volumes", json={"name": "x", "size": 10, "dataCenterId": "EU-RO-1"}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        "$: missing property 'dataCenter'",
        "$: additional properties 'dataCenterId' not allowed",
    ]
    small = rest.post("/v2/network-volumes", json={"name": "x", "size": 5, "dataCenter": "EU-RO-1"})
    assert small.json()["errors"] == ["$.size: must be >= 10 but found 5"]
    nowhere = rest.post("/v2/network-volumes", json={"name": "x", "size": 10, "dataCenter": "MOON"})
    assert nowhere.status_code == 400
    assert "EU-RO-1" in nowhere.json()["detail"]  # names the data centers that have volumes


def test_graphql_volume_is_listed_over_rest(rest, gql: Gql):
    made = gql(
        'mutation { createNetworkVolume(input: {name: "g", size: 20, dataCenterId: "US-KS-2"}) '
        "{ id } }"
    )["createNetworkVolume"]
    [volume] = rest.get("/v2/network-volumes").json()["networkVolumes"]
    assert volume == {
        "id": made["id"],
        "name": "g",
        "size": 20,
        "dataCenter": "US-KS-2",
        "type": "STANDARD",
    }


def test_template_crud_and_deploy_from_template(rest, gql: Gql, emu):
    created = rest.post(
        "/v2/templates",
        json={"name": "t", "image": "img:1", "env": {"A": "1", "B": "2"}, "ports": ["22/tcp"]},
    )
    assert created.status_code == 201
    template = created.json()
    assert (template["startSsh"], template["startJupyter"], template["category"]) == (
        True,
        True,
        "NVIDIA",
    )
    [seen] = gql(TEMPLATES)["myself"]["podTemplates"]
    assert (seen["id"], seen["imageName"]) == (template["id"], "img:1")
    body = {
        "name": "p",
        "templateId": template["id"],
        "gpu": {"id": "NVIDIA A40"},
        "env": {"B": "9"},
    }
    pod = rest.post("/v2/pods", json=body).json()
    assert (pod["image"], pod["env"], pod["ports"]) == ("img:1", {"A": "1", "B": "9"}, ["22/tcp"])
    assert pod["template"] is None  # v2 keeps no link
    in_use = rest.delete(f"/v2/templates/{template['id']}")
    assert (in_use.status_code, in_use.json()["detail"]) == (400, "template is in use by a pod")
    rest.delete(f"/v2/pods/{pod['id']}")
    patched = rest.patch(f"/v2/templates/{template['id']}", json={"image": "img:2"}).json()
    assert patched["image"] == "img:2" and patched["env"] == {"A": "1", "B": "2"}
    duplicate = rest.post("/v2/templates", json={"name": "t", "image": "x"})
    assert duplicate.status_code == 400
    assert rest.get(f"/v2/templates/{template['id']}").json()["image"] == "img:2"
    assert rest.delete(f"/v2/templates/{template['id']}").status_code == 204
    assert rest.get(f"/v2/templates/{template['id']}").status_code == 404
    unknown = rest.post("/v2/pods", json={**v2_pod(), "templateId": template["id"]})
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "template not found")


def test_templates_list_newest_first_in_pages(rest):
    ids = [
        rest.post("/v2/templates", json={"name": f"t{i}", "image": "x"}).json()["id"]
        for i in range(3)
    ]
    first = rest.get("/v2/templates", params={"limit": 2}).json()
    second = rest.get(
        "/v2/templates", params={"limit": 2, "cursor": first["pagination"]["nextCursor"]}
    ).json()
    assert [t["id"] for t in first["templates"] + second["templates"]] == ids[::-1]
    assert second["pagination"] == {"nextCursor": None, "hasNextPage": False}
    assert rest.get("/v2/templates", params={"limit": 101}).status_code == 422


def test_ssh_keys_replace_and_are_graphqls_pub_key(rest, gql: Gql):
    assert rest.get("/v2/account/ssh-keys").json() == {"keys": []}
    keys = ["ssh-ed25519 AAAA1 a@b", "ssh-ed25519 AAAA2 c@d"]
    assert rest.put("/v2/account/ssh-keys", json={"keys": keys}).json() == {"keys": keys}
    assert gql("{ myself { pubKey } }")["myself"]["pubKey"] == "\n".join(keys)
    assert rest.put("/v2/account/ssh-keys", json={"keys": []}).json() == {"keys": []}
    bad = rest.put("/v2/account/ssh-keys", json={"keys": "ssh-ed25519 AAAA"})
    assert bad.status_code == 422


def test_registry_credentials(rest, gql: Gql):
    created = rest.post(
        "/v2/registries", json={"name": "ghcr", "username": "me", "password": "s3cret"}
    )
    assert created.status_code == 201
    registry = created.json()
    assert registry == {"id": registry["id"], "name": "ghcr"}  # the password is write-only
    assert "s3cret" not in rest.get("/v2/registries").text
    assert rest.get("/v2/registries").json() == {"registries": [registry]}
    assert gql("{ myself { containerRegistryCreds { id name } } }")["myself"][
        "containerRegistryCreds"
    ] == [registry]
    pod = rest.post("/v2/pods", json=v2_pod(registry=registry["id"])).json()
    assert pod["registry"] == registry["id"]
    in_use = rest.delete(f"/v2/registries/{registry['id']}")
    assert (in_use.status_code, in_use.json()["detail"]) == (400, "registry is in use by a pod")
    rest.delete(f"/v2/pods/{pod['id']}")
    assert rest.delete(f"/v2/registries/{registry['id']}").status_code == 204
    assert rest.get(f"/v2/registries/{registry['id']}").status_code == 404
    missing = rest.post("/v2/registries", json={"name": "x", "username": "u"})
    assert missing.json()["errors"] == ["$: missing property 'password'"]
