"""``pipgate doctor``: check everything ``pipgate serve`` depends on, and say what to fix.

In order: the configuration (settings and policies together), creating each policy, the
PEP 740 trust root, each upstream (a project page and one small file from it), each
storage backend (write, read back and delete a probe), and the OSV source if one is
configured. Each check prints OK, SKIP or FAIL; a FAIL comes with the fix to apply. Exit
status 1 if anything failed, else 0. ``--json`` prints one document instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import aiohttp

from policies.base import PolicyEnvironment, PolicyError
from policies.config import PolicyConfig, PolicyConfigError
from policies.engine import build_policy_set
from policies.osv_source import OsvSource, OsvSourceError, is_url
from proxy.attestations import TrustRootError, shared_verifier
from proxy.config_check import CheckedConfig, ConfigError, load_config
from proxy.doctor_findings import Finding, Status, fail, ok, one_line, skip
from proxy.doctor_net import check_upstreams, check_url
from proxy.doctor_stores import check_backends
from proxy.outbound import create_session, trusted_origins
from proxy.redact import mask_url
from proxy.settings import Settings
from storage.memory import MemoryKeyValueStore


def add_doctor_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="check the config, upstreams, storage, trust root and OSV source; say what to fix",
    )
    doctor.add_argument("--config", type=Path, help="TOML config file, as given to serve")
    doctor.add_argument("--upstream", help="simple index URL, as given to serve")
    doctor.add_argument("--data-dir", help="data directory, as given to serve")
    doctor.add_argument(
        "--project",
        action="append",
        default=[],
        metavar="NAME",
        help="project to probe an upstream with (repeatable; default: pip, or the first "
        "literal name of a private upstream's projects)",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON document")
    doctor.set_defaults(handler=doctor_command)


def doctor_command(args: argparse.Namespace) -> int:
    # The findings say everything; the stores' "starting anyway" warnings would only confuse.
    logging.basicConfig(level=logging.ERROR, format="pipgate: %(name)s: %(message)s")
    overrides = {"upstream": args.upstream, "data_dir": args.data_dir}
    findings = asyncio.run(run_doctor(args.config, overrides, args.project))
    if args.json:
        print(json.dumps(document(findings), indent=2))
    else:
        render(findings, sys.stdout)
    return 1 if failed(findings) else 0


def failed(findings: Sequence[Finding]) -> bool:
    return any(finding.status is Status.FAIL for finding in findings)


async def run_doctor(
    config_file: Path | None,
    overrides: Mapping[str, object] | None = None,
    projects: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every check, in order; a broken configuration stops the checks that need it."""
    try:
        checked = load_config(config_file, environ=environ, overrides=overrides)
    except ConfigError as error:
        return _config_failures(config_file, error)
    settings = checked.settings
    findings = [_config_ok(checked)]
    session = create_session(settings, trusted_origins(settings))
    try:
        findings += await _policy_findings(checked, session)
        findings.append(await _trust_root(settings))
        findings += await check_upstreams(settings, session, projects)
        findings += await check_backends(settings)
        findings += await _osv_findings(checked.policies, settings, session)
    finally:
        await session.close()
    return findings


def _config_target(config_file: Path | None) -> str:
    return str(config_file) if config_file is not None else "embedded defaults (no config file)"


def _config_failures(config_file: Path | None, error: ConfigError) -> list[Finding]:
    target = _config_target(config_file)
    setting_fix = (
        "correct it where it is set: the config file, its PIPGATE_* variable or the flag; "
        "docs/configuration.md lists every setting"
    )
    policy_fix = "correct that [[policy]] table; docs/policies.md lists every policy and option"
    findings = [
        fail(
            "config",
            target,
            problem,
            policy_fix if problem.startswith("[[policy]]") else setting_fix,
        )
        for problem in error.problems
    ]
    findings.append(skip("other checks", "-", "not run: they need a valid configuration"))
    return findings


