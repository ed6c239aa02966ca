"""``/openapi.json``: a valid OpenAPI 3.1 document of every route, built from the schemas."""

from __future__ import annotations

import json
import re

import falcon.inspect
import falcon.testing
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from hippo_core import constraints, schemas
from hippo_core.api import create_app, openapi
from hippo_core.config import Config
from hippo_core.documents import queue_schema, validate_task
from hippo_core.policy import Policy, PolicySettings
from hippo_core.registry import QueueTypeRegistry


@pytest.fixture
def spec(client) -> dict:
    resp = client.simulate_get("/openapi.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    return resp.json


def test_is_a_valid_openapi_3_1_document(spec) -> None:
    assert spec["openapi"].startswith("3.1.")
    validate(spec)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda spec: spec["paths"]["/queues/{queue_id}/"]["get"].pop("parameters"),
        lambda spec: spec["info"].pop("title"),
        lambda spec: spec["paths"]["/queues/"]["get"]["responses"]["200"].pop("description"),
    ],
    ids=["undeclared-path-parameter", "no-title", "response-without-description"],
)
def test_the_validator_would_catch_a_broken_document(spec, breakage) -> None:
    """The check above can fail."""
    breakage(spec)
    with pytest.raises(OpenAPIValidationError):
        validate(spec)


def _normalise(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path).rstrip("/") or "/"


def test_covers_every_route_and_method(app, spec) -> None:
    served = {
        (_normalise(route.path), method.method.lower())
        for route in falcon.inspect.inspect_routes(app)
        for method in route.methods
        if not method.internal
    }
    documented = {
        (_normalise(path), method)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "delete", "patch"}
    }
    assert served == documented


def test_every_path_parameter_is_declared(spec) -> None:
    for path, operations in spec["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (path, method)


def test_schemas_are_the_ones_that_validate(spec, registry) -> None:
    """One source of truth: the request schemas are the ones Hippo validates with, plus the
    constraint rules it checks in code, and one queue block per installed queue type."""
    documented = spec["components"]["schemas"]
    task = schemas.load("task")
    task.pop("$schema")
    task["properties"]["constraints"]["items"] = constraints.json_schema()
    # The default [policy] refuses some docker run options (see the test below).
    key = documented["Task"]["properties"]["container"]["properties"]["docker"]["properties"]["parameters"]
    assert key["items"]["properties"]["key"].pop("allOf")
    assert documented["Task"] == task

    queue = schemas.load("queue")
    queue.pop("$schema")
    queue["properties"]["constraints"]["items"] = constraints.json_schema()
    key = documented["Queue"]["properties"]["container"]["properties"]["docker"]["properties"]["parameters"]
    assert key["items"]["properties"]["key"].pop("allOf")
    block = documented["Queue"]["properties"].pop("queue")
    queue["properties"].pop("queue")
    assert documented["Queue"] == queue
    assert block["oneOf"] == [
        {"$ref": f"#/components/schemas/QueueBlock.{name}"} for name in registry.names()
    ]
    for name in registry.names():
        validated = queue_schema(registry, name)["properties"]["queue"]
        shown = documented[f"QueueBlock.{name}"]
        assert shown["properties"].pop(name) == {"$ref": f"#/components/schemas/Settings.{name}"}
        assert shown["properties"].pop("type")["const"] == name
        validated["properties"].pop(name)
        validated["properties"].pop("type")
        assert {k: v for k, v in shown.items() if k != "title"} == validated

    error = schemas.load("error")
    error.pop("$schema")
    assert documented["Error"] == error
    assert block["discriminator"] == {
        "propertyName": "type",
        "mapping": {name: f"#/components/schemas/QueueBlock.{name}" for name in registry.names()},
    }


def test_responses_describe_stored_records(spec) -> None:
    """Answers are described by the record schemas, which need no tuple keyword (prefixItems)
    that OpenAPI tools read differently in responses."""
    documented = spec["components"]["schemas"]
    for record in ("TaskRecord", "QueueRecord"):
        assert "prefixItems" not in json.dumps(documented[record])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                text = json.dumps(response.get("content", {}))
                assert '/Task"' not in text and '/Queue"' not in text, (path, method, code)


@pytest.mark.parametrize(
    ("path", "parameter", "source"),
    [("/queues/", "queue_id", "$response.body#/id"), ("/tasks/", "task_id", "$response.body#/mesos_id")],
)
def test_created_resources_link_to_their_operations(spec, path, parameter, source) -> None:
    links = spec["paths"][path]["post"]["responses"]["201"]["links"]
    assert links
    reached = set()
    for link in links.values():
        assert link["parameters"] == {parameter: source}
        pointer = link["operationRef"].removeprefix("#/paths/")
        target, method = pointer.rsplit("/", 1)
        target = target.replace("%7B", "{").replace("%7D", "}").replace("~1", "/").replace("~0", "~")
        operation = spec["paths"][target][method]
        assert parameter in {p["name"] for p in operation["parameters"]}
        reached.add((target, method))
    # Every operation addressed by that parameter is reached.
    wanted = {
        (p, m)
        for p, ops in spec["paths"].items()
        for m, op in ops.items()
        if parameter in {x["name"] for x in op.get("parameters", []) if x["in"] == "path"}
    }
    assert reached == wanted


def test_installed_queue_types_settings_are_components(spec, registry) -> None:
    assert spec["components"]["schemas"]["Settings.memory"] == registry.get("memory").schema


def test_without_queue_types(store) -> None:
    client = falcon.testing.TestClient(create_app(Config(), store, QueueTypeRegistry.of()))
    spec = client.simulate_get("/openapi.json/").json
    validate(spec)
    assert not [name for name in spec["components"]["schemas"] if name.startswith("Settings.")]


def test_every_error_response_is_the_error_shape(spec) -> None:
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400 and "content" in response:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, code)


