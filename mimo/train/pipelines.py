"""tf.data input pipelines for both models, with augmentation.

Training streams draw fresh random colours (colour model) and fresh random numbers (sum model)
every epoch, and augment each batch with elastic distortion (Simard et al. 2003) on part of the
images, small rotations, shifts, zooms, a random stroke thickness and, on some, a thin gap
cut across the strokes. Validation and test streams use fixed-seed colours and numbers so
metrics reproduce.

Colour images are built to look like what people really draw: the ink is red or green with
random shade and brightness (other channels up to INK_TINT_MAX of the main one, as in picker
colours like #FF4B4B; sometimes pale or mostly blue, so the digit head reads any ink), on a
clean black background or a noisy one, as in the original colour project.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from mimo.encoding import NUM_NUMBERS
from mimo.tasks import task

ROTATION_FACTOR = 10 / 360  # +-10 degrees, as a fraction of a full turn
SHIFT_FACTOR = 0.12
ZOOM_FACTOR = 0.12
# Cumulative probabilities of the stroke-thickness choices: thin, keep, thicker, bold, and very
# bold (a wide canvas brush on a small digit).
STROKE_THIN_BELOW, STROKE_KEEP_BELOW, STROKE_THICKER_BELOW, STROKE_BOLD_BELOW = 0.2, 0.55, 0.8, 0.92
# Only strokes up to this mean width (pixels, about MNIST's median) are made very bold; bolder
# ones would close into a blob, and are made bold instead.
VERY_BOLD_MAX_WIDTH = 2.0
# A gap: a thin line of background cut across the digit, as where strokes drawn one by one do
# not quite meet, on STROKE_GAP_PROB of the images, STROKE_GAP_WIDTH pixels wide, passing at most
# STROKE_GAP_OFFSET pixels from the centre.
STROKE_GAP_PROB = 0.2
STROKE_GAP_WIDTH = (0.6, 1.6)
STROKE_GAP_OFFSET = 6.0
INK_BRIGHTNESS_MIN = 0.55
INK_TINT_MAX = 0.5
# Some inks are mostly blue (ballpoint pens): the digit head must still read them. The colour
# label stays whichever of red and green is stronger.
BLUE_INK_PROB = 0.15
# Some inks are pale or near-white (grey MNIST images, black pens once inverted).
PALE_INK_PROB = 0.15
BLUE_INK_MAX = 4.0
NOISY_BACKGROUND_PROB = 0.5
NOISE_LEVEL_MAX = 0.3
SHUFFLE_BUFFER = 60_000
# Elastic distortion (Simard et al. 2003): a random displacement field, smoothed by a Gaussian of
# ELASTIC_SIGMA pixels and scaled by ELASTIC_ALPHA (about 1.1 px standard deviation at 28 px),
# applied to ELASTIC_PROB of the training images. The handwriting-like wobble that MNIST lacks.
ELASTIC_PROB = 0.5
ELASTIC_ALPHA = 34.0
ELASTIC_SIGMA = 5.0


@dataclass(frozen=True)
class EvalPairs:
    """The fixed colours/numbers that go with an evaluation split."""

    colors: np.ndarray  # (N,) 0 red, 1 green
    numbers: np.ndarray  # (N,) 0-9


def fixed_pairs(n: int, seed: int) -> EvalPairs:
    """Deterministic colours and numbers for validation/test, the same on every call."""
    rng = np.random.default_rng(seed)
    return EvalPairs(colors=rng.integers(0, 2, n), numbers=rng.integers(0, NUM_NUMBERS, n))


# ---------------------------------------------------------------------------------------------
# Augmentation


def make_augmenter(seed: int) -> keras.Sequential:
    """Geometric augmentation applied to grey batches (B, 28, 28, 1) in [0, 1]."""
    return keras.Sequential(
        [
            keras.layers.RandomRotation(ROTATION_FACTOR, fill_mode="constant", seed=seed),
            keras.layers.RandomTranslation(
                SHIFT_FACTOR, SHIFT_FACTOR, fill_mode="constant", seed=seed + 1
            ),
            keras.layers.RandomZoom(ZOOM_FACTOR, ZOOM_FACTOR, fill_mode="constant", seed=seed + 2),
        ],
        name="augment",
    )


def _blur_matrix(size: int, sigma: float) -> np.ndarray:
    """A 1-D Gaussian blur (taps to 3 sigma, zeros outside) as a (size, size) matrix.

    Blurring a field F along both axes is then M @ F @ M.T: two small matmuls, about 15x faster
    on CPU than a 31-tap depthwise convolution.
    """
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    offset = np.arange(size)[:, None] - np.arange(size)[None, :]
    matrix = np.where(np.abs(offset) <= radius, taps[np.clip(offset + radius, 0, 2 * radius)], 0)
    return matrix.astype(np.float32)


def elastic_distort(
    grey: tf.Tensor,
    seed: tf.Tensor,
    prob: float = ELASTIC_PROB,
    alpha: float = ELASTIC_ALPHA,
    sigma: float = ELASTIC_SIGMA,
) -> tf.Tensor:
    """Elastic distortion of grey batches (B, H, W, 1), in pure TensorFlow (no Python per image).

    Per image, with probability `prob`: a uniform random displacement field in [-1, 1] for each
    axis, blurred by a separable Gaussian, times `alpha`; the image is resampled bilinearly at
    the displaced coordinates (zeros outside). The other images pass through unchanged.
    """
    shape = tf.shape(grey)
    batch, height, width = shape[0], grey.shape[1], grey.shape[2]
    field_seed, use_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    field = tf.random.stateless_uniform([batch, height, width, 2], field_seed, -1.0, 1.0)
    blur_rows = tf.constant(_blur_matrix(height, sigma))
    blur_cols = tf.constant(_blur_matrix(width, sigma))
    field = tf.einsum("ij,bjkc,lk->bilc", blur_rows, field, blur_cols)
    use = tf.cast(tf.random.stateless_uniform([batch, 1, 1, 1], use_seed) < prob, tf.float32)
    field = field * (alpha * use)

    rows, cols = tf.meshgrid(
        tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij"
    )
    # Pad by 2 zero pixels per side: every clipped coordinate in [-1, size] then reads zeros.
    y = tf.clip_by_value(rows[None] + field[..., 0], -1.0, float(height)) + 2.0
    x = tf.clip_by_value(cols[None] + field[..., 1], -1.0, float(width)) + 2.0
    y0, x0 = tf.floor(y), tf.floor(x)
    wy, wx = y - y0, x - x0
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    padded_width = width + 4
    flat = tf.reshape(tf.pad(grey[..., 0], [[0, 0], [2, 2], [2, 2]]), [batch, -1])

    def at(yy, xx):
        index = tf.reshape(yy * padded_width + xx, [batch, -1])
        return tf.reshape(tf.gather(flat, index, batch_dims=1), [batch, height, width])

    top = at(y0, x0) * (1 - wx) + at(y0, x0 + 1) * wx
    bottom = at(y0 + 1, x0) * (1 - wx) + at(y0 + 1, x0 + 1) * wx
    return (top * (1 - wy) + bottom * wy)[..., None]


def random_stroke_thickness(grey: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Per image: thin the stroke, keep it, or thicken it a little, a lot or very much (canvas
    brushes)."""
    eroded = -tf.nn.max_pool2d(-grey, 2, 1, "SAME")
    dilated = tf.nn.max_pool2d(grey, 2, 1, "SAME")
    bold = tf.nn.max_pool2d(grey, 3, 1, "SAME")
    very_bold = tf.nn.max_pool2d(grey, 4, 1, "SAME")
    very_bold = tf.where(mean_stroke_width(grey) <= VERY_BOLD_MAX_WIDTH, very_bold, bold)
    choice = tf.random.stateless_uniform([tf.shape(grey)[0], 1, 1, 1], seed=seed)
    thickness = tf.where(choice < STROKE_BOLD_BELOW, bold, very_bold)
    thickness = tf.where(choice < STROKE_THICKER_BELOW, dilated, thickness)
    thickness = tf.where(choice < STROKE_KEEP_BELOW, grey, thickness)
    return tf.where(choice < STROKE_THIN_BELOW, eroded, thickness)


