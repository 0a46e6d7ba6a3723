"""Hostile and odd files through `python -m mimo predict`, and the memory they make mimo use.

The files come from tests/support/sample_files.py. Hostile ones (empty; text, HTML, SVG and ZIP
renamed to .png; random bytes as .jpg; truncated images; decompression bombs; 1x1; 20000x3; all
black; all white) must each get one clear error line. Odd but valid ones (16-bit, CMYK, animated
GIF, palette, ink only in alpha, EXIF-rotated), drawn from real MNIST test digits, must be read
correctly by both shipped models. Memory is measured in fresh child processes (peak resident set
size, VmHWM) running prepare() on each hostile file and on small files that decode to as many
pixels as mimo allows: the child's own peak plus that of its decoding workers (mimo.serve.decode
decodes untrusted bytes in worker processes), each above its baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.support import ROOT
from tests.support.sample_files import (
    assert_clear_message,
    heavy_files,
    hostile_files,
    odd_valid_files,
)

NUMBER = 4

# Peak memory above a fresh Python that has imported numpy and Pillow (and mimo.serve.preprocess):
# refused from the header or tiny, nothing big is decoded:
REFUSED_LIMIT_MB = 50
# at the default limit of 25 million pixels, decoding costs up to about 17 bytes per pixel
# (Pillow's WebP decoder: about 430 MB; PNG up to 260 MB; progressive CMYK JPEG 200 MB).
# Hundreds of megapixels, or gigabytes, would mean a guard is gone.
AT_LIMIT_MB = 512

# The start of each measuring child: peak resident memory, and a way to reset it.
PEAK_MEMORY = r"""
import json, resource, statistics, sys, threading
import numpy, PIL.Image  # the baseline: numpy and Pillow imported
from mimo.serve import decode
from mimo.serve.preprocess import InputError, prepare
from mimo.serve.decode.memory import hand_big_buffers_back_when_freed

hand_big_buffers_back_when_freed()  # as the server does at start (app.py's lifespan)

def status(pid="self"):
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: v for k, _, v in (line.partition(":") for line in f)}
    except OSError:
        return None

def mb(fields, name):
    return int(fields[name].split()[0]) / 1024

def reset_peak():
    # Linux: "5" resets the peak resident set size (VmHWM) to the current one, here and in
    # every decoding worker; otherwise each figure is the peak so far: still an upper bound.
    global worker_base
    worker_base = {}
    for pid in ["self", *decode.pool.POOL.worker_pids()]:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
        except OSError:
            pass
        fields = status(pid)
        if fields and pid != "self":
            worker_base[pid] = mb(fields, "VmRSS")

