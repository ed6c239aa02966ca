"""``--log-format json``: one object per line, with the ids of what a line is about as fields."""

from __future__ import annotations

import json
import logging

import pytest

from hippo_core.logformat import JsonFormatter, capture_context, log_context

from .conftest import Process, one_off


def _line(record_of: logging.Logger, caplog: pytest.LogCaptureFixture) -> dict:
    return json.loads(JsonFormatter().format(caplog.records[-1]))


def test_a_line_carries_its_context_and_extra_ids(caplog: pytest.LogCaptureFixture) -> None:
    capture_context()
    log = logging.getLogger("hippo.test")
    with caplog.at_level(logging.INFO, logger="hippo.test"):
        with log_context(queue_id="q-1"), log_context(task_id="t-1", family=None):
            log.info("polled %d item(s)", 3, extra={"attempt_id": "t-1.a"})
        line = _line(log, caplog)
        log.warning("outside")
        outside = _line(log, caplog)
    assert line["message"] == "polled 3 item(s)"
    assert (line["level"], line["logger"]) == ("INFO", "hippo.test")
    assert (line["queue_id"], line["task_id"], line["attempt_id"]) == ("q-1", "t-1", "t-1.a")
    assert "family" not in line
    assert line["time"].endswith("+00:00")
    # The context ends with its block.
    assert "queue_id" not in outside and "task_id" not in outside


def test_a_traceback_is_one_field(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("hippo.test")
    with caplog.at_level(logging.INFO, logger="hippo.test"):
        try:
            raise ValueError("bad value")
        except ValueError:
            log.exception("it failed")
    line = json.loads(JsonFormatter().format(caplog.records[-1]))
    assert "ValueError: bad value" in line["exception"] and "\n" not in json.dumps(line)


@pytest.mark.slow
def test_hippo_up_logs_json_with_the_task_id_on_lines_about_the_task(hippo_up: Process) -> None:
    task = hippo_up.post("/tasks/", one_off("true", id="logged"))
    hippo_up.wait_task("logged", ("FINISHED",))
    lines = [json.loads(line) for line in hippo_up.log().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about = [line for line in lines if line.get("task_id") == task["mesos_id"]]
    assert any("TASK_FINISHED" in line["message"] for line in about), about
