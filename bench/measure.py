"""Single measurements: a wrk load run, a curl probe, a streamed cold download and an
isolated ``pip download`` run. Each returns plain numbers; ``runner`` repeats and records."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from servers import clean_env

# What pip sends for index pages (PEP 691 JSON preferred, HTML accepted).
PIP_HEADERS = {
    "Accept": (
        "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
        "text/html; q=0.01"
    ),
    "Accept-Encoding": "gzip, deflate",
    "Cache-Control": "max-age=0",
}
HTML_HEADERS = {"Accept": "text/html"}
PROFILES = {"pip": PIP_HEADERS, "html": HTML_HEADERS}

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int
    """Socket errors (connect/read/write/timeout) plus non-2xx/3xx responses."""


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, headers: dict[str, str], connections: int, seconds: int) -> WrkResult:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*argv, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    if set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"wrk {url}: no latency distribution in its output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        requests=int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        errors=errors + (int(non_2xx.group(1)) if non_2xx else 0),
    )


def curl(url: str, headers: dict[str, str]) -> dict[str, object]:
    """One GET; curl's ``%{json}`` write-out (status, sizes, timings) plus the headers."""
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{json}\\n%{header_json}"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True, timeout=120)
    info_text, _, header_text = out.stdout.partition("\n")
    info: dict[str, object] = json.loads(info_text)
    info["headers"] = json.loads(header_text)
    return info


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def file_url(page_url: str, filename: str) -> str:
    """The absolute URL the server's HTML page gives for ``filename`` (fragment dropped)."""
    argv = ["curl", "-sS", "--fail", "--compressed", "-H", "Accept: text/html", page_url]
    page = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout
    parser = _Anchors()
    parser.feed(page)
    for href in parser.hrefs:
        absolute = urljoin(page_url, href).split("#", 1)[0]
        if urlsplit(absolute).path.rsplit("/", 1)[-1] == filename:
            return absolute
    raise RuntimeError(
        f"{page_url}: expected a link to {filename}, found {len(parser.hrefs)} links"
    )


@dataclass(frozen=True)
class Download:
    status: int
    ttfb_s: float
    wall_s: float
    redirects: int
    size: int
    sha256: str


def download(url: str) -> Download:
    """GET ``url`` following redirects, hashing the body as it streams in."""
    argv = ["curl", "-sS", "-L", "-o", "-", "-w", "%{stderr}%{json}", url]
    digest, size = hashlib.sha256(), 0
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        while block := proc.stdout.read(1 << 20):
            digest.update(block)
            size += len(block)
        info = json.loads(proc.stderr.read().decode().strip().splitlines()[-1])
    return Download(
        status=int(info["http_code"]),
        ttfb_s=float(info["time_starttransfer"]),
        wall_s=float(info["time_total"]),
        redirects=int(info["num_redirects"]),
        size=size,
        sha256=digest.hexdigest(),
    )


def pip_download(
    python: Path, index_url: str, requirements: Path, expected: dict[str, str]
) -> float:
    """Seconds for an isolated ``pip download`` of every requirement (one wheel each, no
    deps, no cache); raises unless exactly the expected files arrived with the right hashes."""
    with tempfile.TemporaryDirectory(prefix="bench-pip-") as scratch:
        home, dest = Path(scratch) / "home", Path(scratch) / "dest"
        home.mkdir()
        env = clean_env(HOME=str(home), PIP_CONFIG_FILE="/dev/null")
        argv = [str(python), "-m", "pip", "download", "--isolated", "--no-cache-dir"]
        argv += ["--disable-pip-version-check", "--progress-bar", "off", "-q"]
        argv += ["--no-deps", "--only-binary", ":all:", "--index-url", index_url]
        argv += ["-r", str(requirements), "-d", str(dest)]
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, timeout=600, capture_output=True, text=True)
        elapsed = time.perf_counter() - began
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-3:]
            raise RuntimeError(f"pip download from {index_url} failed: {' / '.join(tail)}")
        got = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in dest.iterdir()}
    wrong = {name for name, sha in got.items() if expected.get(name) != sha}
    if wrong or len(got) != sum(1 for line in requirements.read_text().splitlines() if line):
        raise RuntimeError(f"pip download from {index_url}: unexpected or corrupt files {wrong}")
    return elapsed
