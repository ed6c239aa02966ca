"""Master addresses and redirect targets resolve to the leader's scheduler endpoint."""

from __future__ import annotations

import pytest

from hippo_core.backends.mesos.transport import resolve_redirect, scheduler_url


@pytest.mark.parametrize(
    ("master", "url"),
    [
        pytest.param("m1:5050", "http://m1:5050/api/v1/scheduler", id="host and port"),
        pytest.param("m1", "http://m1:5050/api/v1/scheduler", id="host alone gets port 5050"),
        pytest.param("http://m1:5050", "http://m1:5050/api/v1/scheduler", id="http URL"),
        pytest.param("https://m1:8443/", "https://m1:8443/api/v1/scheduler", id="https URL"),
        pytest.param(
            "http://m1:5050/api/v1/scheduler",
            "http://m1:5050/api/v1/scheduler",
            id="full endpoint kept",
        ),
        pytest.param(
            "http://proxy/mesos/", "http://proxy/mesos/api/v1/scheduler", id="URL port and path kept"
        ),
        pytest.param(" 10.0.0.1:5050 ", "http://10.0.0.1:5050/api/v1/scheduler", id="spaces"),
    ],
)
def test_scheduler_url(master: str, url: str) -> None:
    assert scheduler_url(master) == url


@pytest.mark.parametrize(
    ("master", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("zk://zk1:2181/mesos", "ZooKeeper", id="ZooKeeper URL"),
        pytest.param("ftp://m1", "http or https", id="other scheme"),
    ],
)
def test_scheduler_url_rejects(master: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scheduler_url(master)


CURRENT = "http://standby:5050/api/v1/scheduler"


@pytest.mark.parametrize(
    ("location", "target"),
    [
        pytest.param(
            "//leader:5050/master/api/v1/scheduler",
            "http://leader:5050/master/api/v1/scheduler",
            id="scheme-relative, as real masters send it",
        ),
        pytest.param(
            "leader:5050", "http://leader:5050/api/v1/scheduler", id="bare host:port, as in the docs"
        ),
        pytest.param(
            "http://leader:5050/api/v1/scheduler",
            "http://leader:5050/api/v1/scheduler",
            id="absolute URL",
        ),
        pytest.param("//leader:5050", "http://leader:5050/api/v1/scheduler", id="no path"),
        pytest.param(
            "/master/api/v1/scheduler",
            "http://standby:5050/master/api/v1/scheduler",
            id="path on the same host",
        ),
    ],
)
def test_resolve_redirect(location: str, target: str) -> None:
    assert resolve_redirect(CURRENT, location) == target


def test_redirect_keeps_https() -> None:
    assert (
        resolve_redirect("https://standby:5050/api/v1/scheduler", "//leader:5050/api/v1/scheduler")
        == "https://leader:5050/api/v1/scheduler"
    )
