"""How much CPU time the hypervisor took from this machine while a benchmark ran.

On a virtual machine, "steal" time is time a virtual CPU was ready to run but the host ran
something else. It is why the same benchmark here can be a third slower from one minute to
the next, so the benchmarks report it beside their figures (Linux only; None elsewhere).
"""

from __future__ import annotations

from pathlib import Path

_STAT = Path("/proc/stat")


def cpu_times() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs since boot, from the first line of /proc/stat."""
    try:
        fields = [int(x) for x in _STAT.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    # counted in user and nice.
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_fraction(start: tuple[int, int] | None, end: tuple[int, int] | None) -> float | None:
    """Fraction of CPU time stolen between two ``cpu_times()`` readings."""
    if start is None or end is None or end[1] <= start[1]:
        return None
    return (end[0] - start[0]) / (end[1] - start[1])
