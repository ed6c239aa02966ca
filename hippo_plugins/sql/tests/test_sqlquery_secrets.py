"""Secrets of a sqlquery connection string never shown: refused where Hippo cannot mask
them, hidden in every message the plugin writes.

Through Hippo's API on the test's Redis, and against the real PostgreSQL and MariaDB.
"""

from __future__ import annotations

import falcon.testing
import pytest
from sqlalchemy.engine import make_url

from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.queuetype import QueueTypeError

PASSWORD = "pw-sql-9f3b2a"
BODY = {
    "cmd": 'import-order "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/orders:1"}},
    "queue": {
        "type": "sqlquery",
        "name": "orders",
        "sqlquery": {"query": "SELECT 1 AS id", "filter_field": "id"},
    },
}

UNMASKABLE = [
    # (what it proves, conn_string)
    (
        "a leading space hides the password from Hippo's anchored mask",
        f" postgresql://app:{PASSWORD}@db/shop",
    ),
    ("so does a trailing line break", f"postgresql://app:{PASSWORD}@db/shop\n"),
    (
        "PyMySQL's passwd option is a password in the query string",
        f"mysql+pymysql://app@db/shop?passwd={PASSWORD}",
    ),
    ("so is PyMySQL's ssl_key_password", f"mysql+pymysql://app:x@db/shop?ssl_key_password={PASSWORD}"),
    ("and libpq's sslpassword", f"postgresql://app@db/shop?sslpassword={PASSWORD}"),
    (
        "an '@' in the user name hides the password from Hippo's mask",
        f"postgresql://app@corp:{PASSWORD}@db/shop",
    ),
]


@pytest.mark.parametrize("conn_string", [c[1] for c in UNMASKABLE], ids=[c[0] for c in UNMASKABLE])
def test_the_api_refuses_a_conn_string_it_could_not_mask_and_never_echoes_it(
    hippo_store, hippo_queuetypes, conn_string
):
    client = falcon.testing.TestClient(create_app(Config(), hippo_store, hippo_queuetypes))
    body = {
        **BODY,
        "queue": {**BODY["queue"], "sqlquery": {**BODY["queue"]["sqlquery"], "conn_string": conn_string}},
    }

    resp = client.simulate_post("/queues/", json=body)

    assert resp.status_code == 400, resp.text
    assert [e["path"] for e in resp.json["errors"]] == ["$.queue.sqlquery.conn_string"]
    assert PASSWORD not in resp.text
    assert client.simulate_get("/queues/").json["items"] == [], "nothing was stored"


@pytest.fixture
def legacy_queue(hippo_instances):
    """Builds an instance without validate(): a queue stored before such URLs were refused."""
    from hippo_sqlquery import SqlQueryQueueType

    def make(conn_string: str):
        settings = {
            "conn_string": conn_string,
            "query": "SELECT 1 AS id",
            "filter_field": "id",
            "filter_val": "",
            "connect_timeout": 5,
        }
        assert SqlQueryQueueType.validate(settings) != [], "refused by validate() today"
        return hippo_instances(SqlQueryQueueType, settings)

    return make


LEAKY_OPTIONS = [
    # (what it proves, database, URL parts, option, what the error says)
    (
        "libpq's sslpassword is hidden when PostgreSQL refuses the role",
        "postgresql",
        {"username": "hippo_no_such_role"},
        "sslpassword",
        "hippo_no_such_role",
    ),
    ("PyMySQL's passwd is hidden when MariaDB refuses it", "mariadb", {}, "passwd", "Access denied"),
]


@pytest.mark.parametrize(
    ("kind", "parts", "option", "says"), [c[1:] for c in LEAKY_OPTIONS], ids=[c[0] for c in LEAKY_OPTIONS]
)
@pytest.mark.filterwarnings("ignore:.passwd. is deprecated:DeprecationWarning")
def test_errors_hide_secret_options_of_a_url_stored_before_they_were_refused(
    request, legacy_queue, kind, parts, option, says
):
    url = make_url(request.getfixturevalue(f"{kind}_url")).set(**parts)
    url = url.update_query_dict({option: PASSWORD}).render_as_string(hide_password=False)
    queue = legacy_queue(url)

    with pytest.raises(QueueTypeError, match=says) as caught:
        queue.poll(1, None)

    assert PASSWORD not in str(caught.value)
    assert f"{option}=hidden" in str(caught.value), "the option is named, its value is not"
