"""The ``[mesos]`` table: how Hippo reaches the Mesos masters and appears to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hippo_core.settings import Settings, setting


@dataclass(frozen=True)
class MesosSettings(Settings):
    table: ClassVar[str] = "mesos"

    master: str = setting(
        "http://localhost:5050",
        "Mesos master URL(s), comma-separated; tried in turn, redirects to the leader followed.",
    )
    framework_name: str = setting("hippo", "Framework name.")
    user: str = setting("root", "User tasks run as on the agents.")
    role: str = setting("*", "Role whose resources Hippo is offered.")
    principal: str | None = setting(None, "Principal for HTTP basic authentication to the master.")
    secret: str | None = setting(None, "Secret for HTTP basic authentication to the master.", secret=True)
    failover_timeout: float = setting(
        604800.0, "Seconds Mesos keeps Hippo's tasks running while no worker is subscribed.", minimum=0
    )

    @property
    def masters(self) -> list[str]:
        return [m.strip() for m in self.master.split(",") if m.strip()]
