"""``/openapi.json``: a valid OpenAPI 3.1 document of every route, built from the schemas."""

from __future__ import annotations

import re

import falcon.inspect
import falcon.testing
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from hippo_core import schemas
from hippo_core.api import create_app
from hippo_core.config import Config
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


def test_schemas_are_the_ones_that_validate(spec) -> None:
    """One source of truth: the documented Queue and Task are the schemas Hippo validates with."""
    for component, name in (("Queue", "queue"), ("Task", "task"), ("Error", "error")):
        expected = schemas.load(name)
        expected.pop("$schema", None)
        assert spec["components"]["schemas"][component] == expected
    assert (
        spec["components"]["schemas"]["Queue"]["properties"]["queue"]["properties"]["max_concurrent"][
            "default"
        ]
        == 10000
    )


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