def mean_stroke_width(grey: tf.Tensor) -> tf.Tensor:
    """(B, 1, 1, 1) mean stroke width in pixels: twice the ink area over its boundary length,
    as mimo.serve.preprocess.stroke_width measures it."""
    mask = tf.cast(grey >= 0.5, tf.float32)
    area = tf.reduce_sum(mask, axis=[1, 2, 3], keepdims=True)
    padded = tf.pad(mask, [[0, 0], [1, 1], [1, 1], [0, 0]])
    across = tf.abs(padded[:, :, 1:] - padded[:, :, :-1])
    down = tf.abs(padded[:, 1:] - padded[:, :-1])
    boundary = tf.reduce_sum(across, axis=[1, 2, 3], keepdims=True) + tf.reduce_sum(
        down, axis=[1, 2, 3], keepdims=True
    )
    return 2.0 * area / tf.maximum(boundary, 1.0)


def stroke_augmentation() -> dict:
    """The stroke augmentation's settings, for a run's record."""
    return {
        "thin": STROKE_THIN_BELOW,
        "thicker": round(STROKE_THICKER_BELOW - STROKE_KEEP_BELOW, 4),
        "bold": round(STROKE_BOLD_BELOW - STROKE_THICKER_BELOW, 4),
        "very_bold": round(1 - STROKE_BOLD_BELOW, 4),
        "very_bold_max_width": VERY_BOLD_MAX_WIDTH,
        "gap": STROKE_GAP_PROB,
    }


