"""A process's state, parent and CPU time, read from Linux's /proc/<pid>/stat.

The second field, the command name, is in parentheses and may itself hold spaces and
parentheses, so the fields are counted from its last ")". `read_stat` returns None where there
is no such process, or no /proc (not Linux).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Positions after the command name: field 3 of proc(5), the state, is 0.
STATE, PARENT = 0, 1
CPU_TIMES = slice(11, 15)  # utime, stime, cutime, cstime: fields 14-17, in clock ticks


@dataclass(frozen=True)
class ProcStat:
    state: str  # R running, S sleeping, D waiting for the disk, Z zombie, T stopped, ...
    parent: int  # the parent's pid
    cpu_seconds: float  # user and system time, with that of its children it has waited for

    @property
    def zombie(self) -> bool:
        """Exited, but not yet reaped by its parent."""
        return self.state == "Z"


def read_stat(pid: int | str = "self") -> ProcStat | None:
    """The process's /proc/<pid>/stat, or None if it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        ticks = sum(int(value) for value in fields[CPU_TIMES])
        return ProcStat(
            state=fields[STATE],
            parent=int(fields[PARENT]),
            cpu_seconds=ticks / os.sysconf("SC_CLK_TCK"),
        )
    except (OSError, ValueError, IndexError):
        return None
