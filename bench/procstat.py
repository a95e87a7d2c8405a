"""What a process tree costs, read from /proc: CPU seconds (utime + stime) and resident memory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants (uvicorn's supervisor and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, ()))
    return found


def cpu_seconds(pid: int) -> tuple[float, float, int]:
    """(utime, stime) of one process in seconds and its minor page faults; zeros when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0.0, 0.0, 0
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS, int(fields[7])


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` value from /proc/<pid>/status (VmRSS, VmHWM), 0 when missing."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_bytes(pid: int) -> int:
    """Current resident set size, from /proc/<pid>/statm (cheaper than status)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_bytes().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class TreeSampler:
    """Sampled totals for a fixed set of processes (found once the server is up)."""

    pids: list[int]
    peak_rss: int = 0

    def cpu(self) -> tuple[float, float, int]:
        """(user, system) CPU seconds and minor page faults, summed over the processes."""
        times = [cpu_seconds(pid) for pid in self.pids]
        return sum(t[0] for t in times), sum(t[1] for t in times), sum(t[2] for t in times)

    def rss(self) -> int:
        return sum(rss_bytes(pid) for pid in self.pids)

    def sample(self) -> int:
        current = self.rss()
        self.peak_rss = max(self.peak_rss, current)
        return current

    def high_water(self) -> int:
        """Sum of each process's own peak (VmHWM): exact for one process, an upper bound else."""
        return sum(status_kib(pid, "VmHWM") for pid in self.pids) * 1024


def busy_seconds() -> float:
    """CPU time spent in user, nice and system mode by the whole machine, all CPUs."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system = (int(v) for v in fields[:3])
    return (user + nice + system) / CLOCK_TICKS


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every live descendant."""
    return sum(sum(cpu_seconds(p)[:2]) for p in tree(pid))
