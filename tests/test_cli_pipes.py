"""Commands that print a lot stop quietly when their reader goes away (``pipgate log | head``):
no traceback, exit status 141 as for a program killed by SIGPIPE."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.cli_pipes import EXIT_BROKEN_PIPE, quiet_on_broken_pipe
from tests.support.fetchlog_records import clean_environ, fill_sqlite, make_record
from tests.support.pipgate_server import REPO

ROWS = 3000  # about 600 kB of table: far more than a pipe buffers
SBOM_ROWS = 100  # about 110 kB of CycloneDX: still more than a pipe buffers


def test_broken_pipe_becomes_exit_141() -> None:
    def command() -> int:
        raise BrokenPipeError(32, "Broken pipe")

    assert EXIT_BROKEN_PIPE == 141
    assert quiet_on_broken_pipe(command) == 141
    assert quiet_on_broken_pipe(lambda: 3) == 3


def test_other_errors_are_not_swallowed() -> None:
    def command() -> int:
        raise ConnectionResetError(104, "reset")

    with pytest.raises(ConnectionResetError):
        quiet_on_broken_pipe(command)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("data")
    rows = [make_record(f"pkg{i}-1.0.tar.gz") for i in range(ROWS)]
    # A smaller build for the SBOM, whose schema validation takes a while per component.
    rows += [make_record(f"sbom{i}-1.0.tar.gz", build="sbom") for i in range(SBOM_ROWS)]
    fill_sqlite(directory, rows)
    return directory


def read_one_line_then_close(*args: str, stdin: Path | None = None) -> tuple[bytes, int, str]:
    """Run ``pipgate ARGS`` like ``pipgate ARGS | head -1``: the reader takes one line and
    closes the pipe while pipgate still has output to write."""
    env = clean_environ() | {"PYTHONPATH": str(REPO)}
    with (stdin or Path(os.devnull)).open("rb") as source:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy", *args],
            cwd=REPO,
            env=env,
            stdin=source,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        process.stdout.close()
        try:
            stderr = process.stderr.read().decode()  # until it exits
            code = process.wait(timeout=120)
        finally:
            process.stderr.close()
            if process.poll() is None:
                process.kill()
                process.wait()
    return first, code, stderr


# An SBOM is written in one call; CPython reports a pipe closed during that single write as
# a short write, not an error, so the command ends normally (0). Output written in several
# calls (the log table, JSON lines) meets the closed pipe on a later write: 141.
@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("log", "--limit", "0"), EXIT_BROKEN_PIPE),
        (("log", "--json", "--limit", "0"), EXIT_BROKEN_PIPE),
        (("sbom", "--format", "cyclonedx", "--build", "sbom"), 0),
    ],
)
def test_fetch_log_commands_stop_quietly(
    data_dir: Path, args: tuple[str, ...], status: int
) -> None:
    first, code, stderr = read_one_line_then_close(*args, "--data-dir", str(data_dir))
    assert first  # it did print
    assert code == status, stderr
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
    assert "Exception ignored" not in stderr


def test_check_from_stdin_stops_quietly(tmp_path: Path) -> None:
    names = tmp_path / "names.txt"
    names.write_text("".join(f"name-{i}\n" for i in range(20_000)))
    first, code, stderr = read_one_line_then_close("check", "-", stdin=names)
    assert first.startswith(b"allow")
    assert code == EXIT_BROKEN_PIPE, stderr
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr


@pytest.mark.parametrize(
    "args",
    [("policies",), ("policies", "--json"), ("check", "requests", "reqeusts"), ("log",)],
)
def test_a_pipe_closed_before_the_first_write(data_dir: Path, args: tuple[str, ...]) -> None:
    """The reader is gone before pipgate writes anything (``pipgate policies | true``)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    extra = ("--data-dir", str(data_dir)) if args[0] == "log" else ()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "proxy", *args, *extra],
            cwd=REPO,
            env=clean_environ() | {"PYTHONPATH": str(REPO)},
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    stderr = result.stderr.decode()
    assert result.returncode == EXIT_BROKEN_PIPE, stderr
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
