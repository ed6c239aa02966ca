"""The ``hippo`` command: ``hippo api``, ``hippo worker``, ``hippo up``, ``hippo config``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from hippo_core.config import Config, load_config

log = logging.getLogger("hippo")

DESCRIPTION = """\
Hippo eats work items off queues (SQS, S3, Redis lists, SQL rows, cron) and runs each
as a Docker task on Apache Mesos. Settings come from a TOML file (--config or
HIPPO_CONFIG) and HIPPO_* environment variables; `hippo config` lists them all.
"""


def _setup_logging(config: Config) -> None:
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_api(config: Config, args: argparse.Namespace) -> int:
    import waitress

    from hippo_core.api import create_app

    config = config.with_overrides(host=args.host, port=args.port)
    app = create_app(config)
    log.info("Hippo API on http://%s:%d/ (Redis %s)", config.host, config.port,
             config.redis_url or "redis://localhost:6379/0")
    waitress.serve(app, host=config.host, port=config.port, threads=config.api_threads,
                   ident="hippo")
    return 0


def cmd_config(config: Config, args: argparse.Namespace) -> int:
    for name, env, value, help_text in config.describe():
        print(f"{name} = {value}\n    env {env}: {help_text}")
    return 0


def _add_listen_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1, env HIPPO_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080, env HIPPO_PORT)")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable[..., int]]]:
    parser = argparse.ArgumentParser(prog="hippo", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="TOML config file (env HIPPO_CONFIG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, Callable[..., int]] = {}

    api = sub.add_parser(
        "api", help="serve the REST API",
        description="Serve the REST API (queues, tasks, queue types, OpenAPI) with waitress. "
        "Run as many as you like behind an HTTP balancer; they share state through Redis.",
    )
    _add_listen_options(api)
    commands["api"] = cmd_api

    sub.add_parser("config", help="print every setting, its variable and current value",
                   description="Print every setting with its environment variable, current "
                   "value (secrets masked) and meaning.")
    commands["config"] = cmd_config
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        config = load_config(args.config)
    except ValueError as exc:
        print(f"hippo: {exc}", file=sys.stderr)
        return 2
    _setup_logging(config)
    return commands[args.command](config, args)


if __name__ == "__main__":
    sys.exit(main())
