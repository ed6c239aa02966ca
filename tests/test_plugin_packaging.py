"""Each queue type is its own distribution: pip installs it alone and it registers itself."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from hippo_core.queuetype import QueueType

ROOT = Path(__file__).resolve().parents[1]

# (directory, distribution, entry point name)
PLUGINS = [
    ("sqs", "hippo-sqs", "sqs"),
    ("s3", "hippo-s3bucket", "s3bucket"),
    ("redisq", "hippo-redisq", "redis"),
    ("sql", "hippo-sqlquery", "sqlquery"),
    ("cron", "hippo-cron", "cron"),
]


@pytest.mark.parametrize(("directory", "distribution", "name"), PLUGINS)
def test_plugin_installs_on_its_own_and_registers_its_queue_type(
    tmp_path: Path, directory: str, distribution: str, name: str
) -> None:
    target = tmp_path / "site"
    # Alone: no other plugin, no dependencies pulled in, into an empty directory.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(ROOT / "hippo_plugins" / directory),
        ],
        check=True,
        capture_output=True,
    )
    dists = list(importlib.metadata.distributions(path=[str(target)]))
    assert [d.metadata["Name"] for d in dists] == [distribution]
    dist = dists[0]
    assert any(req.startswith("hippo-core") for req in dist.requires or [])
    entry_points = [ep for ep in dist.entry_points if ep.group == "hippo.queuetypes"]
    assert [ep.name for ep in entry_points] == [name]

    sys.path.insert(0, str(target))
    try:
        queue_type = entry_points[0].load()
    finally:
        sys.path.remove(str(target))
    assert issubclass(queue_type, QueueType)
    assert queue_type.name == name
    assert queue_type.schema["type"] == "object"
