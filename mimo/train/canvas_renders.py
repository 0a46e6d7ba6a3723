"""Training digits drawn again the way the Predict page receives them, then read back.

MNIST strokes are about 2 px wide at 28 px. A canvas brush on a small drawing is up to a quarter
of the digit's height, and once the drawing is framed like MNIST its loops and hooks are nearly
closed. The tf.data augmentation (mimo.train.pipelines) thickens strokes, but only on the 28x28
grid. This module renders each training digit as a canvas drawing (mimo.train.synthetic: any
size and position, past the edges, tiny in a corner, in several strokes, with the page's brush
widths) and reads it back through mimo.serve.preprocess.prepare, the models' own input path.
The trainer appends these to the training split (TrainConfig.canvas_renders); the validation
and test splits are never rendered.
"""

from __future__ import annotations

import numpy as np

from mimo.serve.preprocess import InputError, prepare
from mimo.train import synthetic

# How often each kind of drawing is picked, out of their sum.
KINDS = (
    (synthetic.canvas, 6),  # any size and position, thin to bold brushes
    (synthetic.canvas_edges, 2),  # filling the canvas, past its edges
    (synthetic.canvas_tiny, 1),  # 40-70 px in a corner
    (synthetic.canvas_strokes, 1),  # in several strokes, with gaps
)
INKS = tuple(synthetic.PICKER_INKS)  # red, green; the pipelines paint their own colours anyway


def render(images: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One canvas drawing of each 28x28 uint8 digit, as the models see it (uint8, 28x28).

    Returns (images, labels); a drawing that preprocessing refuses (rare: a bold digit that
    closed into a blob) is left out, with its label."""
    rng = np.random.default_rng(seed)
    makers = [make for make, _ in KINDS]
    weights = np.array([weight for _, weight in KINDS], float)
    picks = rng.choice(len(makers), size=len(labels), p=weights / weights.sum())
    drawn, kept = [], []
    for image, label, pick in zip(images, labels, picks, strict=True):
        ink = INKS[int(rng.integers(len(INKS)))]
        try:
            grey = prepare(makers[pick](image, ink, rng)).grey
        except InputError:
            continue
        drawn.append(np.round(grey * 255).astype(np.uint8))
        kept.append(label)
    if not drawn:
        return np.zeros((0, *images.shape[1:]), np.uint8), np.zeros(0, labels.dtype)
    return np.stack(drawn), np.asarray(kept, labels.dtype)
