"""Measures of the regions in a picture, shared by the ink finding (mimo.serve.preprocess) and
the sheet finding (mimo.serve.paper): Otsu's threshold between two kinds of pixel, how convex
a region is, and how close to a quadrilateral."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import ConvexHull

OTSU_BINS = 256  # grey levels for Otsu's threshold
QUAD_ANGLE_STEP = 15  # degrees between the directions quadrilateral_match tries


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold (maximum between-class variance) over OTSU_BINS levels of [0, max].

    Written with np.bincount: scikit-image's threshold_otsu gives the same answer, but is
    several times slower on a canvas.
    """
    top = float(values.max())
    if top <= 0:
        return 0.0
    levels = np.minimum((values * ((OTSU_BINS - 1) / top)).astype(np.intp), OTSU_BINS - 1)
    counts = np.bincount(levels.ravel(), minlength=OTSU_BINS).astype(np.float64)
    centres = np.arange(OTSU_BINS, dtype=np.float64)
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return (int(np.argmax(between)) + 0.5) * top / (OTSU_BINS - 1)


def _outline_corners(mask: np.ndarray) -> np.ndarray:
    """(N, 2) the corners of the pixels on the mask's outline: the other pixels' corners are
    never corners of its convex hull."""
    rows, cols = np.nonzero(mask & ~ndimage.binary_erosion(mask))
    return np.concatenate(
        [np.stack([rows + dy, cols + dx], axis=1) for dy in (0, 1) for dx in (0, 1)]
    ).astype(np.float64)


def solidity(mask: np.ndarray) -> float:
    """The mask's area over the area of its convex hull (the hull of its pixels' corners)."""
    return float(mask.sum()) / ConvexHull(_outline_corners(mask)).volume  # 2-D: its area


def quadrilateral_match(mask: np.ndarray, cut_by_frame: bool = False) -> float:
    """How well a quadrilateral through four of the mask's extreme points matches the mask
    (intersection over union): about 1 for a sheet of paper seen at an angle (a rectangle in
    perspective), 2/pi for an ellipse, less for any notched shape.

    The corners are the extreme points along two diagonal directions, tried every
    QUAD_ANGLE_STEP degrees (a sheet's corners are the extremes along its diagonals); the best
    match counts. cut_by_frame: the mask may be a quadrilateral cut by the picture's frame (a
    sheet whose corners lie outside the photo), so where it touches the frame, the frame is
    part of the outline: the polygon is the convex hull of the four corners and the mask's
    pixels on the frame.
    """
    corners = _outline_corners(mask)
    on_frame = _frame_corners(mask) if cut_by_frame else np.empty((0, 2))
    best = 0.0
    for angle in np.radians(np.arange(0, 90, QUAD_ANGLE_STEP)):
        cos, sin = np.cos(angle), np.sin(angle)
        along = corners[:, 1] * cos + corners[:, 0] * sin  # x and y, turned by the angle
        across = corners[:, 0] * cos - corners[:, 1] * sin
        diagonal, anti = along + across, along - across
        picks = [np.argmin(diagonal), np.argmax(anti), np.argmax(diagonal), np.argmin(anti)]
        outline = corners[picks]
        if len(on_frame):
            points = np.concatenate([outline, on_frame])
            outline = points[ConvexHull(points).vertices]  # in order around the hull
        drawn = Image.new("1", (mask.shape[1], mask.shape[0]), 0)
        ImageDraw.Draw(drawn).polygon([(c, r) for r, c in outline], fill=1)
        quad = np.asarray(drawn, bool)
        best = max(best, float((quad & mask).sum()) / float((quad | mask).sum()))
    return best


def _frame_corners(mask: np.ndarray) -> np.ndarray:
    """(N, 2) the outer corners of the mask's pixels on the picture's frame (its first and last
    rows and columns)."""
    height, width = mask.shape
    top, bottom = np.flatnonzero(mask[0]), np.flatnonzero(mask[-1])
    left, right = np.flatnonzero(mask[:, 0]), np.flatnonzero(mask[:, -1])
    points = [
        *[(0, c) for c in top] + [(0, c + 1) for c in top],
        *[(height, c) for c in bottom] + [(height, c + 1) for c in bottom],
        *[(r, 0) for r in left] + [(r + 1, 0) for r in left],
        *[(r, width) for r in right] + [(r + 1, width) for r in right],
    ]
    return np.array(points, np.float64).reshape(-1, 2)


__all__ = ["otsu_threshold", "solidity", "quadrilateral_match", "OTSU_BINS"]
