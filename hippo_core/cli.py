"""The ``hippo`` command: ``hippo api``, ``hippo worker``, ``hippo up``, ``hippo config``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from hippo_core.config import LOG_LEVELS, Config
from hippo_core.secrets import mask_url_password

log = logging.getLogger("hippo")

DESCRIPTION = """\
Hippo eats work items off queues (SQS, S3, Redis lists, SQL rows, cron) and runs each
as a Docker task on Apache Mesos. Settings come from a TOML file (--config or
HIPPO_CONFIG) and HIPPO_* environment variables; `hippo config` lists them all.
"""


def _with_options(config: Config, args: argparse.Namespace) -> Config:
    """The settings with the command line's log and metrics options applied."""
    level = getattr(args, "log_level", None)
    config = config.with_overrides(log_level=level.upper() if level else None)
    log_format = getattr(args, "log_format", None)
    config = config.with_table("log", format=log_format.lower() if log_format else None)
    return config.with_table(
        "metrics", port=getattr(args, "metrics_port", None), host=getattr(args, "metrics_host", None)
    )


def _setup_logging(config: Config) -> None:
    from hippo_core.logformat import LogSettings, setup

    setup(config.log_level, config.section(LogSettings).format)


def cmd_api(config: Config, args: argparse.Namespace) -> int:
    import waitress

    from hippo_core import compose
    from hippo_core.api import auth
    from hippo_core.api.server import networked, waitress_options

    config = config.with_overrides(host=args.host, port=args.port).with_table(
        "auth", insecure=args.insecure or None
    )
    problem = auth.bind_problem(config.section(auth.AuthSettings), config.host)
    if problem:
        print(f"hippo api: {problem}", file=sys.stderr)
        return 2
    try:
        app = compose.api_app(config, compose.open_store(config))
    except ValueError as exc:  # a token too short, a malformed key
        print(f"hippo api: {exc}", file=sys.stderr)
        return 2
    _warn_unsafe(config)
    log.info(
        "Hippo API on http://%s:%d/ (Redis %s)",
        config.host,
        config.port,
        mask_url_password(config.redis_url_or_default),
    )
    waitress.serve(networked(app), **waitress_options(config))
    return 0


def _warn_unsafe(config: Config) -> None:
    """Say at start what this Hippo leaves open: no tokens, no key for secrets."""
    from hippo_core.api.auth import AuthSettings
    from hippo_core.crypto import SecretsSettings

    if not config.section(AuthSettings).has_tokens:
        log.warning(
            "no tokens (HIPPO_ADMIN_TOKEN, HIPPO_READ_TOKEN): the API answers anyone who can reach "
            "%s, and only requests addressed to a loopback name",
            config.host,
        )
    if not config.section(SecretsSettings).key:
        log.warning("no HIPPO_SECRET_KEY: queues' secret settings are stored in Redis in clear")


def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    from hippo_core import compose
    from hippo_core.backends.loader import UnknownBackend
    from hippo_core.signals import stop_on_signals

    config = config.with_overrides(backend=args.backend).with_table("mesos", master=args.master)
    try:
        worker = compose.worker(config, compose.open_store(config))
    except (UnknownBackend, ValueError) as exc:
        print(f"hippo worker: {exc}", file=sys.stderr)
        return 2
    from hippo_core.crypto import SecretsSettings

    if not config.section(SecretsSettings).key:
        log.warning("no HIPPO_SECRET_KEY: secrets of queues are read as stored, in clear")
    stop_on_signals(worker.stop)
    log.info(
        "Hippo worker (%s backend), Redis %s",
        config.backend,
        mask_url_password(config.redis_url_or_default),
    )
    stop_metrics = _serve_worker_metrics(config)
    try:
        return worker.run()
    finally:
        stop_metrics()


