"""Tokens and roles on every route, Host names, cross-site requests, and where the API may listen."""

from __future__ import annotations

import logging
import uuid

import falcon.testing
import pytest

from hippo_core.api import auth
from hippo_core.api.auth import AuthSettings, bind_problem, token_problems
from hippo_core.config import Config
from tests.conftest import ADMIN_TOKEN, READ_TOKEN

QID = str(uuid.uuid4())
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
NETWORK = {auth.NETWORK_KEY: True}

# (method, path, what a read token gets): a read token may call every GET that changes
# nothing; 404/405 mean the request got past the guard.
ROUTES = [
    ("GET", "/queues/", 200),
    ("POST", "/queues/", 403),
    ("GET", f"/queues/{QID}/", 404),
    ("PUT", f"/queues/{QID}/", 403),
    ("DELETE", f"/queues/{QID}/", 403),
    ("GET", f"/queues/{QID}/toggle/", 403),
    ("POST", f"/queues/{QID}/toggle/", 403),
    ("GET", "/queuetypes/", 200),
    ("GET", "/tasks/", 200),
    ("POST", "/tasks/", 403),
    ("GET", "/tasks/some-task/", 404),
    ("DELETE", "/tasks/some-task/", 403),
    ("GET", "/tasks/some-task/kill/", 403),
    ("POST", "/tasks/some-task/kill/", 403),
    ("POST", "/tasks/some-task/retry/", 403),
    ("GET", "/tasks/some-task/logs/", 404),
]
OPEN = ["/", "/healthz", "/readyz", "/openapi.json", "/ui/index.html"]


@pytest.fixture
def guarded(token_app) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(token_app)


@pytest.mark.parametrize(("method", "path", "_"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token-we-know"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}],
    ids=["none", "unknown", "not-bearer"],
)
def test_without_a_valid_token_every_route_is_401(guarded, error_of, method, path, _, headers) -> None:
    resp = guarded.simulate_request(method, path, headers=headers)
    error_of(resp, 401)
    assert resp.headers["www-authenticate"].startswith('Bearer realm="hippo"')


@pytest.mark.parametrize(("method", "path", "read_gets"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_a_read_token_reads_and_an_admin_token_does_everything(
    guarded, error_of, method, path, read_gets
) -> None:
    as_read = guarded.simulate_request(method, path, headers=READ)
    if read_gets == 403:
        error_of(as_read, 403)
        assert 'error="insufficient_scope"' in as_read.headers["www-authenticate"]
    else:
        assert as_read.status_code == read_gets, as_read.text
    as_admin = guarded.simulate_request(method, path, headers=ADMIN)
    assert as_admin.status_code not in (401, 403), as_admin.text


@pytest.mark.parametrize("path", OPEN)
def test_open_routes_need_no_token(guarded, path) -> None:
    assert guarded.simulate_get(path).status_code in (200, 404)  # no UI is installed here
    assert guarded.simulate_get(path).status_code not in (401, 403)


@pytest.mark.parametrize("path", [f"/queues/{QID}/toggle/", "/tasks/some-task/kill/"])
def test_a_state_changing_get_needs_a_bearer_token_even_without_tokens_configured(client, error_of, path):
    body = error_of(client.simulate_get(path), 403)
    assert "use POST" in body["description"]
    assert client.simulate_post(path).status_code == 404  # past the guard


HOSTS = [
    # (tokens configured, allowed_hosts, Host header, answered)
    (False, (), "localhost", True),
    (False, (), "127.0.0.1:8080", True),
    (False, (), "[::1]:8080", True),
    (False, (), "api.localhost", True),
    (False, (), "attacker.example", False),
    (False, (), "127.0.0.1.attacker.example", False),
    (False, ("hippo.lan",), "hippo.lan:8080", True),
    (True, (), "anything.example", True),
    (True, ("hippo.example.com",), "hippo.example.com", True),
    (True, ("hippo.example.com",), "other.example.com", False),
    (True, (".example.com",), "a.b.example.com", True),
    (True, (".example.com",), "example.com", True),
    (True, (".example.com",), "badexample.com", False),
]


@pytest.mark.parametrize(("tokens", "allowed", "host", "answered"), HOSTS)
def test_host_names(store, registry, error_of, tokens, allowed, host, answered) -> None:
    config = Config().with_table(
        "auth", admin_tokens=(ADMIN_TOKEN,) if tokens else None, allowed_hosts=allowed
    )
    from hippo_core.api import create_app

    client = falcon.testing.TestClient(create_app(config, store, registry))
    resp = client.simulate_get("/tasks/", headers={**ADMIN, "Host": host}, extras=NETWORK)
    if answered:
        assert resp.status_code == 200, resp.text
    else:
        error_of(resp, 421)


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"Origin": "https://attacker.example"}, True),
        ({"Origin": "null"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, True),
        ({"Origin": "http://localhost:8080", "Sec-Fetch-Site": "same-origin"}, False),
        ({}, False),
    ],
)
def test_without_tokens_cross_site_requests_are_refused(
    client, error_of, task_body, headers, refused
) -> None:
    resp = client.simulate_post("/tasks/", json=task_body(), headers=headers)
    if refused:
        error_of(resp, 403)
    else:
        assert resp.status_code == 201, resp.text


