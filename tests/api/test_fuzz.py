"""schemathesis against a real ``hippo api`` and its own ``/openapi.json``.

Every operation gets a bounded number of generated requests (valid and invalid ones) with
a fixed seed, so a run is repeatable and takes well under a minute. The checks: no 5xx,
every status and content type is one the document declares, every body conforms to the
declared schema, and data the document calls valid is accepted. The stateful phase
follows the document's links (a created queue's id, a created task's mesos_id) into the
operations on one queue or task, which otherwise only ever see 404s.

Three queue-type settings are checked by what reads them, not by a pattern (a cron
expression, a time zone, a database URL); the document names them as formats, and
``fuzz_formats.py`` teaches schemathesis to draw valid values of each, so that the
positive cases of those queue types are valid data (see that module).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hippo_core.crypto import new_key

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "fuzzing-admin-token-5e2a9c7b41"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
)
EXAMPLES_PER_OPERATION = 25
SEED = 20261202
FORMATS = Path(__file__).with_name("fuzz_formats.py")


def _schemathesis() -> list[str]:
    script = Path(sys.executable).with_name("st")
    if script.exists():
        return [str(script)]
    found = shutil.which("st")
    return [found] if found else [sys.executable, "-m", "schemathesis.cli"]


def test_the_api_keeps_the_promises_of_its_openapi_document(hippo_api, tmp_path) -> None:
    api = hippo_api(env={"HIPPO_ADMIN_TOKEN": ADMIN_TOKEN, "HIPPO_SECRET_KEY": new_key()})
    command = [
        *_schemathesis(),
        "run",
        f"{api.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(SEED),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--header",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        "--request-timeout",
        "20",
        "--generation-database",
        ":memory:",
        "--no-color",
        # A live event stream never ends: every request to it would wait out the timeout.
        "--exclude-path",
        "/events/",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(FORMATS)}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env, check=False
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-20000:] + "\n" + api.log()[-5000:]
