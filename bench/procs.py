"""Processes the benchmark starts: launch in their own session, stop by that process group
only, and read their resource use from /proc (tree RSS, VmHWM, CPU ticks).

Only process groups this harness created are ever signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1_000_000


class Started:
    """A command run in a new session; ``stop()`` signals its process group (and only it)."""

    def __init__(
        self, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.argv = list(argv)
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        # Workers that outlived their parent are still in our process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self._log.close()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """``root`` and all its descendants (by parent pid)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total


def cpu_ticks(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def _status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_hwm(pids: Sequence[int]) -> dict[int, int]:
    """Reset VmHWM to the current RSS (``clear_refs`` 5); returns each pid's RSS in bytes."""
    before = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        before[pid] = _status_kb(pid, "VmRSS") * 1024
    return before


def hwm_growth(before: Mapping[int, int]) -> tuple[int, int]:
    """(largest VmHWM of one process, largest VmHWM - RSS-at-reset of one process), bytes."""
    peaks = {pid: _status_kb(pid, "VmHWM") * 1024 for pid in before}
    return max(peaks.values(), default=0), max(
        (peaks[pid] - rss for pid, rss in before.items() if peaks[pid]), default=0
    )


class RssSampler:
    """Samples the summed RSS of a process tree every ``interval`` seconds in a thread."""

    def __init__(self, root: int, interval: float = 0.02) -> None:
        self.root, self.interval = root, interval
        self.baseline = rss_bytes(tree(root))
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pids = tree(self.root)
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(pids))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_idle(roots: Sequence[int], limit: float = 30.0, window: float = 0.5) -> float:
    """Wait until the trees together use < 10% of a core over ``window`` (queued work of
    clients that already left must not run into the next measurement); returns seconds waited."""
    hz = os.sysconf("SC_CLK_TCK")
    start = time.monotonic()

    def ticks() -> int:
        return sum(cpu_ticks(tree(root)) for root in roots)

    previous = ticks()
    while time.monotonic() - start < limit:
        time.sleep(window)
        current = ticks()
        if current - previous < 0.1 * hz * window:
            break
        previous = current
    return time.monotonic() - start


def loadavg() -> float:
    """The machine's 1-minute load average (other tenants' work shows up here)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _machine_busy() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return user + nice + system + irq + softirq + steal


def _own_ticks(roots: Sequence[int]) -> int:
    own = _stat_fields(os.getpid())
    assert own is not None
    # utime, stime, and the same for waited-for children (wrk, curl, pip)
    mine = sum(int(own[i]) for i in (11, 12, 13, 14))
    return mine + sum(cpu_ticks(tree(root)) for root in roots)


class ForeignCpu:
    """CPU used by processes this benchmark did not start, in cores, over a ``with`` block:
    the machine may be shared, and that noise must be visible next to the numbers."""

    def __init__(self, roots: Sequence[int]) -> None:
        self.roots = list(roots)
        self.cores = 0.0

    def __enter__(self) -> ForeignCpu:
        self._start = (time.monotonic(), _machine_busy(), _own_ticks(self.roots))
        return self

    def __exit__(self, *exc: object) -> None:
        began, busy, own = self._start
        elapsed = time.monotonic() - began
        foreign = (_machine_busy() - busy) - (_own_ticks(self.roots) - own)
        self.cores = max(foreign, 0) / os.sysconf("SC_CLK_TCK") / max(elapsed, 1e-6)


class CpuTime:
    """CPU seconds a process tree used over a ``with`` block: unlike req/s, this cost per
    request hardly depends on what else the machine is running."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seconds = 0.0

    def __enter__(self) -> CpuTime:
        self._start = cpu_ticks(tree(self.root))
        return self

    def __exit__(self, *exc: object) -> None:
        used = cpu_ticks(tree(self.root)) - self._start
        self.seconds = used / os.sysconf("SC_CLK_TCK")