def peak_mb():
    fields = status()
    if fields:
        return mb(fields, "VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

def workers_extra_mb():
    # Each worker's peak above its own baseline (a worker started meanwhile: above the
    # median baseline of the others).
    typical = statistics.median(worker_base.values()) if worker_base else 60.0
    extra = 0.0
    for pid in decode.pool.POOL.worker_pids():
        fields = status(pid)
        if fields:
            extra += max(0.0, mb(fields, "VmHWM") - worker_base.get(pid, typical))
    return extra

def extra_mb():
    return round(peak_mb() - baseline + workers_extra_mb(), 1)

worker_base = {}
decode.decode(numpy.zeros((64, 64), numpy.uint8))  # starts a worker in the background
try:
    decode.decode(bytes(64) + b"x")  # waits for a worker: not an image
except InputError:
    pass
baseline = peak_mb()
"""
# Measures prepare() on each path given: prints JSON {"baseline_mb", "files": [{"outcome",
# "extra_mb"}]}, extra_mb being the peak during that file above the baseline.
MEASURE_PREPARE = (
    PEAK_MEMORY
    + r"""
files = []
for path in sys.argv[1:]:
    reset_peak()
    try:
        prepare(path)
        outcome = "accepted"
    except InputError as exc:
        outcome = str(exc)
    files.append({"outcome": outcome, "extra_mb": extra_mb()})
print(json.dumps({"baseline_mb": baseline, "files": files}))
"""
)
# prepare() on one path from several threads at once, as sessions of one server would: prints
# JSON {"outcomes": [...], "extra_mb"}, the peak while they ran above the baseline.
MEASURE_TOGETHER = (
    PEAK_MEMORY
    + r"""
path, copies = sys.argv[1], int(sys.argv[2])
all_ready = threading.Barrier(copies)
outcomes = []

def read():
    all_ready.wait()
    try:
        prepare(path)
        outcomes.append("accepted")
    except InputError as exc:
        outcomes.append(str(exc))

# Resident memory of this process and its workers together, sampled every 5 ms while the
# pictures are read: the peak of the sum at any one moment, above the baselines.
sampled = [0.0]
done = threading.Event()

def sample():
    while not done.is_set():
        total = 0.0
        for pid in ["self", *decode.pool.POOL.worker_pids()]:
            fields = status(pid)
            if fields:
                total += mb(fields, "VmRSS")
        sampled[0] = max(sampled[0], total)
        done.wait(0.005)

threads = [threading.Thread(target=read) for _ in range(copies)]
reset_peak()
base_total = peak_mb() + sum(worker_base.values())
sampler = threading.Thread(target=sample)
sampler.start()
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
done.set()
sampler.join()
print(json.dumps({
    "outcomes": outcomes,
    "extra_mb": round(sampled[0] - base_total, 1),  # at any one moment
    "sum_of_peaks_mb": extra_mb(),  # each process's own peak, whenever it was: an upper bound
}))
"""
)


@pytest.fixture(scope="module")
def hostile(mnist_small):
    return hostile_files(mnist_small.x_test[0])


@pytest.fixture(scope="module")
def odd_valid(mnist_small):
    return odd_valid_files(mnist_small)


def write_files(folder, files) -> dict[str, str]:
    """Write each SampleFile into a folder of its own (names may repeat); {name: path}."""
    paths = {}
    for i, (name, sample) in enumerate(files.items()):
        path = folder / f"{i:02d}" / sample.filename
        path.parent.mkdir(parents=True)
        path.write_bytes(sample.content)
        paths[name] = str(path)
    return paths


def start(args: list[str]) -> subprocess.Popen:
    """A child Python in the project root, with mimo's default limits and registry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMO_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Children:
    cli: subprocess.CompletedProcess  # `python -m mimo predict --json` over every sample file
    cli_rows: dict[str, dict]  # sample name -> its output line
    memory: dict[str, dict]  # hostile or heavy file name -> {"outcome", "extra_mb"}
    heavy: dict


@pytest.fixture(scope="module")
def children(tmp_path_factory, hostile, odd_valid) -> Children:
    """Everything that runs in child processes, started side by side: the CLI spends most of
    its time importing TensorFlow, while the memory children decode the heavy files."""
    folder = tmp_path_factory.mktemp("samples")
    samples = {**hostile, **odd_valid}
    cli_paths = write_files(folder / "cli", samples)
    cli = start(["-m", "mimo", "predict", "--json", "--number", str(NUMBER), *cli_paths.values()])

    heavy = heavy_files()
    heavy_paths = write_files(folder / "heavy", heavy)
    paths = {**cli_paths, **heavy_paths}
    groups = [list(hostile), list(heavy)]  # one process each: hostile files, heavy files
    measuring = [start(["-c", MEASURE_PREPARE, *(paths[n] for n in group)]) for group in groups]
    try:
        memory = {}
        for group, child in zip(groups, measuring, strict=True):
            out, err = child.communicate(timeout=180)
            assert child.returncode == 0, err
            memory.update(zip(group, json.loads(out)["files"], strict=True))
        out, err = cli.communicate(timeout=300)
    finally:
        for child in [cli, *measuring]:
            if child.poll() is None:
                child.kill()
    print("\npeak MB above numpy + Pillow:", {k: v["extra_mb"] for k, v in memory.items()})
    result = subprocess.CompletedProcess(cli.args, cli.returncode, out, err)
    by_path = {row["image"]: row for row in map(json.loads, out.splitlines())}
    assert len(by_path) == len(samples), out + err
    rows = {name: by_path[path] for name, path in cli_paths.items()}
    return Children(result, rows, memory, heavy)


# ---------------------------------------------------------------------------------------------
# The command line: one call over every file


def test_cli_gives_one_clear_error_line_per_hostile_file(children, hostile):
    for name, sample in hostile.items():
        row = children.cli_rows[name]
        assert set(row) == {"image", "error"}, f"{name}: {row}"
        assert_clear_message(row["error"], sample.message, name)
    for name in ("all black", "all white"):
        assert "no digit found" in children.cli_rows[name]["error"].lower()


def test_cli_reads_odd_but_valid_files_with_both_models(children, odd_valid):
    for name, sample in odd_valid.items():
        row = children.cli_rows[name]
        assert "error" not in row, f"{name}: {row}"
        read = (row["color_model"]["digit"], row["sum_model"]["digit"], row["sum_model"]["sum"])
        assert read == (sample.digit, sample.digit, sample.digit + NUMBER), name


def test_cli_exits_with_status_1_and_no_traceback(children):
    assert children.cli.returncode == 1
    assert "Traceback" not in children.cli.stderr, children.cli.stderr


# ---------------------------------------------------------------------------------------------
# Memory stays bounded


def test_hostile_files_and_bombs_are_refused_before_anything_big_is_decoded(children, hostile):
    assert sum("bomb" in name for name in hostile) == 2
    for name, sample in hostile.items():
        measured = children.memory[name]
        assert_clear_message(measured["outcome"], sample.message, name)
        assert measured["extra_mb"] < REFUSED_LIMIT_MB, (name, measured)


def test_images_at_the_pixel_limit_stay_well_under_a_gigabyte(children):
    for name, sample in children.heavy.items():
        measured = children.memory[name]
        assert len(sample.content) < 600_000, name  # small files, all of them
        assert_clear_message(measured["outcome"], sample.message, name)
        assert measured["extra_mb"] < AT_LIMIT_MB, (name, measured)


def test_big_pictures_arriving_together_are_decoded_a_few_at_a_time(tmp_path):
    """Six 25 Mpx WebPs at once (about 430 MB each to decode) stay within two decodes' worth:
    mimo decodes at most config.MAX_BIG_DECODES (2) big pictures at once, each in a worker
    process whose memory is capped (config.MAX_DECODE_MEMORY_MB): this WebP needs more, so each
    is refused as too large once its decoder asks for the memory. Measured, the caller and its
    workers together at any one moment: about 660 MB above their baselines (the sum of each
    process's own peak, an upper bound: about 960 MB); 850 MB when they were decoded in the
    caller two at a time, 2.3-2.5 GB without any guard."""
    webp = heavy_files()["lossless RGBA WebP, 25 Mpx"]
    path = tmp_path / webp.filename
    path.write_bytes(webp.content)
    child = start(["-c", MEASURE_TOGETHER, str(path), "6"])
    out, err = child.communicate(timeout=180)
    assert child.returncode == 0, err
    measured = json.loads(out)
    assert len(measured["outcomes"]) == 6
    for outcome in measured["outcomes"]:
        assert_clear_message(outcome, webp.message, "WebP at the limit")
    assert measured["extra_mb"] < 2 * AT_LIMIT_MB, measured
    print("\nsix WebPs at once, MB above the baselines:", measured["extra_mb"], measured)
