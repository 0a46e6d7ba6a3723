"""The pool of decoding worker processes (the caller's side)."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from mimo import config
from mimo.serve.decode import slots
from mimo.serve.decode.limits import DECODE_TIMEOUT_S, WORKER_START_S
from mimo.serve.decode.messages import (
    InputError,
    busy_message,
    damaged_message,
    no_worker_message,
    too_slow_message,
)
from mimo.serve.decode.protocol import FRAME, MAX_HEADER, MAX_PAYLOAD, WorkerFailed, result_array


def worker_command() -> list[str]:
    return [sys.executable, "-c", "from mimo.serve.decode.worker import main; main()"]


def _worker_env() -> dict:
    env = dict(os.environ)
    root = str(config.PROJECT_ROOT)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"  # a worker needs no thread pools, and their reserved memory counts
    env["MALLOC_ARENA_MAX"] = "2"
    return env


class _Worker:
    """One decoding process, with its request pipe and result pipe."""

    def __init__(self):
        self.process = subprocess.Popen(
            worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_worker_env(),
            close_fds=True,
            start_new_session=True,  # Ctrl-C in a terminal reaches the caller, not its workers
        )
        self.ready = False

    def _write(self, header: dict, payload: bytes = b"") -> None:
        raw = json.dumps(header).encode()
        try:
            self.process.stdin.write(FRAME.pack(len(raw), len(payload)) + raw)
            self.process.stdin.write(payload)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise WorkerFailed(self._death_message()) from None

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd = self.process.stdout.fileno()
        chunks = []
        while n:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise WorkerFailed(too_slow_message())
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                raise WorkerFailed(self._death_message())
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read(self, deadline: float) -> tuple[dict, bytes]:
        header_len, payload_len = FRAME.unpack(self._read_exact(FRAME.size, deadline))
        if header_len > MAX_HEADER or payload_len > MAX_PAYLOAD:
            raise WorkerFailed(damaged_message())
        header = json.loads(self._read_exact(header_len, deadline))
        return header, self._read_exact(payload_len, deadline)

    def _death_message(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return damaged_message()
        if code in (-signal.SIGXCPU, -signal.SIGKILL):
            return too_slow_message()
        if code == -signal.SIGSEGV or code == -signal.SIGABRT:
            return damaged_message()
        return damaged_message()

    def wait_ready(self) -> None:
        if not self.ready:
            try:
                header, _ = self._read(time.monotonic() + WORKER_START_S)
            except WorkerFailed:
                header = {}
            if header.get("op") != "ready":  # the worker could not start: not the file's fault
                raise WorkerFailed(no_worker_message())
            self.ready = True

    def decode(self, data: bytes) -> tuple[np.ndarray, bool, list[str]]:
        self.wait_ready()
        limits = {
            "max_pixels": config.MAX_IMAGE_PIXELS,
            "cpu_s": config.MAX_DECODE_CPU_S,
            "memory_mb": config.MAX_DECODE_MEMORY_MB,
        }
        self._write({"op": "decode", **limits}, data)
        slot_held = False
        try:
            deadline = time.monotonic() + DECODE_TIMEOUT_S
            while True:
                header, payload = self._read(deadline)
                if header.get("op") != "slot":
                    break
                slot_held = slots.big_decode_slots.acquire(timeout=slots.DECODE_WAIT_S)
                self._write({"op": "slot", "granted": slot_held})
                deadline = time.monotonic() + DECODE_TIMEOUT_S
        finally:
            if slot_held:
                slots.big_decode_slots.release()
        if header.get("error"):
            raise InputError(str(header["error"])[:300])
        return result_array(header, payload), bool(header.get("mnist_sized")), header["notes"]

    def stop(self, wait_s: float = 1.0) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        with contextlib.suppress(OSError, ValueError):
            self.process.stdout.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.stop(wait_s=5)


class Pool:
    """Up to config.MAX_BIG_DECODES + 1 workers, started on demand and kept warm."""

    def __init__(self):
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._starting = 0
        self._pid = os.getpid()
        self._closed = False
        self._warming = False
        atexit.register(self.close)

    @staticmethod
    def size() -> int:
        return max(1, config.MAX_BIG_DECODES) + 1

    def _check_pid(self) -> None:
        if self._pid != os.getpid():  # a forked copy of the caller: its workers are not ours
            self._idle, self._all, self._starting, self._pid = [], set(), 0, os.getpid()

    def _acquire(self) -> _Worker:
        deadline = time.monotonic() + slots.DECODE_WAIT_S
        with self._cond:
            self._check_pid()
            while True:
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._starting < self.size():
                    self._starting += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._cond.wait(remaining):
                    raise InputError(busy_message())
        try:
            worker = _Worker()
        except OSError as exc:
            raise InputError(no_worker_message()) from exc
        finally:
            with self._cond:
                self._starting -= 1
        with self._cond:
            self._all.add(worker)
        return worker

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed and worker in self._all:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                healthy = False
            self._cond.notify()
        if not healthy:
            worker.kill()

    def decode(self, data: bytes) -> tuple[np.ndarray, bool, list[str]]:
        worker = self._acquire()
        healthy = False
        try:
            result = worker.decode(data)
            healthy = True
            return result
        except InputError:
            healthy = worker.process.poll() is None
            raise
        except WorkerFailed as failed:
            raise InputError(failed.message) from None
        finally:
            self._release(worker, healthy)

    def warm_soon(self) -> None:
        """Have one worker started and ready, from a background thread (returns at once)."""
        with self._cond:
            if self._warming or self._all or self._closed:
                return
            self._warming = True
        threading.Thread(target=self._warm, name="mimo-decode-warm-up", daemon=True).start()

    def _warm(self) -> None:
        with contextlib.suppress(Exception):
            worker = self._acquire()
            healthy = False
            try:
                worker.wait_ready()
                healthy = True
            except WorkerFailed:
                pass
            finally:
                self._release(worker, healthy)
        with self._cond:
            self._warming = False

    def close(self) -> None:
        """Stop every worker (at exit). Busy ones are killed."""
        with self._cond:
            self._closed = True
            workers, self._idle = list(self._all), []
            self._all = set()
        for worker in workers:
            worker.stop(wait_s=1.0)

    def worker_pids(self) -> list[int]:
        with self._cond:
            return [w.process.pid for w in self._all]


POOL = Pool()
