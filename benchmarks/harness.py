"""Tiny benchmark harness: each benchmark measures itself and a baseline in the same run, and reports the ratio."""

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline_name: str | None = None
    baseline_value: float | None = None
    target: str | None = None
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall seconds of `repeat` calls: the median resists a noisy neighbour on a 2-core machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine_info() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def report(figures: list[Figure], out: Path) -> str:
    rows = [("figure", "value", "baseline", "ratio", "target", "met")]
    for f in figures:
        rows.append(
            (
                f.name,
                f"{f.value:.4g} {f.unit}",
                f"{f.baseline_name}: {f.baseline_value:.4g} {f.unit}" if f.baseline_value is not None else "-",
                f"{f.ratio:.3g}x" if f.ratio is not None else "-",
                f.target or "-",
                {True: "yes", False: "NO", None: "-"}[f.met],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    machine = machine_info()
    lines.insert(0, "machine: " + ", ".join(f"{k} {v}" for k, v in machine.items())
                 + f"; load average {os.getloadavg()[0]:.2f} at the end (figures from a busy machine run slower)")
    lines.append(f"ratio = value / baseline; {sum(f.met is False for f in figures)} target(s) not met; "
                 f"written to {out}")
    out.write_text(
        json.dumps({"machine": machine, "load_average_1m": os.getloadavg()[0],
                    "figures": [asdict(f) | {"ratio": f.ratio} for f in figures]}, indent=2)
    )
    return "\n".join(lines)
