"""Find the sheet of paper in a photo: the large, light, smooth region, not "the border".

A phone photo of a digit on paper often shows the desk around the sheet along one or more of
its edges. Taken as part of the background, a dark desk reads as a huge stroke (or, when it
runs all round the photo, the sheet itself reads as ink). `find_sheet` finds the sheet, so the
ink is looked for on the sheet only and the desk is left out.

The sheet is the largest connected region lighter than Otsu's threshold over the whole photo,
with what it encloses (the ink) filled in. It only counts when it is clearly a sheet on a
clearly darker desk: it covers at least SHEET_MIN_AREA of the photo, is paper-light, the desk
is DESK_MIN_CONTRAST darker and runs along at least DESK_MIN_BORDER of the photo's edges (so a
digit that merely touches the photo's edge is never taken for desk), and no ink lies on the
desk (so a shadow across the paper, with part of the digit in it, is not taken for desk). When
no border says "paper" (a desk on every side), a drawing on a dark background must not be taken
for a sheet, so the region must also be a quadrilateral, as a sheet of paper seen at an angle
is (whole, or cut by the photo's frame), and enclose little ink.

Everything is measured on a grid of about SAMPLE_SIDE pixels along the shorter side; the mask
comes back at full size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mimo.serve.region_measures import otsu_threshold, quadrilateral_match

SAMPLE_SIDE = 140  # grid pixels along the shorter side
MIN_PHOTO_SIDE = 64  # smaller pictures (MNIST-style images, icons) have no desk to find
PAPER_MIN_LIGHTNESS = 0.45  # the sheet's median darkest channel: light in every channel
SHEET_MIN_AREA = 0.2  # the sheet covers at least this part of the photo (a sheet photographed
# from further away, the desk all round, covers a quarter of it)
DESK_MIN_BORDER = 0.1  # the desk covers at least this part of the photo's outermost pixels
DESK_MIN_CONTRAST = 0.2  # the desk's median darkest channel is this much below the sheet's
# A desk holds no ink: at most DESK_MAX_INK of it is DESK_INK_CONTRAST darker than its median.
# A shadow across the paper (a phone's, a hand's) is as dark as a desk, but the ink in it is not.
DESK_INK_CONTRAST = 0.15
DESK_MAX_INK = 0.005
EDGE_MARGIN = 0.015  # part of the shorter side trimmed off the sheet (its blurred edge, shadow)
# Without a paper border: the sheet is a quadrilateral (a rectangle in perspective), and the ink
# it encloses is a small part of it. Sheets seen at up to 30 degrees, with corners moved up to a
# sixth of the sheet's side in perspective, match their quadrilateral at 0.876 or more
# (region_measures.quadrilateral_match); light digits so bold that they cover 30% of a dark
# picture, at 0.842 at most.
SHEET_MIN_QUADRILATERAL_MATCH = 0.86
# A sheet turned so far that its corners leave the photo is a quadrilateral cut by the frame:
# such sheets (turned up to 45 degrees, corners moved up to 60 px) match 0.98 or more with the
# frame as part of their outline. Bold white strokes past the edges of a black picture can match
# too: of 2,752 such drawings that cover a fifth of it or more, 68 are taken for a sheet (22 with
# neither this rule nor the smaller SHEET_MIN_AREA), all with strokes widened 24-40 px on 280 px,
# and 2 fewer of those 1,699 are read right.
SHEET_MIN_CUT_QUADRILATERAL_MATCH = 0.95
SHEET_MAX_ENCLOSED = 0.15


def find_sheet(rgb: np.ndarray, paper_border: bool) -> np.ndarray | None:
    """The sheet as a boolean mask of the photo's shape, or None when there is no desk to leave
    out (the whole photo is paper, or no sheet stands out).

    rgb: (H, W, 3) floats 0-1; paper_border: the photo's border already looks like paper.
    """
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_PHOTO_SIDE:
        return None
    step = max(1, min(height, width) // SAMPLE_SIDE)
    sample = rgb[::step, ::step]
    grid = np.minimum(np.minimum(sample[..., 0], sample[..., 1]), sample[..., 2])  # ink, desk: dark
    if float(np.mean(grid > PAPER_MIN_LIGHTNESS)) < SHEET_MIN_AREA:
        return None  # not enough paper-light pixels (a drawing canvas, a dark photo)

    # 1. The largest light region, with the ink it encloses.
    labels, count = ndimage.label(grid > otsu_threshold(grid))
    if count == 0:
        return None
    largest = labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
    sheet = ndimage.binary_fill_holes(largest)
    desk = ~sheet

    # 2. Is it a sheet on a desk?
    border = np.concatenate([desk[0], desk[-1], desk[1:-1, 0], desk[1:-1, -1]])
    if sheet.mean() < SHEET_MIN_AREA or border.mean() < DESK_MIN_BORDER:
        return None
    paper_level = float(np.median(grid[largest]))
    if paper_level < PAPER_MIN_LIGHTNESS:
        return None
    desk_level = float(np.median(grid[desk]))
    if desk_level > paper_level - DESK_MIN_CONTRAST:
        return None
    if float(np.mean(grid[desk] < desk_level - DESK_INK_CONTRAST)) > DESK_MAX_INK:
        return None  # ink off the "sheet": a shadow across the paper, not a desk
    if not paper_border:
        enclosed = (sheet.sum() - largest.sum()) / sheet.sum()
        if enclosed > SHEET_MAX_ENCLOSED or not _is_quadrilateral(sheet):
            return None

    # 3. Trim the sheet's blurred edge and bring the mask back to full size.
    margin = max(1, round(EDGE_MARGIN * min(grid.shape)))
    sheet = ndimage.binary_erosion(sheet, iterations=margin)
    return np.repeat(np.repeat(sheet, step, axis=0), step, axis=1)[:height, :width]


def _is_quadrilateral(sheet: np.ndarray) -> bool:
    """Whether the region is a sheet seen at an angle, whole or cut by the photo's frame."""
    return (
        quadrilateral_match(sheet) >= SHEET_MIN_QUADRILATERAL_MATCH
        or quadrilateral_match(sheet, cut_by_frame=True) >= SHEET_MIN_CUT_QUADRILATERAL_MATCH
    )


__all__ = ["find_sheet"]
