"""Run real pip and uv against a test index, isolated from this machine's configuration.

Every PIP_*/UV_* variable, proxy setting and user config is dropped; HOME, the XDG dirs and the
caches point into the test's tmp_path; the only index is the one given with ``--index-url``.
These helpers block: from an async test call them through ``asyncio.to_thread``.

pip: a venv made by ``make_venv`` has no pip of its own, so ``pip_install`` runs this
interpreter's pip (the version the project tests against) with ``--python <venv>``; a venv made
with ``make_venv(..., with_pip=True)`` (ensurepip's bundled, older pip) uses its own pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

CLIENT_TIMEOUT = 240.0
_DROPPED_PREFIXES = ("PIP_", "UV_", "XDG_")
# Compared lower-case: proxies are honoured in either spelling.
_DROPPED = frozenset(
    {
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "ftp_proxy",
        "netrc",
        "pythonpath",
        "pythonhome",
        "pythonuserbase",
        "virtual_env",
        "conda_prefix",
        "requests_ca_bundle",
        "ssl_cert_file",
    }
)


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """``os.environ`` without pip/uv/proxy settings, with a private HOME and caches."""
    root = tmp_path / "client-env"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(_DROPPED_PREFIXES) and key.lower() not in _DROPPED
    }
    dirs = {
        "HOME": root / "home",
        "UV_CACHE_DIR": root / "uv-cache",
        "XDG_CONFIG_HOME": root / "xdg" / "config",
        "XDG_CACHE_HOME": root / "xdg" / "cache",
        "XDG_DATA_HOME": root / "xdg" / "data",
        "XDG_STATE_HOME": root / "xdg" / "state",
        "XDG_CONFIG_DIRS": root / "xdg" / "config-dirs",
        "XDG_DATA_DIRS": root / "xdg" / "data-dirs",
        "TMPDIR": root / "tmp",
    }
    for key, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[key] = str(path)
    env.update(
        {
            # pip reads no configuration file at all when this is the null device.
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_CACHE_DIR": "1",
            "PIP_NO_INPUT": "1",
            "UV_NO_CONFIG": "1",
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_PROGRESS": "1",
            "PYTHONNOUSERSITE": "1",
        }
    )
    return env


def make_venv(tmp_path: Path, *, with_pip: bool = False, name: str = "venv") -> Path:
    """A fresh venv under ``tmp_path``; ``with_pip`` runs ensurepip (offline, bundled pip)."""
    venv = tmp_path / name
    command = [sys.executable, "-m", "venv", str(venv)]
    if not with_pip:
        command.insert(3, "--without-pip")
    subprocess.run(
        command, env=isolated_env(tmp_path), check=True, capture_output=True, timeout=120
    )
    return venv


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / "python"


def pip_install(
    venv: Path,
    index_url: str,
    *requirements: str,
    extra: Sequence[str] = (),
    timeout: float = CLIENT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """``pip install --index-url index_url [extra] requirements`` into ``venv``; never raises."""
    python = venv_python(venv)
    has_pip = any((venv / "lib").glob("python*/site-packages/pip"))
    runner = [str(python)] if has_pip else [sys.executable]
    target = [] if has_pip else ["--python", str(python)]
    command = [
        *runner,
        "-m",
        "pip",
        *target,
        "install",
        "--index-url",
        index_url,
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        *extra,
        *requirements,
    ]
    return _run(command, venv, timeout)


def uv_binary() -> list[str]:
    """The uv executable next to this interpreter, else ``python -m uv``."""
    beside = shutil.which("uv", path=str(Path(sys.executable).parent))
    return [beside] if beside else [sys.executable, "-m", "uv"]


def uv_install(
    venv: Path,
    index_url: str,
    *requirements: str,
    extra: Sequence[str] = (),
    timeout: float = CLIENT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """``uv pip install --index-url index_url --no-cache`` into ``venv``; never raises."""
    command = [
        *uv_binary(),
        "pip",
        "install",
        "--python",
        str(venv_python(venv)),
        "--index-url",
        index_url,
        "--no-cache",
        "--no-config",
        *extra,
        *requirements,
    ]
    return _run(command, venv, timeout)


def pip_index_versions(
    workdir: Path, index_url: str, project: str, timeout: float = CLIENT_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """``pip index versions --pre --json project`` for this interpreter; never raises.

    Lists every version pip would consider (tags, requires-python, PEP 592 yanks applied)
    without downloading a file. ``workdir`` holds the isolated HOME and caches.
    """
    command = [
        sys.executable, "-m", "pip", "index", "versions", "--pre", "--json",
        "--index-url", index_url, "--disable-pip-version-check", "--no-input",
        # Loopback only: a 502 is an answer to compare, not a glitch worth 8 s of back-off.
        "--retries", "0", project,
    ]  # fmt: skip
    return subprocess.run(
        command,
        env=isolated_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def uv_compile(
    venv: Path,
    index_url: str,
    requirements: Sequence[str],
    *,
    extra: Sequence[str] = (),
    timeout: float = CLIENT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """``uv pip compile --no-deps -`` of ``requirements`` for ``venv``'s interpreter.

    With ``--no-deps`` uv picks versions from the pages alone and fetches no file.
    """
    command = [
        *uv_binary(), "pip", "compile", "--python", str(venv_python(venv)),
        "--index-url", index_url, "--no-cache", "--no-config", "--no-deps",
        "--no-header", "--no-annotate", *extra, "-",
    ]  # fmt: skip
    return subprocess.run(
        command,
        env=isolated_env(venv.parent),
        input="\n".join(requirements) + "\n",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_in_venv(venv: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the venv's python (e.g. ``"-c", "import demo"``) in the isolated environment."""
    return _run([str(venv_python(venv)), *args], venv, timeout)


def _run(command: list[str], venv: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=isolated_env(venv.parent),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


__all__ = [
    "isolated_env",
    "make_venv",
    "pip_index_versions",
    "pip_install",
    "run_in_venv",
    "uv_binary",
    "uv_compile",
    "uv_install",
    "venv_python",
]
