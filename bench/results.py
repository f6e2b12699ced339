"""One benchmark run read back from ``bench/results/<run-id>.jsonl``, and number formatting."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


class Run:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[tuple[str, str], list[Any]] = defaultdict(list)
        self.facts: dict[str, Any] = {}
        self.total_s: float | None = None
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["metric"] == "facts":
                self.facts = row["value"]
            elif row["metric"] == "total_s":
                self.total_s = row["value"]
            else:
                self.values[(row["server"], row["metric"])].append(row["value"])
        self.servers: list[str] = self.facts.get("servers") or sorted(
            {s for s, _ in self.values if s != "-"}
        )

    def numbers(self, server: str, metric: str) -> list[float]:
        return [float(v) for v in self.values.get((server, metric), []) if v is not None]

    def median(self, server: str, metric: str) -> float | None:
        numbers = self.numbers(server, metric)
        return statistics.median(numbers) if numbers else None

    def error(self, server: str, metric: str) -> str | None:
        errors = self.values.get((server, metric.split(".")[0] + ".error"))
        return errors[0] if errors else None

    def foreign(self, server: str) -> list[float]:
        return [
            float(v)
            for (s, metric), values in self.values.items()
            if s == server and metric.endswith(".foreign_cores")
            for v in values
        ]


def fmt(value: float) -> str:
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return str(int(value))
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
