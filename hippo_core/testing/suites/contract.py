"""The contract suite: what every queue type promises Hippo, checked the same way for each.

A plugin's tests subclass :class:`QueueTypeSuite` and say which queue type, which
settings are required and which are secret::

    class TestSqsContract(QueueTypeSuite):
        queue_type = SqsQueueType
        required = ["queuename"]
        secrets = {"awssecret"}

It finds the type the way ``hippo worker`` does (the ``hippo_queuetypes`` fixture: the
installed entry points, unless the test module defines its own), checks the schema's
conventions and the manual, and creates a queue from the manual's example.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import falcon.testing

from hippo_core import secrets
from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.manuals import SETTINGS_HEADING, manual, manual_module
from hippo_core.queuetype import QueueType
from hippo_core.registry import QueueTypeRegistry
from hippo_core.store import Store
from hippo_core.testing.plugin_settings import assert_schema_conventions

# The JSON body of the example's curl command: -d '{...}'.
_EXAMPLE = re.compile(r"```sh\n.*? -d '(?P<body>\{.*?\})'\n```", re.DOTALL)


def manual_example(queue_type: type[QueueType]) -> dict[str, Any]:
    """The queue body of the ``curl`` example in ``queue_type``'s manual."""
    doc = manual_module(queue_type).__doc__ or ""
    found = _EXAMPLE.search(doc)
    assert found, f"the manual of {queue_type.name} has no ```sh example with curl ... -d '{{...}}'"
    body: dict[str, Any] = json.loads(found.group("body"))
    return body


class QueueTypeSuite:
    """Tests every queue type passes. Set ``queue_type``, ``required`` and ``secrets``."""

    queue_type: ClassVar[type[QueueType]]
    required: ClassVar[list[str]]
    secrets: ClassVar[set[str]]

    def test_registered_under_its_name(self, hippo_queuetypes: QueueTypeRegistry) -> None:
        assert hippo_queuetypes.get(self.queue_type.name) is self.queue_type

    def test_the_schema_follows_the_conventions(self) -> None:
        assert_schema_conventions(self.queue_type.schema, required=self.required, secrets=self.secrets)

    def test_the_manual_tables_every_setting_and_leaves_them_to_the_schema(self) -> None:
        text = manual(self.queue_type)
        prose = manual_module(self.queue_type).__doc__ or ""
        assert text.count(SETTINGS_HEADING) == 1, "the docstring has a settings section of its own"
        assert SETTINGS_HEADING not in prose
        for name, prop in self.queue_type.schema["properties"].items():
            assert f"| `{name}` |" in text, f"{name} is missing from the settings table"
            description = prop["description"]
            assert description not in prose, f"the docstring repeats the description of {name}"

    def test_the_manual_example_creates_a_queue_with_its_secrets_masked(
        self, hippo_store: Store, hippo_queuetypes: QueueTypeRegistry
    ) -> None:
        body = manual_example(self.queue_type)
        client = falcon.testing.TestClient(create_app(Config(), hippo_store, hippo_queuetypes))

        resp = client.simulate_post("/queues/", json=body)

        assert resp.status_code == 201, resp.text
        name = self.queue_type.name
        assert resp.json["queue"]["type"] == name
        sent = body["queue"][name]
        for secret in secrets.secret_values(self.queue_type.schema, sent):
            assert secret not in resp.text
        masked = secrets.mask(self.queue_type.schema, json.loads(json.dumps(sent)))
        shown = resp.json["queue"][name]
        assert {key: shown[key] for key in sent} == masked
