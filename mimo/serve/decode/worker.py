"""The decoding worker process: `python -c "from mimo.serve.decode.worker import main; main()"`."""

from __future__ import annotations

import contextlib
import io
import math
import os
import signal

import numpy as np
from PIL import Image

from mimo import config
from mimo.serve.decode import slots
from mimo.serve.decode.images import decode_to_array
from mimo.serve.decode.memory import hand_big_buffers_back_when_freed
from mimo.serve.decode.messages import InputError, damaged_message, too_much_memory_message
from mimo.serve.decode.protocol import Channel


def main() -> None:
    """Serve decode requests on stdin/stdout until stdin closes."""
    import resource
    import tempfile

    # The pipes get private descriptors; fds 0, 1 and 2 go to /dev/null and a scratch file, so
    # nothing a C library prints can mix with the results, or reach anyone's terminal.
    channel = Channel(os.dup(0), os.dup(1))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    scratch = tempfile.TemporaryFile()  # noqa: SIM115 (open for the worker's whole life)
    os.dup2(scratch.fileno(), 1)
    os.dup2(scratch.fileno(), 2)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    hand_big_buffers_back_when_freed()
    _worker_warm_up()
    memory_mb = config.MAX_DECODE_MEMORY_MB
    limit = _address_space() + memory_mb * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    slots.worker_channel = channel
    channel.write({"op": "ready", "pid": os.getpid()})
    while True:
        request = channel.read()
        if request is None:
            return
        header, data = request
        config.MAX_IMAGE_PIXELS = int(header.get("max_pixels", config.MAX_IMAGE_PIXELS))
        config.MAX_DECODE_MEMORY_MB = memory_mb
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        cpu_limit = math.ceil(used + float(header.get("cpu_s", config.MAX_DECODE_CPU_S)))
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, hard))
        scratch.seek(0)
        scratch.truncate()
        reply, payload = {"op": "done", "notes": []}, b""
        try:
            array, mnist_sized, notes = decode_to_array(data)
            array = np.ascontiguousarray(array)
            reply.update(dtype=str(array.dtype), shape=list(array.shape), mnist_sized=mnist_sized)
            reply["notes"] = notes
            payload = array.tobytes()
        except InputError as exc:
            reply["error"] = str(exc)
        except MemoryError:
            reply["error"] = too_much_memory_message()
        except Exception:  # never let the worker die of a decoder's exception
            reply["error"] = damaged_message()
        del data
        reply["notes"] = _with_printed_lines(reply["notes"], scratch)
        channel.write(reply, payload)


def _with_printed_lines(notes: list[str], scratch) -> list[str]:
    """Add what C libraries (libtiff, ...) printed while decoding, as one counted line."""
    scratch.flush()
    size = scratch.seek(0, os.SEEK_END)
    if not size:
        return notes
    scratch.seek(0)
    lines = [ln for ln in scratch.read(64 * 1024).decode(errors="replace").splitlines() if ln]
    if notes or not lines:
        return notes
    count = f"{len(lines)}+" if size > 64 * 1024 else str(len(lines))
    return [f"{count} decoder messages, first: {lines[0][:120]}"]


def _worker_warm_up() -> None:
    """Load every decoder once, so the memory limit is counted from a worker that has them."""
    Image.init()
    sample = Image.new("RGB", (16, 16))
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "ICO", "AVIF"):
        with contextlib.suppress(Exception):
            buffer = io.BytesIO()
            sample.save(buffer, fmt)
            decode_to_array(buffer.getvalue())


def _address_space() -> int:
    """This process's virtual memory size in bytes (VmSize)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
