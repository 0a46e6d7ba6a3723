"""Find the digit in decoded pixels and frame it as the 28x28 input each model sees.

The steps follow the original MNIST preparation:

1. Decode safely (mimo.serve.decode: every guard on untrusted input lives there).
2. Find the ink: a strength map in [0, 1] where the background is 0. Transparent images use
   their alpha channel; opaque ones are compared with the background estimated from the
   border (for photos of paper, a local paper level that follows uneven lighting and shadows,
   and ink is measured as a part of the paper's brightness there, so a stroke in a shadow is as
   strong as in the light), so dark ink on light paper is inverted. A photo of a sheet on a
   desk that shows along some edges is read on the sheet only (mimo.serve.paper). The
   background noise level, measured on the pixels away from the ink, is subtracted and the
   result normalised by the typical stroke strength.
3. Crop to the ink's bounding box (tiny specks away from the digit are ignored), fit it into
   20x20 keeping the aspect ratio and paste it into 28x28 with its centre of mass at (14, 14).

`grey` is that 28x28 map (sum model input); `rgb` is the map times the ink colour scaled so its
brightest channel is 1, on black (colour model input).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from mimo.serve.decode import InputError, decode, load_image, read_upload_bytes
from mimo.serve.paper import find_sheet
from mimo.serve.region_measures import otsu_threshold, solidity

SIZE = 28  # output side, as in MNIST
BOX = 20  # the digit is fitted into BOX x BOX, as in MNIST
CENTRE = 14.0  # where the centre of mass goes (row, column index), as in MNIST

# Ink detection
MIN_CONTRAST = 0.12  # weakest stroke (0-1 brightness difference) still counted as ink
BORDER_FRACTION = 0.05  # ring of the image used to tell a dark from a light background
# A dark background's level: this percentile of the ring's brightness, so that bold strokes
# covering most of the ring (a digit drawn past the canvas's edges) do not set it.
DARK_BACKGROUND_PERCENTILE = 10
# Paper is light in every channel; bright canvas inks (red 255,75,75; green 60,220,110) are as
# light on average but keep one channel below this, so strokes covering most of a black
# canvas's border are not taken for paper.
PAPER_MIN_CHANNEL = 0.35
BACKGROUND_NOISE_PERCENTILE = 99  # of the pixels away from ink: the background's noise level
INK_PEAK_PERCENTILE = 99.9  # the strongest ink, robust to a few hot pixels
CLEAR_INK_FRACTION = 0.5  # clear ink is at least this part of the strongest
INK_EDGE_FRACTION = 0.01  # how far (part of the shorter side) ink edges reach into the background
NOISE_SAMPLE_SIDE = 140  # pixels along the shorter side used to measure the background's noise
BACKGROUND_MIN_FRACTION = 0.05  # less background than this: no noise level can be measured
STROKE_PERCENTILE = 75  # the stroke strength that maps to 1.0
LOCAL_BACKGROUND_MIN_SIDE = 64  # smaller images use one background level
LIT_PAPER_PERCENTILE = 90  # of the paper level: the paper where it is best lit
PAPER_GRID_SIDE = 100  # the paper level is measured on block means, 100-199 on the shorter side
# Dark features narrower than an octagon of this radius (part of the shorter side) are ink, and
# wider ones lighting and shadows: 0.35 across, wider than the strokes of a digit filling a photo.
PAPER_CLOSING_RADIUS = 0.175
MAX_INK_COVERAGE = 0.55  # more "ink" than this is not a digit (e.g. paper on a dark table)
MASK_LEVEL = 0.2  # normalised strength above which a pixel counts for the bounding box
FAINT_LEVEL = 0.05  # normalised strength of the faint edges kept around the box
FAINT_EDGE_FRACTION = 0.02  # how far (part of the side) the box grows over faint edges
SPECK_FRACTION = 0.005  # ink mass trimmed from each end before growing the box back
# Stroke width relative to the digit's longer side, measured on MNIST digits scaled to 200 px:
THIN_STROKE = 0.045  # 5th percentile: thinner strokes are widened ...
TYPICAL_STROKE = 0.065  # ... to about the median (0.069)
THICKEN_MIN_SIDE = 48  # smaller crops are too coarse to measure stroke widths
MIN_DIGIT_FRACTION = 0.03  # the ink's extent must be at least this part of the shorter side
# A roundish box this full of ink is a dot or blob (a disk fills 0.79; MNIST digits 0.2-0.6).
DOT_FILL = 0.7
DOT_ASPECT = 1.4  # longer / shorter side of the box, at most
# ... unless it encloses background: a bold 0 or 8 keeps holes of 4-7% of its box ...
DOT_MAX_HOLES = 0.02
# ... or is notched: ink over its convex hull's area. Dots and blobs fill 0.91-0.99 of it (99.7%
# of them above this); a 3 drawn so bold that its loops merged still shows its notches (0.86-0.88).
DOT_MIN_SOLIDITY = 0.9
DARK_INK_LEVEL = 0.25  # transparent images whose ink is darker than this carry it in alpha
COLOR_CORE_LEVEL = 0.5  # pixels this strong define the ink colour

_CROSS = ndimage.generate_binary_structure(2, 1)  # 3x3, without the corners


class NoDigitFound(InputError):
    """There is nothing to read: a blank picture or canvas (one flat colour). Pages treat it as
    "nothing drawn yet"; ink that cannot be read raises a plain InputError instead."""


@dataclass(frozen=True)
class PreparedDigit:
    rgb: np.ndarray  # (28, 28, 3) float32 in [0, 1], black background: colour model input
    grey: np.ndarray  # (28, 28) float32 in [0, 1], white on black: sum model input
    ink_rgb: tuple[int, int, int]  # the mean colour of the ink as drawn, 0-255
    # The ink reaches the picture's edge: part of the drawing may be off the canvas or photo.
    cut_by_edge: bool = False


# ---------------------------------------------------------------------------------------------
# Public API


def prepare(source) -> PreparedDigit:
    """Any supported input -> PreparedDigit. Raises InputError with a user-facing message.

    source: anything mimo.serve.decode.decode() reads (array, PIL image, path, bytes, file-like).
    """
    pixels = decode(source)
    strength, color_source = _ink_strength(pixels.rgb, pixels.alpha)
    ink = _normalise(strength)
    ink_rgb = _ink_color(ink, color_source)
    grey = _frame(ink, mnist_sized=pixels.mnist_sized)
    scale = np.asarray(ink_rgb, np.float32)
    scale = scale / scale.max() if scale.max() >= 10 else np.ones(3, np.float32)
    rgb_out = np.clip(grey[..., None] * scale, 0.0, 1.0).astype(np.float32)
    return PreparedDigit(rgb=rgb_out, grey=grey, ink_rgb=ink_rgb, cut_by_edge=_reaches_edge(ink))


# ---------------------------------------------------------------------------------------------
# Finding the ink


def _border(values: np.ndarray) -> np.ndarray:
    """The pixels of the outer ring (BORDER_FRACTION of the shorter side, at least 1 pixel)."""
    height, width = values.shape[:2]
    ring = max(1, round(min(height, width) * BORDER_FRACTION))
    return np.concatenate(
        [
            values[:ring].reshape(-1, *values.shape[2:]),
            values[-ring:].reshape(-1, *values.shape[2:]),
            values[ring:-ring, :ring].reshape(-1, *values.shape[2:]),
            values[ring:-ring, -ring:].reshape(-1, *values.shape[2:]),
        ]
    )


def _ink_strength(rgb: np.ndarray, alpha: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(raw ink strength >= 0 per pixel, the colours to take the ink colour from)."""
    if alpha is not None and float(alpha.min()) < 0.98:
        if float(np.median(_border(alpha))) < 0.5:
            # Transparent background (drawing canvas, cut-out): the ink is what is opaque.
            brightness = _channel_max(rgb)
            mass = float(alpha.sum())
            if mass > 0 and float((alpha * brightness).sum()) < DARK_INK_LEVEL * mass:
                return alpha, rgb  # dark ink: only the alpha channel tells where it is
            rgb = rgb * alpha[..., None]  # as shown on a black background
        else:
            # Opaque background with transparent holes: fill them with the background colour.
            background = np.median(_border(rgb), axis=0)
            filled = rgb * alpha[..., None] + background * (1.0 - alpha[..., None])
            if float(np.abs(filled - background).max()) < MIN_CONTRAST:
                # One colour everywhere: only alpha draws anything, and what is opaque is the
                # ink (a transparent canvas whose strokes cover most of its edges).
                return alpha, rgb
            rgb = filled
    border = _border(rgb)
    paper_border = _looks_like_paper(border)
    # Dark ink on light paper: the darkest channel picks up black, blue, red or green ink.
    sheet = find_sheet(rgb, paper_border)
    if sheet is not None:
        # A sheet on a desk that shows along some edges: the ink is on the sheet only. The
        # paper level keeps the desk (wider than any stroke) as it is, so it follows the sheet
        # up to its edge, and a soft shadow's rim too, when that is what looked like a desk.
        lightness = _channel_min(rgb)
        strength = _below_paper(lightness, _paper_level(lightness)) * sheet
        if paper_border or float(strength.max()) >= MIN_CONTRAST:
            return strength, rgb
    if paper_border:
        lightness = _channel_min(rgb)
        return _below_paper(lightness, _paper_level(lightness)), rgb
    # Light ink on a dark background (drawing canvas, MNIST style, screenshots): these are
    # evenly lit, so one background level is safest (very bold strokes cannot fool it). The
    # noise above it is measured later, away from the ink (_noise_floor).
    brightness = _channel_max(rgb)
    background = float(np.percentile(_channel_max(border), DARK_BACKGROUND_PERCENTILE))
    return np.maximum(brightness - background, 0.0), rgb


