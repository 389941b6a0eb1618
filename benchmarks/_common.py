"""Helpers shared by every benchmark: a table printer, a machine line, a peak-memory sampler.

Each benchmark prints :func:`machine_line` first, then one table made with
:func:`format_table` whose rows put a baseline measured in the same run next to
the thing measured, with the ratio.
"""

from __future__ import annotations

import os
import platform
import subprocess
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from types import TracebackType

__all__ = [
    "PeakMemorySampler",
    "format_bytes",
    "format_table",
    "machine_line",
    "print_table",
    "run_with_peak_memory",
]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def machine_line() -> str:
    """Return one line describing the machine: CPU model, cores, RAM, Python, numpy, scipy."""
    ram = _total_ram_bytes()
    return (
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, "
        f"{format_bytes(ram) if ram else '? RAM'} RAM, "
        f"Python {platform.python_version()}, numpy {_version('numpy')}, "
        f"scipy {_version('scipy')}"
    )


def format_bytes(n: float) -> str:
    """Return ``n`` bytes as a short human string (``"1.5 GiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None
) -> str:
    """Return a plain-text table: text columns left-aligned, numbers right-aligned.

    Floats are shown with 3 significant digits below 1, 2 decimals below 100 and
    thousands separators above; ``None`` is an empty cell.
    """
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(headers))
    ]
    widths = [
        max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = []
    if title:
        out.append(title)
    out.append(line(list(headers)))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None
) -> None:
    """Print :func:`format_table` to stdout (benchmarks are scripts; printing is their job)."""
    print(format_table(headers, rows, title=title), flush=True)


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of ``pid`` (default: this process) in bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _children(pid: int) -> list[int]:
    """All descendants of ``pid`` (via ``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                text = Path(f"/proc/{current}/task/{task}/children").read_text()
            except OSError:
                continue
            for child in text.split():
                found.append(int(child))
                stack.append(int(child))
    return found


class PeakMemorySampler:
    """Sample the resident memory of a child process (and its descendants) in a thread.

    Use as a context manager around the time the process runs::

        proc = subprocess.Popen(cmd)
        with PeakMemorySampler(proc.pid) as mem:
            proc.wait()
        print(mem.peak_bytes)

    ``peak_bytes`` is the largest sum of RSS over the process tree seen at any
    sample (every ``interval`` seconds), so very short spikes can be missed.
    """

    def __init__(self, pid: int, *, interval: float = 0.05, include_children: bool = True):
        self.pid = pid
        self.interval = interval
        self.include_children = include_children
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        """Take one sample now; return the current total RSS in bytes."""
        pids = [self.pid] + (_children(self.pid) if self.include_children else [])
        total = sum(rss_bytes(p) for p in pids)
        self.peak_bytes = max(self.peak_bytes, total)
        self.samples += 1
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemorySampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


def run_with_peak_memory(
    cmd: Sequence[str], *, interval: float = 0.05, timeout: float | None = None
) -> tuple[int, float, int]:
    """Run ``cmd`` as a child process; return ``(exit code, seconds, peak RSS bytes)``."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd))
    with PeakMemorySampler(proc.pid, interval=interval) as mem:
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    return code, time.perf_counter() - start, mem.peak_bytes
