"""Mutation fuzzing of prepare() in CI, for a bounded time (bench/fuzz.py runs longer).

Every mutated file of every allowed format must end in a prepared digit or an InputError, each
within the decoding time bound, with the caller's memory flat (decoding happens in workers whose
memory and CPU time are capped). MIMO_FUZZ_SECONDS sets the duration (default 30).
"""

from __future__ import annotations

import os

from bench import fuzz

FUZZ_SECONDS = float(os.environ.get("MIMO_FUZZ_SECONDS", 30))


def test_mutated_files_of_every_format_end_in_a_result_or_an_input_error(mnist_small, tmp_path):
    report = fuzz.run(
        FUZZ_SECONDS, seed=0, digits=list(mnist_small.x_test[:2]), failures_dir=tmp_path
    )
    summary = {k: v for k, v in report.items() if k != "failures"}
    print("\nfuzz:", summary)
    assert report["failures"] == [], report["failures"][0]["error"]
    assert {"photo.mpo", "icon.ico", "pages.tif", "lossless.webp", "animated.gif"} <= set(
        report["formats"]
    )
    assert report["cases"] >= 20 * FUZZ_SECONDS  # about 400 a second on an idle core
    assert report["outcomes"].get("prepared", 0) > 0 and report["outcomes"].get("damaged", 0) > 0
    assert report["caller_peak_growth_mb"] < 200
