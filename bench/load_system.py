"""bench/load.py's view of the machine: CPU time from /proc, and the browsers' CPU priority.

CPU is accounted per part (the server, the browsers, this harness, everything else) between two
snapshots, from each process's own counters (mimo.procinfo) and the machine's (/proc/stat).
Linux only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from mimo.procinfo import read_stat

# How far below the server's CPU priority the browsers run (see lower_browser_priority()).
BROWSER_NICE = 19
BROWSER_COMMAND = "chrom"  # how the names of Chromium's processes start (/proc/<pid>/comm)


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process, with its reaped children; 0 if it is gone."""
    stat = read_stat(pid)
    return 0.0 if stat is None else stat.cpu_seconds


def descendants(root: int) -> set[int]:
    """Every process below `root` (children, their children, ...)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None:
                parents[int(entry.name)] = stat.parent
    found, frontier = set(), {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= frontier
    return found


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def lower_browser_priority(nice: int, server_pid: int) -> dict:
    """Let the server have the CPU first, as it would on a real deployment, where every
    person's browser runs on their own machine, not on the server's cores.

    Here all N browser pages share the server's cores, and at the same priority they starve
    it: with many sessions, the server's script runs spend most of their wall time waiting
    for a core rather than computing (the report's script_run_cpu_share_of_wall shows it).
    Playwright starts Chromium in a session of its own, so its processes share one Linux
    autogroup, which is scheduled as a whole: its nice value is lowered where the kernel has
    autogroups, and every browser process's own nice value in any case (the renderers of
    later pages inherit it from the zygote). The browsers keep whatever CPU the server does
    not use, so their own work still counts in every latency measured.
    """
    if nice <= 0:
        return {"nice": 0, "processes": 0, "autogroup": False}
    reniced, autogroup = 0, False
    for pid in descendants(os.getpid()) - descendants(server_pid) - {server_pid}:
        try:
            if not Path(f"/proc/{pid}/comm").read_text().startswith(BROWSER_COMMAND):
                continue
            os.setpriority(os.PRIO_PROCESS, pid, nice)
            reniced += 1
        except OSError:
            continue
        try:
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))
            autogroup = True
        except OSError:
            pass  # no autogroups in this kernel, or not ours to change
    return {"nice": nice, "processes": reniced, "autogroup": autogroup}


@dataclass
class CpuSnapshot:
    at: float
    server: float
    browser: float  # Chromium and Playwright's driver: every descendant but the server
    harness: float  # this script
    machine: float
    loadavg: tuple[float, float, float]

    @classmethod
    def take(cls, server_pid: int) -> CpuSnapshot:
        browser = sum(_cpu_seconds(pid) for pid in descendants(os.getpid()) - {server_pid})
        own = os.times()
        return cls(
            at=time.monotonic(),
            server=_cpu_seconds(server_pid),
            browser=browser,
            harness=own.user + own.system,
            machine=_machine_busy_seconds(),
            loadavg=os.getloadavg(),
        )


def cpu_between(before: CpuSnapshot, after: CpuSnapshot) -> dict:
    seconds = max(after.at - before.at, 1e-9)
    used = {
        "server": after.server - before.server,
        "browser": after.browser - before.browser,
        "harness": after.harness - before.harness,
        "machine": after.machine - before.machine,
    }
    used["others"] = used["machine"] - used["server"] - used["browser"] - used["harness"]
    return {
        "seconds": round(seconds, 1),
        "cpu_s": {name: round(value, 1) for name, value in used.items()},
        "cores_busy": {name: round(value / seconds, 2) for name, value in used.items()},
        "cores": os.cpu_count(),
        "loadavg_start": [round(v, 2) for v in before.loadavg],
        "loadavg_end": [round(v, 2) for v in after.loadavg],
    }