def random_gaps(grey: tf.Tensor, seed: tf.Tensor, prob: float = STROKE_GAP_PROB) -> tf.Tensor:
    """Cut one thin straight gap (soft-edged, any angle) across `prob` of the images."""
    batch = tf.shape(grey)[0]
    seeds = tf.random.experimental.stateless_split(seed, 4)
    shape = [batch, 1, 1, 1]
    angle = tf.random.stateless_uniform(shape, seeds[0], 0.0, np.pi)
    offset = tf.random.stateless_uniform(shape, seeds[1], -STROKE_GAP_OFFSET, STROKE_GAP_OFFSET)
    width = tf.random.stateless_uniform(shape, seeds[2], *STROKE_GAP_WIDTH)
    cut = tf.random.stateless_uniform(shape, seeds[3]) < prob
    side = tf.shape(grey)[1]
    coords = tf.range(side, dtype=tf.float32) - (tf.cast(side, tf.float32) - 1) / 2
    rows, cols = coords[None, :, None, None], coords[None, None, :, None]
    distance = tf.abs(cols * tf.cos(angle) + rows * tf.sin(angle) - offset)
    keep = tf.clip_by_value(distance - width / 2 + 0.5, 0.0, 1.0)  # 0 inside, 1 a pixel away
    return tf.where(cut, grey * keep, grey)


# ---------------------------------------------------------------------------------------------
# Colour rendering


