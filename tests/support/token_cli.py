"""``pipgate token ...`` (and other commands) in a child process, as an operator runs them
next to a running pipgate: the token is read from the last line of ``token create``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.fetchlog_records import clean_environ
from tests.support.pipgate_server import REPO


def run_pipgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m proxy ARGS`` from the repository root, without this process's PIPGATE_*."""
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        cwd=REPO, env=clean_environ() | (env or {}), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def create_token(
    where: list[str], user: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """``(id, token)`` of a new token; ``where`` is ``["--data-dir", D]`` or ``["--config", F]``."""
    result = run_pipgate("token", "create", *where, "--user", user, *extra, env=env)
    assert result.returncode == 0, result.stderr
    first, *_, last = result.stdout.splitlines()
    token_id = int(first.split()[1])
    return token_id, last


def revoke_token(where: list[str], token_id: int, env: dict[str, str] | None = None) -> None:
    result = run_pipgate("token", "revoke", *where, str(token_id), env=env)
    assert result.returncode == 0, result.stderr


def data_dir_args(data_dir: Path) -> list[str]:
    return ["--data-dir", str(data_dir)]


__all__ = ["create_token", "data_dir_args", "revoke_token", "run_pipgate"]
