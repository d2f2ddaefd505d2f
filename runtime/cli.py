"""``hybrid-runner``: the runner, the one-handler harness, the reference server and the demo."""

from __future__ import annotations

import argparse
import asyncio
import sys

from runtime.egress.proxy import export_environment
from runtime.observability.logsetup import configure
from runtime.settings import Settings, defaults_table
from runtime.wire.errors import ConfigError, RunnerError, StartupError


def _settings(require_server: bool) -> Settings:
    """The settings of ``run`` and ``invoke``; the one place the process environment is
    changed: the effective proxy variables are exported for the cloud SDKs
    (runtime.egress.proxy)."""
    try:
        settings = Settings.from_env(require_server=require_server)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    export_environment(settings)
    return settings


def cmd_run(_args: argparse.Namespace) -> int:
    settings = _settings(require_server=True)
    configure(settings.log_level, settings.log_format)
    from runtime.composition import build_runner

    try:
        runner = build_runner(settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except RunnerError as exc:
        # EXECUTOR_TYPE=argo or simpleK8s with no cluster credentials, an unreachable secrets
        # store: what the operator must fix, in one line rather than a traceback.
        print(f"start-up error: {exc.message}", file=sys.stderr)
        return 2
    try:
        asyncio.run(runner.serve_until_signalled())
    except StartupError as exc:
        print(f"start-up error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_invoke(args: argparse.Namespace) -> int:
    settings = _settings(require_server=False)
    configure(settings.log_level, settings.log_format)
    from runtime.devkit.harness import invoke

    try:
        return asyncio.run(
            invoke(
                args.message,
                settings,
                dry_run=args.dry_run,
                server_version=args.server_version,
                reveal_config=args.reveal_config,
            )
        )
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


def cmd_fake_server(args: argparse.Namespace) -> int:
    configure("INFO", "text")
    from runtime.devkit.reference_server import serve_forever

    tokens: dict[str, str | None] = {t: None for t in args.token}
    try:
        asyncio.run(serve_forever(args.host, args.port, tokens, args.server_version))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from runtime.devkit.demo import run_demo

    return asyncio.run(run_demo(verbose=args.verbose))


def cmd_config_table(_args: argparse.Namespace) -> int:
    print(defaults_table())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hybrid-runner", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the runner (configuration from the environment)").set_defaults(
        func=cmd_run
    )
    inv = sub.add_parser("invoke", help="answer one message file locally and print the reply")
    inv.add_argument("message", help="a request frame as JSON (see tests/messages/)")
    inv.add_argument("--dry-run", action="store_true", help="print what would be created")
    inv.add_argument(
        "--server-version",
        default="",
        help="answer as if connected to a server of this version (e.g. 1.13.3): dynamic "
        "ingestion image tags derive from it; default: none",
    )
    inv.add_argument(
        "--reveal-config",
        action="store_true",
        help="with --dry-run, print the config Secret's data instead of its size (the data is "
        "the message file's config with the runner's settings; off by default)",
    )
    inv.set_defaults(func=cmd_invoke)
    fake = sub.add_parser("fake-server", help="start the reference server")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8585)
    fake.add_argument(
        "--token", action="append", required=True, help="accepted bearer token (repeatable)"
    )
    fake.add_argument("--server-version", default="1.11.1")
    fake.set_defaults(func=cmd_fake_server)
    demo = sub.add_parser("demo", help="reference server + local runner, end to end")
    demo.add_argument("--verbose", action="store_true", help="show the runner's log")
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("config-table", help="print the configuration table (Markdown)").set_defaults(
        func=cmd_config_table
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
