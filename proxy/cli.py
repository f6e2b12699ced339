"""The ``pipgate`` command line: serve, check, policies, log, sbom, lock, impact, osv-bundle,
scan, doctor, token, waiver, quarantine."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from proxy.cli_pipes import quiet_on_broken_pipe
from proxy.settings import ENV_PREFIX, Settings


def _serve_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="run the proxy")
    serve.add_argument("--config", type=Path, help="TOML config file")
    serve.add_argument("--upstream", help="simple index URL to proxy (default: the public PyPI)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", help="port to listen on (default 8080)")
    serve.add_argument("--data-dir", help="cache, logs and state (default ./pipgate-data)")
    serve.add_argument("--workers", help="worker processes sharing the same stores (default 1)")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    # Imported here: checking policies and the trust root loads sigstore, which the
    # commands that only read the fetch log never need.
    from proxy.config_check import EXIT_CONFIG, ConfigError, load_for_serving
    from proxy.startup_report import startup_report

    overrides = {
        "upstream": args.upstream,
        "host": args.host,
        "port": args.port,
        "data_dir": args.data_dir,
        "workers": args.workers,
    }
    try:
        checked = load_for_serving(args.config, overrides=overrides)
    except ConfigError as error:
        print(f"pipgate: {error.report()}", file=sys.stderr)
        return EXIT_CONFIG
    settings = checked.settings
    # Worker processes rebuild the same Settings from the environment.
    if args.config is not None:
        os.environ[f"{ENV_PREFIX}CONFIG"] = str(args.config)
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"{ENV_PREFIX}{key.upper()}"] = str(value)
    run_server(settings, startup_report(settings, checked.policies, _version()))
    return 0


def _version() -> str:
    from proxy.outbound import user_agent

    return user_agent().removeprefix("pipgate/")


def run_server(settings: Settings, report: str | None = None) -> None:
    """Run uvicorn; ``report`` (the start-up block) is logged once logging is set up."""
    import uvicorn  # only the serve command needs the server

    from proxy.serve_options import uvicorn_options

    if settings.workers > 1:
        from proxy.metrics import prepare_multiprocess

        prepare_multiprocess(settings.data_dir / "metrics")

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if report is not None:
        logging.getLogger("pipgate").info("%s", report)
    uvicorn.run(
        "proxy.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        **uvicorn_options(settings),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipgate", description="A private PyPI proxy with policy enforcement."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _serve_parser(subparsers)
    from proxy.cli_cache import add_cache_command
    from proxy.cli_impact import add_impact_command
    from proxy.cli_lock import add_lock_command
    from proxy.cli_log import add_log_commands
    from proxy.cli_osv_bundle import add_bundle_command
    from proxy.cli_policies import add_policy_commands
    from proxy.cli_quarantine import add_quarantine_commands
    from proxy.cli_scan import add_scan_command
    from proxy.cli_token import add_token_commands
    from proxy.cli_waiver import add_waiver_commands
    from proxy.doctor import add_doctor_command

    add_policy_commands(subparsers)
    add_log_commands(subparsers)
    add_lock_command(subparsers)
    add_impact_command(subparsers)
    add_bundle_command(subparsers)
    add_scan_command(subparsers)
    add_doctor_command(subparsers)
    add_token_commands(subparsers)
    add_waiver_commands(subparsers)
    add_quarantine_commands(subparsers)
    add_cache_command(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":  # a server's stdout is the access log, not a reader's pipe
        result: int = args.handler(args)
        return result
    return quiet_on_broken_pipe(lambda: int(args.handler(args)))


if __name__ == "__main__":
    sys.exit(main())
