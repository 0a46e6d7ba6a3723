"""The worker protocol: framed JSON headers plus raw payloads on a pair of pipes."""

from __future__ import annotations

import json
import math
import os
import struct
import sys

import numpy as np

from mimo.serve.decode.limits import WORK_MAX_SIDE
from mimo.serve.decode.messages import InputError, damaged_message

FRAME = struct.Struct(">II")  # header length, payload length


MAX_HEADER = 64 * 1024


MAX_PAYLOAD = 64 * 1024 * 1024


_RESULT_DTYPES = {"uint8": np.uint8, "float32": np.float32}


class WorkerFailed(Exception):
    """The worker died or ran out of time: it must be replaced."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def result_array(header: dict, payload: bytes) -> np.ndarray:
    """The pixels a worker sent, checked: raw bytes of a known dtype and a bounded shape (a
    worker never sends anything that is unpickled or evaluated)."""
    dtype = _RESULT_DTYPES.get(header.get("dtype"))
    shape = tuple(int(n) for n in header.get("shape", ()))
    ok = (
        dtype is not None
        and len(shape) in (2, 3)
        and all(0 < n <= WORK_MAX_SIDE for n in shape[:2])
        and (len(shape) == 2 or shape[2] in (3, 4))
        and math.prod(shape) * np.dtype(dtype).itemsize == len(payload)
    )
    if not ok:
        raise InputError(damaged_message())
    return np.frombuffer(payload, dtype=dtype).reshape(shape)


class Channel:
    """The worker's side of the pipes."""

    def __init__(self, in_fd: int, out_fd: int):
        self.reader = os.fdopen(in_fd, "rb")
        self.writer = os.fdopen(out_fd, "wb")

    def read(self) -> tuple[dict, bytes] | None:
        head = self.reader.read(FRAME.size)
        if len(head) < FRAME.size:
            return None
        header_len, payload_len = FRAME.unpack(head)
        header = json.loads(self.reader.read(header_len))
        payload = self.reader.read(payload_len)
        if len(payload) < payload_len:
            return None
        return header, payload

    def write(self, header: dict, payload: bytes = b"") -> None:
        raw = json.dumps(header).encode()
        self.writer.write(FRAME.pack(len(raw), len(payload)) + raw)
        self.writer.write(payload)
        self.writer.flush()

    def ask_for_slot(self) -> bool:
        self.write({"op": "slot"})
        reply = self.read()
        if reply is None:
            sys.exit(0)
        return bool(reply[0].get("granted"))