def _looks_like_paper(border: np.ndarray) -> bool:
    """Whether the border's (N, 3) pixels look like paper: light, and light in every channel."""
    luminance = float(np.median(border[:, 0] + border[:, 1] + border[:, 2])) / 3
    return luminance > 0.5 and float(np.median(_channel_min(border))) > PAPER_MIN_CHANNEL


def _channel_max(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel max over the 3 channels (much faster than rgb.max(axis=2))."""
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def _channel_min(rgb: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def _paper_level(values: np.ndarray) -> np.ndarray | float:
    """The paper's brightness: one value from the border, or a smooth map for big images.

    Photos of paper are unevenly lit, and a shadow (a phone's, a hand's) may fall across the
    digit. The map is a greyscale closing of the brightness: a max filter, which lifts every
    dark feature narrower than its footprint (the strokes) to the paper around it, then a min
    filter of the same footprint, which puts back the wider ones (lighting and shadows) where
    they were, up to their edges. The footprint is an octagon, close to a disk, so the rim of
    a round shadow is followed closely too. It runs on block means (PAPER_GRID_SIDE), for speed
    and to smooth the paper's grain.
    """
    height, width = values.shape
    if min(height, width) < LOCAL_BACKGROUND_MIN_SIDE:
        return float(np.median(_border(values)))
    block = max(1, min(height, width) // PAPER_GRID_SIDE)
    grid = np.asarray(Image.fromarray(values.astype(np.float32, copy=False)).reduce(block))
    # Averaged over 3x3 blocks as well: the max filter would pick the paper's grain and noise.
    grid = ndimage.uniform_filter(grid, size=3)
    radius = max(1, round(min(grid.shape) * PAPER_CLOSING_RADIUS))
    grid = _octagon_filter(grid, radius, ndimage.maximum_filter)
    grid = _octagon_filter(grid, radius, ndimage.minimum_filter)
    smooth = Image.fromarray(grid).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(smooth, dtype=np.float32)


def _octagon_filter(values: np.ndarray, radius: int, rank_filter) -> np.ndarray:
    """A max or min filter over a regular octagon of that radius (centre to side): a square
    (fast, separable) then a diamond (repeated 3x3 crosses), whose Minkowski sum the octagon is.
    It is regular when the diamond's radius is sqrt(2) times the square's half-side."""
    diamond = round(radius * np.sqrt(2) / (1 + np.sqrt(2)))
    square = radius - diamond
    values = rank_filter(values, size=2 * square + 1)
    for _ in range(diamond):
        values = rank_filter(values, footprint=_CROSS)
    return values


def _below_paper(lightness: np.ndarray, paper: np.ndarray | float) -> np.ndarray:
    """How much darker than the paper under it each pixel is, as a part of that paper's
    brightness, times the brightness of the best-lit paper (so in brightness units, as on
    evenly lit paper). The light falling on a sheet dims its paper and its ink alike: a stroke
    in a shadow keeps its strength."""
    if np.isscalar(paper):
        return np.maximum(paper - lightness, 0.0)
    typical = np.float32(np.percentile(paper[::8, ::8], LIT_PAPER_PERCENTILE))
    return np.maximum(paper - lightness, 0.0) * (typical / np.maximum(paper, 1e-3))


def _normalise(strength: np.ndarray) -> np.ndarray:
    """Subtract the background noise level, scale typical strokes to 1; blank -> InputError."""
    if float(strength.max()) < MIN_CONTRAST:
        if float(np.ptp(strength)) < 1e-3:
            raise NoDigitFound(
                "No digit found: the image is blank (a single flat colour). "
                "Please draw or upload one digit."
            )
        raise InputError(
            "No digit found: nothing stands out clearly from the background. "
            "Please use darker ink on light paper, or bright strokes on a dark background."
        )
    floor = _noise_floor(strength)
    candidates = strength[strength > floor + MIN_CONTRAST]
    if candidates.size == 0:
        raise InputError(
            "No digit found: the image looks like noise or texture only. "
            "Please draw or upload one clear digit."
        )
    top = float(np.percentile(candidates, STROKE_PERCENTILE))
    ink = np.clip((strength - floor) / max(top - floor, 1e-6), 0.0, 1.0)
    if float(np.mean(ink >= 0.5)) > MAX_INK_COVERAGE:
        raise InputError(
            "Could not find a single digit: most of the picture differs from its edges "
            "(for example paper that does not fill the photo). "
            "Please crop the picture closer to the digit."
        )
    return ink.astype(np.float32, copy=False)


def _noise_floor(strength: np.ndarray) -> float:
    """The background's noise level: a high percentile of the pixels away from any ink.

    Clear ink is what stands above Otsu's threshold over the whole picture and above half the
    strongest ink (so faint paper texture, ruling or noise never counts as ink, even where the
    digit is a small part of the picture); the pixels near it (its anti-aliased or blurred
    edges) are left out. So strokes that touch or cross the edges, or fill the picture, never
    raise the level: only the background does. The level is a statistic of the whole picture,
    so every `step`-th pixel of every `step`-th row is enough: about NOISE_SAMPLE_SIDE on the
    shorter side (4x fewer pixels on a 280 px canvas).
    """
    step = max(1, min(strength.shape) // NOISE_SAMPLE_SIDE)
    strength = strength[::step, ::step]
    peak = float(np.percentile(strength, INK_PEAK_PERCENTILE))
    ink = strength > max(otsu_threshold(strength), CLEAR_INK_FRACTION * peak, MIN_CONTRAST)
    radius = max(1, round(min(strength.shape) * INK_EDGE_FRACTION))
    near_ink = ndimage.maximum_filter(ink, size=2 * radius + 1)
    background = strength[~near_ink]
    if background.size < BACKGROUND_MIN_FRACTION * strength.size:
        return 0.0  # ink nearly everywhere: the coverage check refuses it next
    return float(np.percentile(background, BACKGROUND_NOISE_PERCENTILE))


def _ink_color(ink: np.ndarray, colors: np.ndarray) -> tuple[int, int, int]:
    core = ink >= COLOR_CORE_LEVEL
    weights = ink[core]
    mean = (colors[core] * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1e-6)
    return tuple(int(round(float(c) * 255)) for c in np.clip(mean, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------
# Framing like MNIST


def _ink_span(profile: np.ndarray, faint: np.ndarray) -> tuple[int, int] | None:
    """[start, stop) of the ink along one axis, ignoring small separate specks at the ends.

    profile: the ink mass per row (or column) of clear ink; faint: the same for any trace of
    ink, used to take back the digit's own faint edges.
    """
    total = float(profile.sum())
    if total <= 0:
        return None
    cumulative = np.cumsum(profile) / total
    start = int(np.searchsorted(cumulative, SPECK_FRACTION, side="right"))
    stop = int(np.searchsorted(cumulative, 1.0 - SPECK_FRACTION, side="left")) + 1
    stop = min(max(stop, start + 1), len(profile))
    while start > 0 and profile[start - 1] > 0:  # the rest of the digit touching the span
        start -= 1
    while stop < len(profile) and profile[stop] > 0:
        stop += 1
    edge = max(1, round(len(profile) * FAINT_EDGE_FRACTION))
    for _ in range(edge):  # anti-aliased edges, a pixel or two
        if start > 0 and faint[start - 1] > 0:
            start -= 1
        if stop < len(profile) and faint[stop] > 0:
            stop += 1
    return start, stop


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary mask: twice the area over the boundary length."""
    area = int(mask.sum())
    boundary = int((mask[:, 1:] != mask[:, :-1]).sum() + (mask[1:] != mask[:-1]).sum())
    boundary += int(mask[:, 0].sum() + mask[:, -1].sum() + mask[0].sum() + mask[-1].sum())
    return 2.0 * area / max(boundary, 1)


def _thicken(crop: np.ndarray) -> np.ndarray:
    """Widen strokes much thinner than MNIST's (thin pen, small brush) before scaling down.

    Widths are relative to the longer side of the digit; a grey dilation (max filter) brings
    thin strokes to a typical MNIST width. Small crops are left alone (too coarse to measure).
    """
    side = max(crop.shape)
    if side < THICKEN_MIN_SIDE:
        return crop
    width = stroke_width(crop >= 0.5) / side
    if width >= THIN_STROKE:
        return crop
    radius = int(np.ceil((TYPICAL_STROKE - width) * side / 2))
    padded = np.pad(crop, radius)
    return _max_filter(_max_filter(padded, radius, axis=0), radius, axis=1)


def _max_filter(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Max over a window of 2*radius+1 along one axis (edges padded with zeros already)."""
    out = values.copy()
    moved, result = np.moveaxis(values, axis, 0), np.moveaxis(out, axis, 0)
    for shift in range(1, radius + 1):
        np.maximum(result[shift:], moved[:-shift], out=result[shift:])
        np.maximum(result[:-shift], moved[shift:], out=result[:-shift])
    return out


def _frame(ink: np.ndarray, mnist_sized: bool) -> np.ndarray:
    """Crop to the ink, fit into BOX x BOX, centre the mass in SIZE x SIZE (float32).

    mnist_sized: the input was already 28x28. A digit that already fits the box is then not
    resampled, and stays where it is if its centre of mass is within a pixel of the centre.
    """
    rows, cols = _ink_box(ink)
    crop = ink[rows[0] : rows[1], cols[0] : cols[1]]
    if _is_dot(crop >= 0.5):
        raise InputError("This is a dot or a blob, not a digit. Please draw a whole digit.")
    keep = mnist_sized and max(crop.shape) <= BOX
    if not keep:
        crop = _fit(_thicken(crop))
    mass = float(crop.sum())
    if mass <= 0:
        raise InputError("No digit found: the ink is too faint. Please draw or upload a digit.")
    height, width = crop.shape
    cy = float((crop.sum(axis=1) * np.arange(height)).sum()) / mass
    cx = float((crop.sum(axis=0) * np.arange(width)).sum()) / mass
    top = int(np.clip(round(CENTRE - cy), 0, SIZE - height))
    left = int(np.clip(round(CENTRE - cx), 0, SIZE - width))
    if keep and abs(rows[0] + cy - CENTRE) <= 1 and abs(cols[0] + cx - CENTRE) <= 1:
        top, left = rows[0], cols[0]
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top : top + height, left : left + width] = crop
    return out


def _reaches_edge(ink: np.ndarray) -> bool:
    """Clear ink (above MASK_LEVEL) in the outermost row or column of the picture."""
    edges = (ink[0], ink[-1], ink[:, 0], ink[:, -1])
    return any(float(edge.max()) >= MASK_LEVEL for edge in edges)


def _is_dot(mask: np.ndarray) -> bool:
    """A compact, convex blob of ink with no loop left open: a dot, or a digit drawn so small
    that its strokes merged. A bold 0 or 8 fills its box as much, but still encloses background;
    a bold 3 is notched."""
    height, width = mask.shape
    if max(height, width) > DOT_ASPECT * min(height, width) or mask.mean() < DOT_FILL:
        return False
    holes = ndimage.binary_fill_holes(mask).mean() - mask.mean()
    return holes < DOT_MAX_HOLES and solidity(mask) >= DOT_MIN_SOLIDITY


def _ink_box(ink: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    """(rows, cols) [start, stop) of the digit; a blank or a tiny mark -> InputError."""
    mask = ink * (ink >= MASK_LEVEL)
    faint = ink * (ink >= FAINT_LEVEL)
    rows = _ink_span(mask.sum(axis=1), faint.sum(axis=1))
    cols = _ink_span(mask.sum(axis=0), faint.sum(axis=0))
    extent = 0 if rows is None or cols is None else max(rows[1] - rows[0], cols[1] - cols[0])
    if extent < max(3, MIN_DIGIT_FRACTION * min(ink.shape)):
        raise InputError(
            "No digit found: there is only a tiny mark. Please draw or upload a bigger digit."
        )
    return rows, cols


def _fit(crop: np.ndarray) -> np.ndarray:
    """Resize so the longer side is BOX, keeping the aspect ratio (Lanczos, antialiased)."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32))
    resized = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


__all__ = [
    "InputError",
    "NoDigitFound",
    "PreparedDigit",
    "prepare",
    "load_image",
    "read_upload_bytes",
]