def _serve_worker_metrics(config: Config) -> Callable[[], None]:
    """``/metrics`` of the worker on ``[metrics] port``, if one is set; returns how to stop it."""
    from hippo_core import metrics

    settings = config.section(metrics.MetricsSettings)
    if settings.port is None:
        return lambda: None
    stop = metrics.serve(metrics.install(settings).exposed(), settings.host, settings.port)
    log.info("worker metrics on http://%s:%d/metrics", settings.host, settings.port)
    return stop


def cmd_up(config: Config, args: argparse.Namespace) -> int:
    from hippo_core.up import UpError, run_up

    try:
        return run_up(
            config.with_overrides(host=args.host, port=args.port).with_table(
                "auth", insecure=args.insecure or None
            )
        )
    except UpError as exc:
        print(f"hippo up: {exc}", file=sys.stderr)
        return 2


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    from hippo_core import compose

    for row in config.describe(compose.known_sections()):
        print(f"{row.name} = {row.value}  ({row.origin})\n    env {row.env}: {row.help}")
    return 0


def _add_listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1, env HIPPO_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080, env HIPPO_PORT)")
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="listen on a non-loopback address although no token is set ([auth] insecure)",
    )


def _add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        help="DEBUG, INFO (default), WARNING or ERROR (env HIPPO_LOG_LEVEL)",
    )
    parser.add_argument(
        "--log-format",
        type=str.lower,
        choices=("text", "json"),
        help="text (default) or json: one object per line, task and queue ids as fields "
        "(env HIPPO_LOG_FORMAT)",
    )


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[..., int]]]:
    parser = argparse.ArgumentParser(
        prog="hippo", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", help="TOML config file (env HIPPO_CONFIG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, Callable[..., int]] = {}

    api = sub.add_parser(
        "api",
        help="serve the REST API",
        description="Serve the REST API (queues, tasks, queue types, OpenAPI) with waitress. "
        "Run as many as you like behind an HTTP balancer; they share state through Redis.",
    )
    _add_listen_options(api)
    _add_log_options(api)
    commands["api"] = cmd_api

    worker = sub.add_parser(
        "worker",
        help="run the scheduler, tracker and poller (one leads, others stand by)",
        description="Subscribe to the backend (Mesos by default), launch pending tasks, track "
        "their states and retries, and poll the queues. Run several for failover: one holds the "
        "leader lease in Redis and drives the cluster; a standby takes over when it lapses.",
    )
    worker.add_argument("--backend", help="mesos (default) or local (env HIPPO_BACKEND)")
    worker.add_argument(
        "--master", help="Mesos master URL(s), comma-separated ([mesos] master, env HIPPO_MESOS_MASTER)"
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus /metrics on this port ([metrics] port, env HIPPO_METRICS_PORT)",
    )
    worker.add_argument(
        "--metrics-host",
        help="address of /metrics (default 127.0.0.1; [metrics] host, env HIPPO_METRICS_HOST)",
    )
    _add_log_options(worker)
    commands["worker"] = cmd_worker

    up = sub.add_parser(
        "up",
        help="run all of Hippo on this machine: API, worker, local backend, own Redis",
        description="Run the API, the worker and the poller in one process, with tasks running on "
        "this machine (docker run when a Docker engine answers, else plain processes) and, unless "
        "HIPPO_REDIS_URL is set, a private Redis persisted in the data directory (HIPPO_DATA_DIR, "
        "default ~/.hippo). Ctrl-C stops everything and kills running tasks; the next `hippo up` "
        "retries them.",
    )
    _add_listen_options(up)
    _add_log_options(up)
    commands["up"] = cmd_up

    sub.add_parser(
        "config",
        help="print every setting, its variable and current value",
        description="Print every setting with its environment variable, current "
        "value (secrets masked), where that value came from (default, config file, environment "
        "or command line) and meaning.",
    )
    commands["config"] = cmd_config
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from hippo_core import compose

    try:
        config = _with_options(compose.load(args.config), args)
        _setup_logging(config)
    except ValueError as exc:
        print(f"hippo: {exc}", file=sys.stderr)
        return 2
    return commands[args.command](config, args)


if __name__ == "__main__":
    sys.exit(main())