def paint(grey: tf.Tensor, colors: tf.Tensor, seed: tf.Tensor, noisy: bool = True) -> tf.Tensor:
    """Turn grey digits (B, 28, 28, 1) into red/green RGB images like people draw them."""
    batch = tf.shape(grey)[0]
    seeds = tf.random.experimental.stateless_split(seed, 4)
    brightness = tf.random.stateless_uniform([batch], seeds[0], INK_BRIGHTNESS_MIN, 1.0)
    tint = tf.random.stateless_uniform([batch, 3], seeds[1], 0.0, INK_TINT_MAX)
    pale = tf.random.stateless_uniform([batch, 1], seeds[1] + 1) < PALE_INK_PROB
    tint = tf.where(pale, tint + INK_TINT_MAX, tint)  # up to 1: pale, yellowish or near-white
    main = tf.one_hot(tf.cast(colors, tf.int32), 3)  # red -> channel 0, green -> channel 1
    ink = main + (1.0 - main) * tint
    blue_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(seeds[2], 2))
    blue = tf.random.stateless_uniform([batch, 2], blue_seed, 0.0, 1.0)
    blue_ink = tf.where(blue[:, 0] < BLUE_INK_PROB, blue[:, 1] * BLUE_INK_MAX, 0.0)
    ink = tf.maximum(ink, tf.one_hot(tf.fill([batch], 2), 3) * blue_ink[:, None])
    ink = ink / tf.reduce_max(ink, axis=1, keepdims=True) * brightness[:, None]
    image = grey * ink[:, None, None, :]
    if noisy:
        level = tf.random.stateless_uniform([batch, 1, 1, 1], noise_seed, 0.0, NOISE_LEVEL_MAX)
        use_noise = tf.random.stateless_uniform([batch, 1, 1, 1], seeds[3]) < NOISY_BACKGROUND_PROB
        noise = tf.random.stateless_uniform(tf.shape(image), seeds[3] + 1) * level
        image = tf.maximum(image, tf.where(use_noise, noise, 0.0))
    return tf.clip_by_value(image, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Training encodings: what each model's entry in mimo.tasks names as its `training_encoding`.
# Each takes a grey batch (B, 28, 28, 1) and the batch's four seeds, draws the values the digits
# are paired with, and returns (image inputs, paired values).


def paint_in_random_colors(grey: tf.Tensor, seeds: tf.Tensor):
    """Colour model: each digit painted in a random red (0) or green (1) ink."""
    batch = tf.shape(grey)[0]
    colors = tf.cast(tf.random.stateless_uniform([batch], seeds[1]) < 0.5, tf.int64)
    return paint(grey, colors, seeds[2]), colors


def draw_random_numbers(grey: tf.Tensor, seeds: tf.Tensor):
    """Sum model: the grey digit as it is, and a random number 0-9 to add to it."""
    batch = tf.shape(grey)[0]
    numbers = tf.random.stateless_uniform([batch], seeds[1], 0, NUM_NUMBERS, dtype=tf.int64)
    return grey, numbers


# ---------------------------------------------------------------------------------------------
# Datasets


def training_dataset(
    model: str,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    augment: bool,
    elastic_prob: float = ELASTIC_PROB,
) -> tf.data.Dataset:
    """An endless-per-epoch training stream: shuffled, freshly paired and augmented."""
    model_task = task(model)
    encode = model_task.training_encoder
    augmenter = make_augmenter(seed) if augment else None
    images = tf.constant(images, tf.uint8)
    labels = tf.constant(labels.astype(np.int64))

    def prepare(batch_images, batch_labels, batch_seed):
        grey = tf.cast(batch_images, tf.float32)[..., None] / 255.0
        seeds = tf.random.experimental.stateless_split(batch_seed, 4)
        if augmenter is not None:
            if elastic_prob > 0:
                grey = elastic_distort(grey, seeds[3], elastic_prob)
            grey = augmenter(grey, training=True)
            grey = random_stroke_thickness(grey, seeds[0])
            grey = random_gaps(grey, tf.random.experimental.stateless_fold_in(seeds[0], 1))
        image, paired = encode(grey, seeds)
        return (
            model_task.inputs(image, paired, tf.one_hot),
            model_task.targets(batch_labels, paired, tf.one_hot),
        )

    batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).map(
        lambda r: tf.stack([r, r // 7919])
    )
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = ds.shuffle(min(len(labels), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = tf.data.Dataset.zip((ds, batch_seeds)).map(
        lambda pair, s: prepare(pair[0], pair[1], s), num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def evaluation_arrays(model: str, images: np.ndarray, labels: np.ndarray, pairs: EvalPairs):
    """(inputs, targets) as numpy for a fixed evaluation split; clean black backgrounds."""
    model_task = task(model)
    return model_task.evaluation_arrays(images, labels, model_task.paired(pairs))


def evaluation_dataset(
    model: str, images, labels, pairs: EvalPairs, batch_size: int
) -> tf.data.Dataset:
    inputs, targets = evaluation_arrays(model, images, labels, pairs)
    return tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(batch_size).prefetch(2)
