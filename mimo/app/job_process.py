"""The operating-system side of a training job: its lock file and its process group.

The lock: an exclusive, non-blocking flock on one file. The app takes it, hands the locked
descriptor to the job's process (its number in MIMO_JOB_LOCK_FD) and closes its own copy; the
process holds it until it exits, however it exits, and the kernel then releases it. No stale
lock files. Whether someone holds it is probed with a fresh descriptor.

The process: `python -m mimo ...` in a new session (its process group id is its pid, so one
signal reaches it and anything it started), niced so that the app's predictions come first.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path

from mimo.procinfo import read_stat

LOCK_FD_ENV = "MIMO_JOB_LOCK_FD"  # set for a job's process: the descriptor holding the lock
LOCK_RETRY_S = 0.02  # between tries, when a try is allowed more than one
TRAINING_NICENESS = 10  # the training process yields the CPU to the app's predictions
BUSY_ERRNOS = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)

# ---------------------------------------------------------------------------------------------
# The lock


def try_lock(fd: int, attempts: int = 1) -> bool:
    """Take the exclusive flock on `fd`, trying `attempts` times; False if another holds it."""
    for attempt in range(attempts):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in BUSY_ERRNOS:
                raise
        if attempt + 1 < attempts:
            time.sleep(LOCK_RETRY_S)
    return False


def lock_held(path: Path) -> bool:
    """Whether some process holds the lock on `path`, probed with a fresh descriptor."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        return not try_lock(fd)
    finally:
        os.close(fd)  # closing releases the probe's lock, if it got it


def inherits_lock(path: Path) -> bool:
    """Whether this process was started holding the lock on `path` (MIMO_JOB_LOCK_FD)."""
    try:
        fd = int(os.environ.get(LOCK_FD_ENV, ""))
        held, lock_file = os.fstat(fd), os.stat(path)
    except (ValueError, OSError):
        return False
    return (held.st_dev, held.st_ino) == (lock_file.st_dev, lock_file.st_ino)


# ---------------------------------------------------------------------------------------------
# The process


_children: dict[int, subprocess.Popen] = {}  # processes this process started, to reap them
_children_lock = threading.Lock()


def spawn(command: list[str], log_path: Path, lock_fd: int, cwd: Path) -> subprocess.Popen:
    """Start `command` in a new session holding the lock on `lock_fd`, output into `log_path`."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={
                **os.environ,
                LOCK_FD_ENV: str(lock_fd),
                "PYTHONUNBUFFERED": "1",
                "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
            },
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(lock_fd,),
        )
    with _children_lock:
        _children[process.pid] = process
    with contextlib.suppress(OSError):  # keep the app responsive while the job trains
        os.setpriority(os.PRIO_PROCESS, process.pid, TRAINING_NICENESS)
    return process


def process_alive(pid: int) -> bool:
    with _children_lock:
        child = _children.get(pid)
    if child is not None:
        return child.poll() is None  # reaps it when it has exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = read_stat(pid)  # a zombie (exited, not yet reaped by its parent) is not alive
    return stat is None or not stat.zombie


def exit_code(pid: int) -> int | None:
    """The exit status of a process this process started (negative: the signal); else None."""
    with _children_lock:
        child = _children.get(pid)
    return None if child is None else child.poll()


def kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # a new session: the group id is the process's pid


def wait_until_stopped(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