def _config_ok(checked: CheckedConfig) -> Finding:
    settings = checked.settings
    names = ", ".join(f"{c.name} ({c.mode.value})" for c in checked.policies) or "none"
    origin = "default set" if settings.policies is None else "[[policy]] tables"
    target = _config_target(settings.config_file)
    return ok("config", target, f"settings valid; policies from the {origin}: {names}")


async def _policy_findings(checked: CheckedConfig, session: aiohttp.ClientSession) -> list[Finding]:
    """Creating each policy catches what validating its options cannot (e.g. its source)."""
    settings = checked.settings
    env = PolicyEnvironment(settings.data_dir, MemoryKeyValueStore(), session, settings)
    target = _config_target(settings.config_file)
    fix = "correct the [[policy]] table named in the message (docs/policies.md)"
    try:
        build_policy_set(settings, env, checked.registry)
    except PolicyConfigError as error:
        return [fail("policies", target, problem, fix) for problem in error.problems]
    except PolicyError as error:
        return [fail("policies", target, one_line(error), fix)]
    return []


async def _trust_root(settings: Settings) -> Finding:
    if settings.trust_root is not None:
        target = str(settings.trust_root)
    else:
        target = "sigstore's bundled production trust root"
    try:
        await shared_verifier(settings)
    except TrustRootError as error:
        fix = (
            "set trust_root to a readable sigstore trusted_root.json, or leave it unset "
            "for the bundled root (refresh_trust_root = false works offline)"
        )
        return fail("trust root", target, str(error), fix)
    how = ", refreshed over TUF" if settings.refresh_trust_root else ""
    return ok("trust root", target, f"loaded{how}; PEP 740 provenance can be verified")


def _osv_sources(policies: Sequence[PolicyConfig]) -> list[str]:
    return [
        str(c.options["source"]) for c in policies if c.name == "osv" and c.options.get("source")
    ]


async def _osv_findings(
    policies: Sequence[PolicyConfig], settings: Settings, session: aiohttp.ClientSession
) -> list[Finding]:
    sources = _osv_sources(policies)
    if not sources:
        return [
            skip(
                "osv",
                "-",
                "no OSV source configured: known-malicious packages are NOT blocked",
                "set osv_source (a directory of OSV records, a .json or an all.zip; a path "
                "or a URL) to turn it on",
            )
        ]
    return [await _osv_source(location, settings, session) for location in sources]


async def _osv_source(location: str, settings: Settings, session: aiohttp.ClientSession) -> Finding:
    target = mask_url(location) if is_url(location) else location
    fix = (
        "correct osv_source or the osv [[policy]] source: a directory of OSV .json "
        "records, one .json file or an all.zip, as a path or an http(s) URL"
    )
    try:
        if is_url(location):
            return ok("osv", target, await check_url(session, location))
        source = OsvSource(location, data_dir=settings.data_dir, http=session)
        index = await source.load()
    except (OsvSourceError, OSError, ValueError, aiohttp.ClientError) as error:
        return fail("osv", target, one_line(error), fix)
    records = index.records if index is not None else 0
    return ok("osv", target, f"read {records:,} PyPI record(s)")


def document(findings: Sequence[Finding]) -> dict[str, object]:
    return {"ok": not failed(findings), "checks": [f.as_json() for f in findings]}


def render(findings: Sequence[Finding], out: TextIO) -> None:
    width = max((len(f.check) for f in findings), default=0)
    for finding in findings:
        label = finding.status.value.upper()
        out.write(f"{label:<5} {finding.check:<{width}}  {finding.target}: {finding.detail}\n")
        if finding.fix and finding.status is not Status.OK:
            out.write(f"{'':<5} {'':<{width}}  fix: {finding.fix}\n")
    bad = sum(1 for f in findings if f.status is Status.FAIL)
    verdict = f"{bad} failed" if bad else "all passed"
    out.write(f"\npipgate doctor: {len(findings)} checks, {verdict}\n")


__all__ = ["add_doctor_command", "doctor_command", "document", "render", "run_doctor"]
