"""``pipgate check`` and ``pipgate policies``: the policy engine on the command line.

``check [--config F] [--json] NAME[==VERSION]... | -`` evaluates policies without serving
(``-`` reads one name per line from stdin; exit 1 when anything is denied). ``policies``
lists every installed policy with its options and defaults, and the ones in force.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from policies.base import PolicyEnvironment, PolicyError, PolicyPlugin
from policies.config import PolicyConfigError, parse_policy_tables
from policies.engine import PolicyEngine, describe_config, plain, policy_tables
from policies.registry import PolicyRegistry
from proxy.config_check import EXIT_CONFIG, ConfigError, load_config
from proxy.outbound import create_session, trusted_origins
from proxy.policy_check import CheckRequest, CheckResult, check_name, check_version, parse_request
from proxy.routing import build_upstream
from proxy.settings import Settings
from proxy.upstream_base import Upstream
from storage.memory import MemoryKeyValueStore

CONCURRENT_PAGES = 8
"""Upstream pages fetched at once for NAME==VERSION requests."""


def add_policy_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = subparsers.add_parser(
        "check", help="evaluate the policies for project names without serving"
    )
    check.add_argument("--config", type=Path, help="TOML config file (default: the default set)")
    check.add_argument("--json", action="store_true", help="one JSON object per line")
    check.add_argument(
        "names", nargs="+", metavar="NAME[==VERSION]", help="projects to check, or - for stdin"
    )
    check.set_defaults(handler=check_command)
    listing = subparsers.add_parser(
        "policies", help="list the policies, their options and defaults"
    )
    listing.add_argument("--config", type=Path, help="also show what this config file enables")
    listing.add_argument("--json", action="store_true", help="print one JSON document")
    listing.set_defaults(handler=policies_command)


def check_command(args: argparse.Namespace) -> int:
    try:
        settings = load_config(args.config).settings
    except ConfigError as error:
        print(f"pipgate: {error.report()}", file=sys.stderr)
        return EXIT_CONFIG
    texts: Iterable[str] = _stdin_names(sys.stdin) if args.names == ["-"] else args.names
    try:
        return asyncio.run(run_check(settings, texts, sys.stdout, as_json=args.json))
    except PolicyConfigError as error:  # found only when creating the policies
        print(f"pipgate: {ConfigError(error.problems).report()}", file=sys.stderr)
        return EXIT_CONFIG
    except PolicyError as error:
        print(f"pipgate: {error}", file=sys.stderr)
        return EXIT_CONFIG


def _stdin_names(stream: TextIO) -> Iterator[str]:
    for line in stream:
        text = line.split("#", 1)[0].strip()
        if text:
            yield text


async def run_check(
    settings: Settings,
    texts: Iterable[str],
    out: TextIO,
    *,
    as_json: bool,
    upstream: Upstream | None = None,
) -> int:
    """Check every request, writing one line each in input order; 1 if any is denied."""
    requests = [parse_request(text) for text in texts]
    wants_pages = any(r.version is not None for r in requests)
    async with _policy_engine(settings, wants_pages, upstream) as (engine, upstream):
        denied = False
        for result in await _evaluate(engine, requests, upstream):
            denied = denied or result.denial is not None
            out.write(_render(result, as_json))
        return 1 if denied else 0


@asynccontextmanager
async def _policy_engine(
    settings: Settings, wants_pages: bool, upstream: Upstream | None
) -> AsyncIterator[tuple[PolicyEngine, Upstream | None]]:
    async with AsyncExitStack() as stack:
        # Policies may download their data (an OSV all.zip URL) over the guarded session.
        session = create_session(settings, trusted_origins(settings))
        stack.push_async_callback(session.close)
        if upstream is None and wants_pages:
            upstream = build_upstream(settings, session)
        # check is a dry run: trust-on-first-use state it would record is not kept.
        kv = MemoryKeyValueStore()
        env = PolicyEnvironment(settings.data_dir, kv, session, settings)
        engine = PolicyEngine.from_settings(settings, env)
        await engine.start()
        stack.push_async_callback(engine.aclose)
        yield engine, upstream


async def _evaluate(
    engine: PolicyEngine, requests: list[CheckRequest], upstream: Upstream | None
) -> list[CheckResult]:
    policies = engine.current
    limit = asyncio.Semaphore(CONCURRENT_PAGES)

    async def one(request: CheckRequest) -> CheckResult:
        async with limit:
            return await check_version(policies, request, upstream)

    if not any(r.version is not None for r in requests):
        return [check_name(policies, request) for request in requests]
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(request)) for request in requests]
    return [task.result() for task in tasks]


def _render(result: CheckResult, as_json: bool) -> str:
    if as_json:
        return json.dumps(result.as_json(), separators=(",", ":")) + "\n"
    request = result.request
    subject = request.name or request.text.strip()
    if request.name and request.version:
        subject = f"{request.name}=={request.version}"
    line = f"{result.decision:<5}  {subject}"
    head = result.headline()
    if head is not None:
        audit = " (audit: not enforced)" if head.audit else ""
        line += f"  {head.policy}{audit}: {head.reason}"
    if result.note:
        line += f"\n       note: {result.note}"
    return line + "\n"


def policies_command(args: argparse.Namespace) -> int:
    try:
        checked = load_config(args.config)
        settings, registry = checked.settings, checked.registry
        available = describe_available(registry)
        active = describe_tables(settings, registry)
    except ConfigError as error:
        print(f"pipgate: {error.report()}", file=sys.stderr)
        return EXIT_CONFIG
    source = str(settings.config_file)
    if settings.policies is None:
        where = f" in {settings.config_file}" if settings.config_file else ""
        source = f"the default set (no [[policy]] table{where})"
    if args.json:
        document = {"available": available, "active": active, "source": source}
        print(json.dumps(document, indent=2))
        return 0
    sys.stdout.write(render_available(available))
    sys.stdout.write(f"\nActive policies, from {source}:\n")
    for entry in active:
        exempt = f" exempt={entry['exempt']}" if entry["exempt"] else ""
        print(f"  {entry['policy']} (mode={entry['mode']}{exempt})")
    if not active:
        print("  none")
    return 0


def describe_available(registry: PolicyRegistry) -> list[dict[str, Any]]:
    """Every installed policy; one that fails to load is listed with its error."""
    described = []
    for name in registry.names():
        try:
            plugin = registry.load(name)
        except PolicyError as error:
            described.append({"policy": name, "error": str(error), "options": []})
            continue
        described.append(_describe_plugin(plugin))
    return described


def _describe_plugin(plugin: type[PolicyPlugin]) -> dict[str, Any]:
    options = [
        {"option": option.name, "default": plain(option.default), "help": option.help}
        for option in plugin.options
    ]
    return {"policy": plugin.name, "summary": plugin.summary, "options": options}


def describe_tables(settings: Settings, registry: PolicyRegistry) -> list[dict[str, Any]]:
    """The policies a config (or the default set) enables, validated but not created."""
    configs = parse_policy_tables(policy_tables(settings), registry)
    return [describe_config(config) for config in configs]


def render_available(available: list[dict[str, Any]]) -> str:
    lines = ['Available policies (enable with [[policy]] use = "<name>"):']
    for entry in available:
        if "error" in entry:
            lines.append(f"\n{entry['policy']}\n  cannot be used: {entry['error']}")
            continue
        lines.append(f"\n{entry['policy']}\n  {entry['summary']}")
        lines.append('  mode = "enforce" | "audit"; exempt = [globs]')
        for option in entry["options"]:
            default = json.dumps(option["default"])
            lines.append(f"  {option['option']} = {default}\n      {option['help']}")
    return "\n".join(lines) + "\n"
