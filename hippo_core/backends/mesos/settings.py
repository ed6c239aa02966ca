"""The ``[mesos]`` table: how Hippo reaches the Mesos masters and appears to them."""

from __future__ import annotations

import getpass
import os
import pwd
from dataclasses import dataclass
from typing import ClassVar

from hippo_core.settings import Settings, setting


def running_user() -> str:
    """The name of the user Hippo runs as (what Marathon defaults ``--mesos_user`` to as well).

    A uid without a passwd entry (some containers) falls back to ``$USER``/``$LOGNAME``,
    then to the uid itself, which an agent switching users will refuse: set ``[mesos] user``.
    """
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return str(os.geteuid())


@dataclass(frozen=True)
class MesosSettings(Settings):
    table: ClassVar[str] = "mesos"

    master: str = setting(
        "http://localhost:5050",
        "Mesos master URL(s), comma-separated; tried in turn, redirects to the leader followed.",
    )
    framework_name: str = setting("hippo", "Framework name.")
    user: str = setting(
        running_user(),
        "Unix user the tasks run as on the agents (default: the user Hippo runs as). A master "
        "started with --root_submissions=false refuses a framework whose user is root.",
    )
    role: str = setting("*", "Role whose resources Hippo is offered.")
    principal: str | None = setting(None, "Principal for HTTP basic authentication to the master.")
    secret: str | None = setting(None, "Secret for HTTP basic authentication to the master.", secret=True)
    failover_timeout: float = setting(
        604800.0, "Seconds Mesos keeps Hippo's tasks running while no worker is subscribed.", minimum=0
    )

    @property
    def masters(self) -> list[str]:
        return [m.strip() for m in self.master.split(",") if m.strip()]
