"""What tasks and queue sources may do: the ``[policy]`` table, enforced at two points each.

A task definition (a one-off task, or the definition a queue gives its tasks) is checked
by the API before anything is stored (400 naming the rule) and again by the scheduler
before each launch, since a task may predate a rule (it then fails without running). A
queue's source is checked by the API from what its settings say, and again by the
poller before each poll, with host names resolved, since a name may point elsewhere by
then. Every problem names its setting: ``refused by [policy] denied_docker_parameters``.

Containers:

- ``denied_volume_paths``: host paths no volume may mount, nor lie under, nor contain
  (mounting ``/var`` would expose ``/var/run/docker.sock``); ``/`` refuses the root
  itself. ``allowed_volume_paths``: when set, every host path must lie under one of them.
- ``denied_docker_parameters``: ``docker run`` options no task may pass as parameters.
- ``allowed_networks``: the Docker network modes tasks may use.
- ``max_cpus``, ``max_mem``, ``max_concurrent``: the most one task (family) may ask for.

Sources (each queue type says where its settings point: :meth:`QueueType.source_endpoints`):

- ``denied_sources`` / ``allowed_sources``: networks (``169.254.0.0/16``) or host names
  (``db.example.com``, ``.example.com`` for a domain); a source is refused when it is in
  a denied one, and, when allowed ones are set, unless it is in one of them. The Redis
  database Hippo itself stores in (same host, port and db) is always refused.
- ``denied_source_ports``: ports no source may use (Docker's API by default).
- ``sqlite_dirs``: directories SQLite files may be read from; none by default.

The local backend: ``run_as_user`` runs plain-process tasks as that user when Hippo runs
as root.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from hippo_core.errors import FieldError
from hippo_core.settings import Settings, setting

if TYPE_CHECKING:
    from hippo_core.config import Config
    from hippo_core.queuetype import Endpoint

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DENIED_PATHS = ("/", "/etc", "/root", "/proc", "/sys", "/dev", "/var/run/docker.sock", "/run/docker.sock")
# The list, and the other spellings of the same powers (--net, --volumes-from, ...).
DENIED_PARAMETERS = (
    "privileged",
    "pid",
    "ipc",
    "uts",
    "userns",
    "cap-add",
    "device",
    "device-cgroup-rule",
    "security-opt",
    "env-file",
    "cidfile",
    "volume",
    "volumes-from",
    "mount",
    "network",
    "net",
    "cgroup-parent",
    "cgroupns",
    "runtime",
)
NETWORKS = ("BRIDGE", "HOST", "NONE", "USER")


@dataclass(frozen=True)
class PolicySettings(Settings):
    table: ClassVar[str] = "policy"

    allowed_volume_paths: tuple[str, ...] = setting(
        (), "Host paths volumes may mount (by prefix); empty: any path not denied."
    )
    denied_volume_paths: tuple[str, ...] = setting(
        DENIED_PATHS, "Host paths no volume may mount, lie under or contain (`/`: the root itself)."
    )
    denied_docker_parameters: tuple[str, ...] = setting(
        DENIED_PARAMETERS, "`docker run` options tasks may not pass as parameters."
    )
    allowed_networks: tuple[str, ...] = setting(NETWORKS, "Docker network modes tasks may use.")
    max_cpus: float | None = setting(
        None, "Most cpus one task may ask for (default: the schema's 1024).", minimum=0
    )
    max_mem: float | None = setting(None, "Most memory in MB one task may ask for.", minimum=0)
    max_concurrent: int | None = setting(
        None, "Highest max_concurrent a task family or queue may set.", minimum=1
    )
    allowed_sources: tuple[str, ...] = setting(
        (), "Networks or host names queue sources may be in; empty: any not denied."
    )
    denied_sources: tuple[str, ...] = setting(
        ("169.254.0.0/16", "fe80::/10"),
        "Networks or host names no queue source may be in (Hippo's own Redis database always is).",
    )
    denied_source_ports: tuple[str, ...] = setting(("2375", "2376"), "Ports no queue source may use.")
    sqlite_dirs: tuple[str, ...] = setting((), "Directories SQLite queue sources may read from; empty: none.")
    run_as_user: str = setting(
        "nobody", "User the local backend runs plain-process tasks as when Hippo runs as root; empty: root."
    )


def _normal_path(path: str) -> str:
    # normpath keeps a leading "//" (POSIX leaves its meaning open); Linux treats it as "/".
    return "/" + posixpath.normpath("/" + path).lstrip("/")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def volume_problem(settings: PolicySettings, host_path: str) -> str | None:
    """Why a volume may not mount ``host_path``, or ``None``."""
    path = _normal_path(host_path)
    for entry in settings.denied_volume_paths:
        denied = _normal_path(entry)
        exposes = _under(denied, path)  # path is denied, or contains it
        inside = denied != "/" and _under(path, denied)
        if exposes or inside:
            return f"host path {path} is refused by [policy] denied_volume_paths ({denied})"
    allowed = [_normal_path(p) for p in settings.allowed_volume_paths]
    if allowed and not any(_under(path, root) for root in allowed):
        return f"host path {path} is not under [policy] allowed_volume_paths ({', '.join(allowed)})"
    return None


def parameter_name(key: str) -> str:
    """The ``docker run`` option a parameter key names (``--cap-add=ALL`` -> ``cap-add``)."""
    return key.strip().lstrip("-").split("=", 1)[0].lower()


@dataclass(frozen=True)
class OwnRedis:
    """Where Hippo stores its state: no queue may read from there."""

    host: str
    port: int
    db: str

    @classmethod
    def of(cls, url: str) -> OwnRedis | None:
        try:
            parts = urlsplit(url)
            port = parts.port or 6379
        except ValueError:
            return None
        if parts.scheme not in ("redis", "rediss"):
            return None  # a unix socket: no queue reaches it by host and port
        db = (parts.path or "/0").strip("/") or "0"
        return cls((parts.hostname or "localhost").lower(), port, db)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _this_machine(address: Address) -> bool:
    return address.is_loopback or address.is_unspecified


class Policy:
    def __init__(self, settings: PolicySettings, own_redis: OwnRedis | None = None) -> None:
        self.settings = settings
        self.own_redis = own_redis
        self._denied = _entries(settings.denied_sources, "denied_sources")
        self._allowed = _entries(settings.allowed_sources, "allowed_sources")

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        return cls(config.section(PolicySettings), OwnRedis.of(config.redis_url_or_default))

    # -- tasks ----------------------------------------------------------------------------

    def task_problems(self, definition: Mapping[str, Any]) -> list[FieldError]:
        """What in a task definition (schema-valid, defaults filled) the policy refuses."""
        s = self.settings
        problems = []
        container = definition.get("container") or {}
        docker = container.get("docker") or {}
        for n, volume in enumerate(container.get("volumes") or []):
            host = volume.get("hostPath") or volume.get("host_path")
            if host and (why := volume_problem(s, str(host))):
                problems.append(FieldError(f"$.container.volumes[{n}].hostPath", why))
        denied = {parameter_name(p) for p in s.denied_docker_parameters}
        for n, parameter in enumerate(docker.get("parameters") or []):
            name = parameter_name(str(parameter.get("key", "")))
            if name in denied:
                problems.append(
                    FieldError(
                        f"$.container.docker.parameters[{n}].key",
                        f"--{name} is refused by [policy] denied_docker_parameters",
                    )
                )
        network = str(docker.get("network") or "BRIDGE").upper()
        if network not in {n.upper() for n in s.allowed_networks}:
            problems.append(
                FieldError(
                    "$.container.docker.network",
                    f"network {network} is not in [policy] allowed_networks "
                    f"({', '.join(s.allowed_networks)})",
                )
            )
        for name, limit in (("cpus", s.max_cpus), ("mem", s.max_mem), ("max_concurrent", s.max_concurrent)):
            value = definition.get(name)
            if limit is not None and isinstance(value, int | float) and value > limit:
                problems.append(FieldError(f"$.{name}", f"{value:g} is over [policy] max_{name} ({limit:g})"))
        return problems

    # -- sources --------------------------------------------------------------------------

    def source_problems(self, endpoints: Iterable[Endpoint], resolve: bool = False) -> list[tuple[str, str]]:
        """``(setting, why)`` for each place a queue's settings point that the policy refuses.

        With ``resolve`` (the poller, before a poll) host names are looked up and every
        address they have is checked, and SQLite paths are followed through symlinks.
        """
        problems = []
        for endpoint in endpoints:
            if endpoint.path is not None and (why := self._path_problem(endpoint.path, resolve)):
                problems.append((endpoint.setting, why))
            if endpoint.host is not None and (why := self._host_problem(endpoint, resolve)):
                problems.append((endpoint.setting, why))
        return problems

    def _path_problem(self, path: str, resolve: bool) -> str | None:
        dirs = self.settings.sqlite_dirs
        if not dirs:
            return "SQLite files are refused: [policy] sqlite_dirs lists no directory they may be read from"
        real = os.path.realpath(path) if resolve else _normal_path(path)
        roots = [os.path.realpath(d) if resolve else _normal_path(d) for d in dirs]
        if not any(_under(real, root) for root in roots):
            return f"{real} is not in a directory of [policy] sqlite_dirs ({', '.join(dirs)})"
        return None

    def _host_problem(self, endpoint: Endpoint, resolve: bool) -> str | None:
        host = (endpoint.host or "").strip().lower().rstrip(".")
        port = endpoint.port
        if port is not None and str(port) in self.settings.denied_source_ports:
            return f"port {port} is refused by [policy] denied_source_ports"
        addresses, unresolved = self._addresses(host, resolve)
        if self._is_own_redis(endpoint, host, addresses):
            return "that is the Redis database Hippo stores its own state in; refused whatever the [policy]"
        for entry in self._denied:
            if _covers(entry, host, addresses):
                return f"{host} is refused by [policy] denied_sources ({entry})"
        if self._allowed:
            if any(isinstance(e, str) and _covers(e, host, []) for e in self._allowed):
                return None
            if not addresses:
                if unresolved and not resolve:
                    return None  # the poller resolves the name and checks it before polling
                return f"{host} is not in [policy] allowed_sources (its addresses are unknown)"
            outside = [a for a in addresses if not any(_covers(e, "", [a]) for e in self._allowed)]
            if outside:
                return f"{host} ({outside[0]}) is not in [policy] allowed_sources"
        return None

    def _addresses(self, host: str, resolve: bool) -> tuple[list[Address], bool]:
        """The addresses ``host`` stands for, and whether it is a name left unresolved."""
        literal = _literal(host)
        if literal is not None:
            return [literal], False
        if host == "localhost" or host.endswith(".localhost"):
            return [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")], False
        if not resolve:
            return [], True
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return [], True
        found = []
        for info in infos:
            address = _literal(str(info[4][0]).split("%", 1)[0])
            if address is not None and address not in found:
                found.append(address)
        return found, False

    def _is_own_redis(self, endpoint: Endpoint, host: str, addresses: list[Address]) -> bool:
        own = self.own_redis
        if own is None or endpoint.database is None or endpoint.port != own.port:
            return False
        if str(endpoint.database) != own.db:
            return False
        if host == own.host:
            return True
        # Resolved only when the queue's host was: both sides are compared the same way.
        mine, _ = self._addresses(own.host, resolve=bool(addresses) and _literal(host) is None)
        if any(_this_machine(a) for a in mine) and any(_this_machine(a) for a in addresses):
            return True
        return bool(set(mine) & set(addresses))


def _entries(values: Iterable[str], setting_name: str) -> list[Network | str]:
    entries: list[Network | str] = []
    for value in values:
        value = value.strip().lower()
        if not value:
            continue
        try:
            entries.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            if "/" in value or " " in value:
                raise ValueError(
                    f"invalid settings: [policy] {setting_name}: {value!r} is neither a network nor "
                    "a host name"
                ) from None
            entries.append(value.rstrip("."))
    return entries


def _covers(entry: Network | str, host: str, addresses: list[Address]) -> bool:
    if isinstance(entry, str):
        return bool(host) and (
            host == entry or (entry.startswith(".") and (host.endswith(entry) or host == entry[1:]))
        )
    return any(a.version == entry.version and a in entry for a in addresses) or any(
        a.version == 6 and a.ipv4_mapped is not None and entry.version == 4 and a.ipv4_mapped in entry
        for a in addresses
    )


@dataclass(frozen=True)
class RunAs:
    """The user the local backend runs a plain-process task as."""

    name: str
    uid: int
    gid: int
    home: str


def run_as(settings: PolicySettings) -> RunAs | None:
    """Whom ``run_as_user`` says tasks run as, when Hippo runs as root; ``None`` to run as Hippo.

    Raises ``LookupError`` naming the setting when that user does not exist here.
    """
    name = settings.run_as_user.strip()
    if not name or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        raise LookupError(
            f"[policy] run_as_user names {name!r}, which is no user on this machine; create it, or set "
            "another (an empty value runs tasks as root)"
        ) from None
    if entry.pw_uid == 0:
        return None
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
