"""Measures of the regions in a picture, shared by the ink finding (mimo.serve.preprocess) and
the sheet finding (mimo.serve.paper): Otsu's threshold between two kinds of pixel, how convex
a region is, and how close to a rectangle."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull

OTSU_BINS = 256  # grey levels for Otsu's threshold


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


def rectangularity(mask: np.ndarray) -> float:
    """The mask's area over the area of the smallest rectangle, at any angle, around it: 1 for a
    rectangle (a sheet of paper), pi/4 for an ellipse.

    The smallest rectangle has a side along one of the convex hull's edges, so each edge's
    direction is tried.
    """
    corners = _outline_corners(mask)
    hull = corners[ConvexHull(corners).vertices]
    edges = np.roll(hull, -1, axis=0) - hull
    smallest = np.inf
    for angle in np.arctan2(edges[:, 1], edges[:, 0]):
        cos, sin = np.cos(angle), np.sin(angle)
        turned = hull @ np.array([[cos, -sin], [sin, cos]])
        smallest = min(smallest, float(np.ptp(turned[:, 0]) * np.ptp(turned[:, 1])))
    return float(mask.sum()) / smallest


__all__ = ["otsu_threshold", "solidity", "rectangularity", "OTSU_BINS"]
