"""Micro-benchmark of PEP 740 verification cost (offline, bundled production trust root).

Measures, in one fresh process: importing sigstore + pypi-attestations; loading the trust
root; the first verification; a cached verification; an uncached verification with a warm
verifier (through the async API and as the bare CPU call); and, for comparison,
pypi-attestations' ``Attestation.verify`` which builds a sigstore ``Verifier`` per call.

    .venv/bin/python bench/attestations_bench.py [--rounds 200]

sigstore's cache is pointed at a temporary directory, so the bundled trust root is used
and nothing outside it is read or written; no network access is made.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "attestations"
CASES = {
    "github": "pypi_attestations-0.0.19.tar.gz",
    "google": "gcb_attestation_test-0.0.0.tar.gz",
    "circleci": "circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl",
}


def row(label: str, seconds: float) -> None:
    print(f"{label:<58}{seconds * 1000:9.3f} ms")


def median_of(rounds: int, call: Callable[[], object]) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def amedian_of(rounds: int, call: Callable[[], Awaitable[object]]) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def main(rounds: int) -> None:
    start = time.perf_counter()
    import hashlib

    from pypi_attestations import Distribution, Provenance

    from proxy.attestations import AttestationVerifier, load_verifier
    from proxy.provenance import verify_provenance

    row("import sigstore + pypi-attestations + proxy.attestations", time.perf_counter() - start)

    dist_name = CASES["github"]
    data = (FIXTURES / dist_name).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    provenance = (FIXTURES / f"{dist_name}.provenance").read_bytes()

    start = time.perf_counter()
    verifier = await AttestationVerifier.load()
    loaded = time.perf_counter() - start
    result = await verifier.verify(dist_name, digest, provenance)
    first = time.perf_counter() - start
    assert result.status.value == "verified", result
    row("trust-root load (once per process)", loaded)
    row("first verification incl. trust-root load", first)
    row("first verification alone", first - loaded)

    cached = await amedian_of(rounds, lambda: verifier.verify(dist_name, digest, provenance))
    row(f"cached verification (median of {rounds})", cached)

    sigstore_verifier = load_verifier(None, refresh=False)
    warm = await amedian_of(
        rounds,
        lambda: AttestationVerifier(sigstore_verifier).verify(dist_name, digest, provenance),
    )
    row("uncached, warm verifier, async API, github (median)", warm)
    for label, name in CASES.items():
        blob = (FIXTURES / name).read_bytes()
        raw = (FIXTURES / f"{name}.provenance").read_bytes()
        sha = hashlib.sha256(blob).hexdigest()
        cost = median_of(rounds, lambda: verify_provenance(sigstore_verifier, name, sha, raw))  # noqa: B023
        row(f"uncached, warm verifier, CPU only, {label} (median)", cost)

    bundle = Provenance.model_validate_json(provenance).attestation_bundles[0]
    dist = Distribution(name=dist_name, digest=digest)
    per_call = median_of(
        rounds,
        lambda: bundle.attestations[0].verify(bundle.publisher, dist, offline=True),
    )
    row("pypi-attestations Attestation.verify, offline (median)", per_call)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    arguments = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    # pypi-attestations' offline Verifier logs a TUF warning on every call.
    logging.getLogger("sigstore").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="pipgate-bench-") as scratch:
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        os.environ["XDG_DATA_HOME"] = str(Path(scratch) / "data")
        asyncio.run(main(arguments.rounds))