def test_tokens_never_reach_the_log(guarded, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    guarded.simulate_get("/tasks/", headers=ADMIN)
    guarded.simulate_post("/tasks/", headers=READ, json={"cmd": "x"})
    guarded.simulate_post("/tasks/", headers=ADMIN, json={"cmd": ""})
    guarded.simulate_get("/nope", headers={"Authorization": "Bearer guessed-token-0123456789"})
    for token in (ADMIN_TOKEN, READ_TOKEN, "guessed-token-0123456789"):
        assert token not in caplog.text


@pytest.mark.parametrize(
    ("settings", "host", "refused"),
    [
        (AuthSettings(), "127.0.0.1", False),
        (AuthSettings(), "localhost", False),
        (AuthSettings(), "::1", False),
        (AuthSettings(), "0.0.0.0", True),
        (AuthSettings(), "192.168.1.5", True),
        (AuthSettings(insecure=True), "0.0.0.0", False),
        (AuthSettings(admin_tokens=(ADMIN_TOKEN,)), "0.0.0.0", False),
        (AuthSettings(read_tokens=(READ_TOKEN,)), "0.0.0.0", False),
    ],
)
def test_where_the_api_may_listen(settings, host, refused) -> None:
    problem = bind_problem(settings, host)
    assert (problem is not None) == refused
    if refused:
        assert "--insecure" in problem and "HIPPO_ADMIN_TOKEN" in problem


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (AuthSettings(admin_tokens=("short",)), "token 1 has 5 characters"),
        (AuthSettings(read_tokens=(ADMIN_TOKEN, "x" * 15)), "token 2 has 15 characters"),
        (
            AuthSettings(admin_tokens=(ADMIN_TOKEN,), read_tokens=(ADMIN_TOKEN,)),
            "both an admin token and a read",
        ),
    ],
)
def test_weak_or_confused_tokens_stop_hippo(settings, problem) -> None:
    problems = token_problems(settings)
    assert any(problem in p for p in problems), problems
    assert all("short" not in p for p in problems), "a token is never repeated"
    with pytest.raises(ValueError, match="invalid settings"):
        auth.Guard(settings)


def test_several_tokens_in_one_variable() -> None:
    from hippo_core.config import load_config

    env = {"HIPPO_ADMIN_TOKEN": f"{ADMIN_TOKEN}, second-admin-token-0123", "HIPPO_READ_TOKEN": READ_TOKEN}
    settings = load_config(env=env).section(AuthSettings)
    assert settings.admin_tokens == (ADMIN_TOKEN, "second-admin-token-0123")
    guard = auth.Guard(settings)
    assert guard.role_of("second-admin-token-0123") == "admin"
    assert guard.role_of(READ_TOKEN) == "read"
    assert guard.role_of("second-admin-token-012") is None


def test_the_openapi_document_declares_the_bearer_scheme(guarded) -> None:
    spec = guarded.simulate_get("/openapi.json").json
    assert spec["components"]["securitySchemes"]["bearer"] == {
        **spec["components"]["securitySchemes"]["bearer"],
        "type": "http",
        "scheme": "bearer",
    }
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert "401" in spec["paths"]["/tasks/"]["post"]["responses"]
    assert "403" in spec["paths"]["/tasks/{task_id}/kill/"]["get"]["responses"]
