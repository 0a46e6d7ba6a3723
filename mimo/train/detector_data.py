"""The "is this one digit?" detector's pictures: real digits and things that are not.

Everything is a *picture*, made the way people give pictures to the app, so that it can go
through the same path as a real input (`mimo.serve.preprocess.prepare`, or the CLI). A stroke
mask (float 0-1 on the 280x280 canvas grid) is rendered in one of three modes (`render`,
with mimo.train.synthetic's renderers):

- ``canvas``: picker-colour strokes (red/green) on the 280x280 canvas, black RGB or transparent
  RGBA, brush widths 8-40 px, any size and position, strokes may touch the edges;
- ``photo``: dark, red, green or blue ink on off-white, unevenly lit paper, JPEG-compressed;
- ``plain``: a 28x28 grey MNIST-format image (white on black).

Positives (`positive_picture`): real MNIST digits (pass *training* digits to build training
data, *test* digits to measure) rendered in any mode.

Negatives (`negative_picture`): one of mimo.train.not_digits' kinds, rendered in any mode.
Some variants of each kind are held out from training (see not_digits): ``held_out=True``
picks *only* these, ``held_out=False`` (the default) never does. A bench that measures
generalisation should use ``held_out=True`` and a seed other than `TRAINING_SEED`.

The shipped detector was trained on these pictures from TRAINING_SEED: the same seed draws the
same pictures, so mind the order in which each function uses its Generator.

Use:

    rng = numpy.random.default_rng(seed)
    picture, family = negative_picture(rng, digits=test_digits, held_out=True)
    picture = positive_picture(test_digit, rng)             # a real digit, any mode
    pictures = negative_pictures(200, seed=7, held_out=True, digits=test_digits)
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mimo.train.not_digits import NEGATIVE_FAMILIES, negative_mask
from mimo.train.synthetic import (
    CANVAS_SIDE,
    digit_mask,
    ink_on_paper,
    jpeg,
    lit_paper,
    on_canvas,
)

TRAINING_SEED = 0
PICKER_COLORS = [(255, 75, 75), (33, 195, 84), (255, 0, 0), (0, 200, 0), (230, 40, 60)]
PAPER_INKS = [(20, 20, 25), (40, 40, 90), (190, 30, 40), (20, 130, 60), (30, 50, 170)]
PAPER_SLOPE = 25  # how far the light changes across a photo, grey levels
MODES = ("canvas", "photo", "plain")
MODE_WEIGHTS = (0.6, 0.3, 0.1)
MNIST_SIDE = 28  # plain pictures: the digit fitted into MNIST_BOX, centred in MNIST_SIDE
MNIST_BOX = 20


def render(mask: np.ndarray, rng, mode: str | None = None):
    """A (CANVAS_SIDE, CANVAS_SIDE) float mask -> a picture as the app gets it (PIL image or
    uint8 array)."""
    if mode is None:
        mode = MODES[int(rng.choice(len(MODES), p=MODE_WEIGHTS))]
    if mode == "canvas":
        color = PICKER_COLORS[int(rng.integers(len(PICKER_COLORS)))]
        return on_canvas(mask, color, transparent=rng.random() < 0.5)
    if mode == "photo":
        return _photo(mask, rng)
    return _plain(mask)


def _photo(mask: np.ndarray, rng) -> Image.Image:
    """The mask in ink somewhere on a small sheet of paper, JPEG."""
    w, h = int(rng.integers(200, 400)), int(rng.integers(200, 360))
    scale = float(rng.uniform(0.4, 1.0))
    side = max(8, int(CANVAS_SIDE * scale))
    side = min(side, w - 4, h - 4)
    small = Image.fromarray((mask * 255).astype(np.uint8)).resize(
        (side, side), Image.Resampling.BILINEAR
    )
    ink_mask = np.asarray(small, np.float32) / 255
    paper = lit_paper(rng, w, h, slope=PAPER_SLOPE)
    x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    ink = PAPER_INKS[int(rng.integers(len(PAPER_INKS)))]
    ink_on_paper(paper, ink_mask * float(rng.uniform(0.75, 1.0)), ink, x, y)
    return jpeg(paper, int(rng.integers(55, 95)))


def _plain(mask: np.ndarray) -> np.ndarray:
    """The mask cropped, fitted into MNIST_BOX and centred in MNIST_SIDE x MNIST_SIDE (uint8)."""
    small = Image.fromarray(np.clip(mask * 255, 0, 255).astype(np.uint8))
    box = small.getbbox() or (0, 0, CANVAS_SIDE, CANVAS_SIDE)
    crop = small.crop(box)
    scale = MNIST_BOX / max(crop.size)
    crop = crop.resize(
        (max(1, round(crop.width * scale)), max(1, round(crop.height * scale))),
        Image.Resampling.LANCZOS,
    )
    out = Image.new("L", (MNIST_SIDE, MNIST_SIDE), 0)
    out.paste(crop, ((MNIST_SIDE - crop.width) // 2, (MNIST_SIDE - crop.height) // 2))
    return np.asarray(out, np.uint8)


def positive_picture(digit: np.ndarray, rng, mode: str | None = None):
    """One real MNIST digit (28x28 uint8) rendered as a canvas drawing, photo or plain image."""
    if mode is None:
        mode = MODES[int(rng.choice(len(MODES), p=MODE_WEIGHTS))]
    if mode == "plain":
        return np.asarray(digit, np.uint8)
    return render(digit_mask(digit, rng), rng, mode)


def negative_picture(rng, families=None, held_out: bool = False, digits=None, mode=None):
    """(picture, family): one picture that is not a single digit.

    families: names from NEGATIVE_FAMILIES (default all; multi_digit only if digits are given);
    held_out: draw only the variants held out from training (see mimo.train.not_digits);
    digits: 28x28 MNIST images for multi_digit (test digits for a held-out set);
    mode: "canvas", "photo" or "plain" (default: random).
    """
    names = list(families or NEGATIVE_FAMILIES)
    if digits is None:
        names = [n for n in names if n != "multi_digit"]
    weights = np.array([NEGATIVE_FAMILIES[n] for n in names])
    family = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    mask = negative_mask(family, rng, held_out, digits)
    return render(mask, rng, mode), family


def negative_pictures(count: int, seed: int, families=None, held_out=True, digits=None, mode=None):
    """[(picture, family)] * count, reproducible from seed (held-out variants by default)."""
    rng = np.random.default_rng(seed)
    return [negative_picture(rng, families, held_out, digits, mode) for _ in range(count)]