LIMITED = PolicySettings(allowed_networks=("BRIDGE", "HOST"), max_cpus=2, max_mem=512, max_concurrent=5)
HOST_ONLY = PolicySettings(allowed_networks=("HOST",))


def _param(key: str) -> dict:
    return {"container": {"docker": {"image": "busybox", "parameters": [{"key": key, "value": "x"}]}}}


# (policy, fields of a task, what the case proves): the document and the server agree.
POLICY_CASES = [
    (LIMITED, {}, "a task within every limit"),
    (LIMITED, {"container": {"docker": {"image": "busybox", "network": "HOST"}}}, "an allowed network"),
    (LIMITED, {"container": {"docker": {"image": "busybox", "network": "NONE"}}}, "a network not allowed"),
    (HOST_ONLY, {}, "the default network, not allowed"),
    (HOST_ONLY, {"container": {"docker": {"image": "busybox", "network": "HOST"}}}, "the one allowed"),
    (LIMITED, {"cpus": 2}, "cpus at the limit"),
    (LIMITED, {"cpus": 2.5}, "cpus over it"),
    (LIMITED, {"mem": 600}, "mem over the limit"),
    (LIMITED, {"max_concurrent": 5}, "max_concurrent at the limit"),
    (LIMITED, {"max_concurrent": 6}, "max_concurrent over it"),
    (LIMITED, _param("memory-swap"), "a docker option not denied"),
    (LIMITED, _param("privileged"), "a denied option"),
    (LIMITED, _param("--Privileged"), "a denied option, dashes and any case"),
    (LIMITED, _param("net"), "another spelling of a denied option"),
    (LIMITED, _param("network-alias"), "an option whose name starts like a denied one"),
]


@pytest.mark.parametrize(
    ("settings", "fields"), [c[:2] for c in POLICY_CASES], ids=[c[2] for c in POLICY_CASES]
)
def test_the_documented_task_says_what_the_policy_refuses(registry, settings, fields) -> None:
    policy = Policy(settings)
    task = openapi.build(registry, policy)["components"]["schemas"]["Task"]
    body = {"cmd": "true", "container": {"docker": {"image": "busybox"}}, **fields}
    documented_valid = Draft202012Validator(task).is_valid(body)
    accepted = not policy.task_problems(validate_task(body))
    assert documented_valid == accepted


def test_a_queue_block_says_the_policys_most_concurrency(registry) -> None:
    block = openapi.build(registry, Policy(LIMITED))["components"]["schemas"]["QueueBlock.memory"]
    assert block["properties"]["max_concurrent"]["maximum"] == 5
    # Its default (10000) is over the limit, so it must be given.
    assert "max_concurrent" in block["required"]
