"""Pictures made the ways people give them to the app: canvas drawings and photos of paper.

This is the one place that knows what such a picture looks like. Shapes are first drawn as a
stroke mask (float 0-1 on the 280x280 canvas grid), then rendered:

- `on_canvas`: the mask in a picker colour on the Predict page's black canvas (an RGB array) or
  on a transparent one (RGBA, the strokes in alpha);
- `lit_paper`, `ink_on_paper`, `jpeg`: ink on off-white, unevenly lit paper, JPEG-compressed;
- `digit_mask`: a 28x28 MNIST digit enlarged onto the canvas, soft or as a solid stroke.

The one-digit detector's training data (mimo.train.detector_data) is rendered with these. So are
the sets below, for the robustness bench and the tests: each takes a 28x28 uint8 digit (white
on black, as in MNIST), an ink colour name and a numpy Generator, and returns a picture as the
app or the CLI receives it (a PIL image or a uint8 array). Drawn from MNIST test digits, they
are never trained on; the canvas kinds drawn from training digits are (mimo.train.canvas_renders).

Canvas drawings (280x280, as the Predict page sends them), redrawn with the page's brush:
- `canvas`: any size and position, thin to bold brushes;
- `canvas_edges`: a digit that fills the canvas, its strokes touching or running past the edges;
- `canvas_tiny`: a 40-70 px digit in a corner;
- `canvas_strokes`: a digit drawn in several strokes, with gaps between them;
- `canvas_own_stroke`: any size and position, in the writer's own stroke width instead of the
  page's brush.

Photos (640x480 JPEG): `photo` on plain, unevenly lit paper; `photo_lined` on ruled or squared
paper; `photo_in_shadow`: plain paper with a soft shadow reaching in from one edge;
`photo_on_desk`: a sheet, slightly tilted and seen at an angle, on a desk that shows along one
to four of the photo's edges. All put the digit off-centre.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from mimo.serve.preprocess import stroke_width

CANVAS_SIDE = 280
DIGIT_FRACTION = 20 / 28  # the part of an MNIST image its digit fills
# Colour-picker shades people draw with.
PICKER_INKS = {
    "red": [(255, 75, 75), (255, 0, 0), (230, 40, 60), (255, 99, 71)],
    "green": [(33, 195, 84), (0, 200, 0), (60, 220, 110), (50, 205, 50)],
}
# Pens on paper.
PEN_INKS = {
    "red": [(190, 30, 40), (210, 40, 40), (160, 20, 35)],
    "green": [(20, 130, 60), (30, 150, 50), (15, 110, 70)],
    "blue": [(30, 50, 170), (20, 40, 120)],
    "black": [(30, 30, 35), (50, 45, 40)],
}
PHOTO_SIZE = (640, 480)
PAPER_BRIGHTNESS = (200, 240)  # the paper's base grey level, before lighting and tint
PAPER_NOISE = 3.0  # sensor noise, grey levels (standard deviation)
PHOTO_SLOPE = 35  # how far the light changes across a photo of a digit, grey levels
# Desks under a sheet of paper: dark and mid wood, dark grey, slate.
DESK_COLORS = [(70, 45, 30), (120, 85, 55), (45, 45, 50), (85, 90, 95)]
DESK_MARGIN = (15, 100)  # how much desk shows along an edge that shows it, pixels
SHEET_TILT = 4.0  # degrees, at most
SHADOW_DEPTH = (0.15, 0.45)  # how much darker a shadow across the paper makes it
SHEET_PERSPECTIVE = 30  # pixels each corner of the sheet moves at most (a phone held at an angle)
TURNED_SHEET_TILT = 45.0  # degrees, at most, for a sheet with the desk on every side
TURNED_SHEET_PERSPECTIVE = 60  # pixels, at most, for its corners


# ---------------------------------------------------------------------------------------------
# The canvas and the paper: placing and rendering a stroke mask


def on_canvas(mask: np.ndarray, ink, transparent: bool):
    """A stroke mask painted in `ink` (RGB) as the canvas sends it: on a transparent canvas,
    the colour everywhere and the strokes in alpha (an RGBA image); on the black canvas, the
    colour times the mask (an RGB uint8 array)."""
    color = np.asarray(ink, np.float32)
    if transparent:
        rgba = np.zeros((*mask.shape, 4), np.uint8)
        rgba[..., :3] = color.astype(np.uint8)
        rgba[..., 3] = np.clip(mask * 255 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(rgba, "RGBA")
    return np.clip(mask[..., None] * color + 0.5, 0, 255).astype(np.uint8)


def place(out: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """out = max(out, patch placed at (x, y)), clipped to out: (x, y) may be off the canvas."""
    h, w = patch.shape
    ys, xs = max(0, y), max(0, x)
    ye, xe = min(out.shape[0], y + h), min(out.shape[1], x + w)
    if ye <= ys or xe <= xs:
        return
    np.maximum(out[ys:ye, xs:xe], patch[ys - y : ye - y, xs - x : xe - x], out=out[ys:ye, xs:xe])


def start_on_canvas(rng, length: float, overhang: float) -> float:
    """Where a span of `length` pixels starts on the canvas: anywhere, with at most `overhang`
    of it past an edge; centred when it is longer than the canvas."""
    if length >= CANVAS_SIDE:
        return (CANVAS_SIDE - length) / 2
    return float(rng.uniform(-overhang * length, CANVAS_SIDE - (1 - overhang) * length))


def lit_paper(rng, width: int, height: int, slope: float, centre: float = 0.0) -> np.ndarray:
    """Off-white paper, (height, width, 3) float 0-255: a base brightness that changes by up to
    `slope` grey levels across the sheet in each direction (a lamp on one side), measured from
    `centre` (0: the top-left corner, 0.5: the middle), sensor noise and a warm tint."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = rng.uniform(*PAPER_BRIGHTNESS)
    light = (
        base
        + rng.uniform(-slope, slope) * (xx / width - centre)
        + rng.uniform(-slope, slope) * (yy / height - centre)
        + rng.normal(0, PAPER_NOISE, (height, width))
    )
    tint = np.array([1.0, rng.uniform(0.96, 1.0), rng.uniform(0.88, 0.99)])
    return np.clip(light[..., None] * tint, 0, 255)


def ink_on_paper(paper: np.ndarray, strength: np.ndarray, ink, x: int, y: int) -> None:
    """Blend `ink` (RGB) into the paper at (x, y), in place, as much as `strength` (float 0-1,
    2-D) says."""
    h, w = strength.shape
    strength = strength[..., None]
    region = paper[y : y + h, x : x + w]
    paper[y : y + h, x : x + w] = region * (1 - strength) + np.asarray(ink, np.float32) * strength


def jpeg(pixels: np.ndarray, quality: int) -> Image.Image:
    """The pixels (float or uint8, 0-255) as a JPEG of that quality, decoded again."""
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


# ---------------------------------------------------------------------------------------------
# A digit as a stroke mask


def _enlarged(digit: np.ndarray, width: int, height: int) -> np.ndarray:
    """The 28x28 digit resized (bilinear) to width x height, float 0-255."""
    big = Image.fromarray(np.asarray(digit, np.uint8)).resize((width, height), Image.BILINEAR)
    return np.asarray(big, np.float32)


def digit_mask(digit: np.ndarray, rng, box=None) -> np.ndarray:
    """A 28x28 MNIST digit enlarged onto the canvas: soft, or as a solid stroke of some width.

    The stroke keeps roughly the writer's own width (thinned or thickened a little): the
    detector's training data is drawn so. `_brush_mask` redraws a digit with the Predict page's
    brush widths instead, for the sets below. `box` is (x0, y0, side, side) on the canvas
    (default: any size and position)."""
    if box is None:
        side = float(rng.uniform(40, 300)) if rng.random() < 0.9 else float(rng.uniform(260, 330))
        x0 = start_on_canvas(rng, side, overhang=0.05)
        box = (x0, start_on_canvas(rng, side, overhang=0.05), side, side)
    x0, y0, w, h = box
    size = (max(2, int(round(w))), max(2, int(round(h))))
    big = _enlarged(digit, *size)
    if rng.random() < 0.6:  # a solid stroke, thinned or thickened, anti-aliased
        solid = big > rng.uniform(40, 200)
        grow = int(rng.integers(-1, 3)) * max(1, size[0] // 40)
        if grow > 0:
            solid = ndimage.maximum_filter(solid, size=2 * grow + 1)
        elif grow < 0:
            solid = ndimage.minimum_filter(solid, size=3)
        big = ndimage.gaussian_filter(solid.astype(np.float32) * 255, 1.0)
    out = np.zeros((CANVAS_SIDE, CANVAS_SIDE), np.float32)
    place(out, big / 255.0, int(round(x0)), int(round(y0)))
    return out


def _brush_mask(digit: np.ndarray, side: int, rng, brush: int | None = None) -> Image.Image:
    """The digit enlarged to `side` pixels and redrawn with a round brush `brush` px wide
    (default: the Predict page's slider range, 8-40 px, at most a quarter of the digit's
    side), anti-aliased at its edges as a canvas draws it."""
    mask = _enlarged(digit, side, side) > 100
    if brush is None:
        brush = int(rng.integers(8, 41))
    brush = max(2, min(brush, round(side * DIGIT_FRACTION / 4)))
    change = round((brush - stroke_width(mask)) / 2)
    if change > 0:
        mask = ndimage.binary_dilation(mask, _disk(change))
    elif change < 0:
        thinner = ndimage.binary_erosion(mask, _disk(-change))
        mask = thinner if thinner.sum() > 0.2 * mask.sum() else mask
    stroke = Image.fromarray(mask.astype(np.uint8) * 255)
    return stroke.filter(ImageFilter.GaussianBlur(1))


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return xx**2 + yy**2 <= radius**2


# ---------------------------------------------------------------------------------------------
# Canvas drawings of real digits


def _drawn(mask: Image.Image, x: int, y: int, color: str, rng):
    """The mask at (x, y) in a picker ink of `color`, on a transparent or black canvas."""
    strokes = np.zeros((CANVAS_SIDE, CANVAS_SIDE), np.float32)
    place(strokes, np.asarray(mask, np.float32) / 255, x, y)
    return _in_picker_ink(strokes, color, rng)


def _in_picker_ink(strokes: np.ndarray, color: str, rng):
    """A canvas-sized stroke mask in a picker ink of `color`, on a transparent or black canvas."""
    ink = PICKER_INKS[color][int(rng.integers(len(PICKER_INKS[color])))]
    return on_canvas(strokes, ink, transparent=bool(rng.integers(2)))


def canvas(digit: np.ndarray, color: str, rng):
    """Any size (70-260 px) and position, any brush."""
    side = int(rng.integers(70, 261))
    x, y = (int(v) for v in rng.integers(0, CANVAS_SIDE - side + 1, 2))
    return _drawn(_brush_mask(digit, side, rng), x, y, color, rng)


def canvas_edges(digit: np.ndarray, color: str, rng):
    """The digit itself spans 90-115% of the canvas: its strokes touch or cross the edges."""
    side = int(CANVAS_SIDE * rng.uniform(0.90, 1.15) / DIGIT_FRACTION)
    centre = (CANVAS_SIDE - side) // 2
    x, y = (centre + int(v) for v in rng.integers(-25, 26, 2))
    return _drawn(_brush_mask(digit, side, rng), x, y, color, rng)


def canvas_tiny(digit: np.ndarray, color: str, rng):
    """A 40-70 px digit in one of the four corners."""
    side = int(rng.integers(40, 71) / DIGIT_FRACTION)
    margin = int(side * (1 - DIGIT_FRACTION) / 2)  # around the digit inside its image
    inset_x, inset_y = (int(v) for v in rng.integers(0, 16, 2))  # digit to canvas edge
    far = CANVAS_SIDE - side + margin
    x = inset_x - margin if rng.integers(2) else far - inset_x
    y = inset_y - margin if rng.integers(2) else far - inset_y
    return _drawn(_brush_mask(digit, side, rng, brush=int(rng.integers(4, 12))), x, y, color, rng)


def canvas_own_stroke(digit: np.ndarray, color: str, rng):
    """Any size (40-330 px) and position, in the writer's own stroke (thinned or thickened a
    little, soft or solid: `digit_mask`), not redrawn with the page's brush as the sets above
    and the training renders (mimo.train.canvas_renders) are."""
    return _in_picker_ink(digit_mask(digit, rng), color, rng)


def canvas_strokes(digit: np.ndarray, color: str, rng):
    """Drawn in several strokes: one or two thin gaps cut across the digit."""
    side = int(rng.integers(120, 261))
    mask = _brush_mask(digit, side, rng)
    draw = ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(1, 3))):
        a, b = rng.uniform(0, side, 2), rng.uniform(0, side, 2)
        draw.line([tuple(a), tuple(b)], fill=0, width=int(rng.integers(2, max(3, side // 30))))
    x, y = (int(v) for v in rng.integers(0, CANVAS_SIDE - side + 1, 2))
    return _drawn(mask, x, y, color, rng)


# ---------------------------------------------------------------------------------------------
# Photos of real digits in ink on paper


def _rule_lines(paper: np.ndarray, rng, squared: bool) -> np.ndarray:
    """Faint blue or grey ruling, slightly tilted as in a hand-held photo."""
    height, width = paper.shape[:2]
    lines = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(lines)
    gap = int(rng.integers(24, 45))
    tilt = rng.uniform(-0.03, 0.03)
    for y in range(int(rng.integers(0, gap)), height, gap):
        draw.line([(0, y), (width, y + tilt * width)], fill=255, width=int(rng.integers(1, 3)))
    if squared:
        for x in range(int(rng.integers(0, gap)), width, gap):
            draw.line([(x, 0), (x - tilt * height, height)], fill=255, width=1)
    strength = np.asarray(lines, np.float32)[..., None] / 255 * rng.uniform(0.2, 0.45)
    color = np.array([120, 160, 230] if rng.integers(2) else [140, 140, 140], np.float32)
    return paper * (1 - strength) + color * strength


def _photo(digit: np.ndarray, paper: np.ndarray, ink, rng) -> Image.Image:
    """The digit (110-300 px) in ink somewhere on the paper, JPEG."""
    height, width = paper.shape[:2]
    side = int(rng.integers(110, 300))
    big = Image.fromarray(np.asarray(digit, np.uint8)).resize((side, side), Image.BICUBIC)
    strength = np.clip(np.asarray(big, np.float32) / 255 * rng.uniform(0.85, 1.0), 0, 1)
    x, y = int(rng.integers(10, width - side - 10)), int(rng.integers(10, height - side - 10))
    ink_on_paper(paper, strength, ink, x, y)
    return jpeg(paper, int(rng.integers(55, 92)))


def photo(digit: np.ndarray, color: str, rng) -> Image.Image:
    """Ink on plain, unevenly lit paper, off-centre, JPEG."""
    ink = PEN_INKS[color][int(rng.integers(len(PEN_INKS[color])))]
    paper = lit_paper(rng, *PHOTO_SIZE, slope=PHOTO_SLOPE, centre=0.5)
    return _photo(digit, paper, ink, rng)


def photo_lined(digit: np.ndarray, color: str, rng) -> Image.Image:
    """Ink on ruled or squared paper, unevenly lit, off-centre, JPEG."""
    ink = PEN_INKS[color][int(rng.integers(len(PEN_INKS[color])))]
    paper = lit_paper(rng, *PHOTO_SIZE, slope=PHOTO_SLOPE, centre=0.5)
    paper = _rule_lines(paper, rng, squared=bool(rng.integers(2)))
    return _photo(digit, paper, ink, rng)


def photo_close_up(digit: np.ndarray, color: str, rng) -> Image.Image:
    """A phone held close: the digit's box fills 85-100% of the photo's height, so its strokes
    are several times wider than on the other photos; plain, unevenly lit paper, JPEG."""
    width, height = PHOTO_SIZE
    ink = PEN_INKS[color][int(rng.integers(len(PEN_INKS[color])))]
    paper = lit_paper(rng, width, height, slope=PHOTO_SLOPE, centre=0.5)
    side = int(rng.integers(round(0.85 * height), height + 1))
    big = Image.fromarray(np.asarray(digit, np.uint8)).resize((side, side), Image.BICUBIC)
    strength = np.clip(np.asarray(big, np.float32) / 255 * rng.uniform(0.85, 1.0), 0, 1)
    x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
    ink_on_paper(paper, strength, ink, x, y)
    return jpeg(paper, int(rng.integers(55, 92)))


def photo_in_shadow(digit: np.ndarray, color: str, rng) -> Image.Image:
    """Ink on plain paper with a soft shadow (a phone's, a hand's) reaching in from one edge,
    15-45% darker, which may cover part of the digit; JPEG."""
    width, height = PHOTO_SIZE
    paper = lit_paper(rng, width, height, slope=PHOTO_SLOPE, centre=0.5)
    side = int(rng.integers(110, 261))
    x, y = int(rng.integers(10, width - side - 10)), int(rng.integers(10, height - side - 10))
    big = Image.fromarray(np.asarray(digit, np.uint8)).resize((side, side), Image.BICUBIC)
    strength = np.clip(np.asarray(big, np.float32) / 255 * rng.uniform(0.85, 1.0), 0, 1)
    ink = PEN_INKS[color][int(rng.integers(len(PEN_INKS[color])))]
    ink_on_paper(paper, strength, ink, x, y)
    # A disk centred on one of the edges, blurred 5-25 px at its rim.
    centres = [(0, rng.uniform(0, height)), (width, rng.uniform(0, height))]
    centres += [(rng.uniform(0, width), 0), (rng.uniform(0, width), height)]
    cx, cy = centres[int(rng.integers(4))]
    radius = rng.uniform(150, 300)
    outline = Image.new("L", (width, height), 0)
    ImageDraw.Draw(outline).ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    shade = outline.filter(ImageFilter.GaussianBlur(rng.uniform(5, 25)))
    shadow = np.asarray(shade, np.float32)[..., None] / 255 * rng.uniform(*SHADOW_DEPTH)
    return jpeg(paper * (1 - shadow), int(rng.integers(60, 92)))


def photo_on_desk(digit: np.ndarray, color: str, rng) -> Image.Image:
    """A sheet (plain or ruled), slightly tilted and seen at an angle, on a desk that shows along
    one to four of the photo's edges; the digit somewhere on the sheet; JPEG."""
    width, height = PHOTO_SIZE
    paper = lit_paper(rng, width, height, slope=PHOTO_SLOPE, centre=0.5)
    if rng.random() < 1 / 3:
        paper = _rule_lines(paper, rng, squared=bool(rng.integers(2)))
    # The desk shows along each edge with a chance of 0.6, along one at least.
    shows = rng.random(4) < 0.6
    shows[int(rng.integers(4))] = True
    left, top, right, bottom = (int(rng.integers(*DESK_MARGIN)) if show else -60 for show in shows)
    # The digit, well inside the sheet (tilt and perspective move its corners up to 60 px).
    side = int(rng.integers(110, 221))
    x_min, x_max = max(left, 0) + 60, width - max(right, 0) - 60 - side
    y_min, y_max = max(top, 0) + 60, height - max(bottom, 0) - 60 - side
    side -= max(0, x_min - x_max, y_min - y_max)
    x = int(rng.integers(x_min, max(x_min, x_max) + 1))
    y = int(rng.integers(y_min, max(y_min, y_max) + 1))
    big = Image.fromarray(np.asarray(digit, np.uint8)).resize((side, side), Image.BICUBIC)
    strength = np.clip(np.asarray(big, np.float32) / 255 * rng.uniform(0.85, 1.0), 0, 1)
    ink = PEN_INKS[color][int(rng.integers(len(PEN_INKS[color])))]
    ink_on_paper(paper, strength, ink, x, y)
    # The sheet's outline, tilted about the photo's centre, softened by a pixel or two.
    corners = np.array(
        [
            (left, top),
            (width - right, top),
            (width - right, height - bottom),
            (left, height - bottom),
        ],
        np.float64,
    )
    centre = np.array([width / 2, height / 2])
    corners = _turned(corners - centre, rng.uniform(-SHEET_TILT, SHEET_TILT)) + centre
    corners += rng.uniform(-SHEET_PERSPECTIVE, SHEET_PERSPECTIVE, corners.shape)
    return sheet_on_desk(paper, corners, rng)


def photo_turned_sheet(digit: np.ndarray, color: str, rng) -> Image.Image:
    """A sheet (plain, ruled or squared) turned up to 45 degrees and seen in strong perspective,
    with the desk on every side of the photo; its corners may leave the photo; the digit near
    the middle; JPEG."""
    width, height = PHOTO_SIZE
    paper = lit_paper(rng, width, height, slope=PHOTO_SLOPE, centre=0.5)
    if rng.random() < 1 / 3:
        paper = _rule_lines(paper, rng, squared=bool(rng.integers(2)))
    side = int(rng.integers(110, 171))
    x = (width - side) // 2 + int(rng.integers(-30, 31))
    y = (height - side) // 2 + int(rng.integers(-20, 21))
    big = Image.fromarray(np.asarray(digit, np.uint8)).resize((side, side), Image.BICUBIC)
    strength = np.clip(np.asarray(big, np.float32) / 255 * rng.uniform(0.85, 1.0), 0, 1)
    ink = PEN_INKS[color][int(rng.integers(len(PEN_INKS[color])))]
    ink_on_paper(paper, strength, ink, x, y)
    # The sheet: 340-460 x 300-380 px about the photo's centre, turned, then in perspective.
    half_width, half_height = rng.uniform(170, 230), rng.uniform(150, 190)
    corners = np.array(
        [
            (-half_width, -half_height),
            (half_width, -half_height),
            (half_width, half_height),
            (-half_width, half_height),
        ]
    )
    corners = _turned(corners, rng.uniform(-TURNED_SHEET_TILT, TURNED_SHEET_TILT))
    corners += (width / 2, height / 2)
    corners += rng.uniform(-TURNED_SHEET_PERSPECTIVE, TURNED_SHEET_PERSPECTIVE, corners.shape)
    return sheet_on_desk(paper, corners, rng)


def _turned(points: np.ndarray, degrees: float) -> np.ndarray:
    """(N, 2) points turned by that angle about the origin."""
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T


def sheet_on_desk(paper: np.ndarray, corners: np.ndarray, rng) -> Image.Image:
    """The paper inside the (4, 2) corners (x, y), softened by a pixel or two, on a desk; JPEG."""
    height, width = paper.shape[:2]
    outline = Image.new("L", (width, height), 0)
    ImageDraw.Draw(outline).polygon([tuple(c) for c in corners], fill=255)
    sheet = np.asarray(outline.filter(ImageFilter.GaussianBlur(1.5)), np.float32)[..., None] / 255
    # The desk: its colour, a wood-like grain across it, sensor noise.
    grain = 8 * np.sin(np.arange(width) / rng.uniform(6, 20) + rng.uniform(0, 6))[None, :, None]
    desk = (
        np.asarray(DESK_COLORS[int(rng.integers(len(DESK_COLORS)))], np.float32)
        + grain
        + rng.normal(0, PAPER_NOISE + 1, (height, width, 1))
    )
    return jpeg(paper * sheet + desk * (1 - sheet), int(rng.integers(60, 92)))


def mnist_colored(digit: np.ndarray, color: str, rng) -> Image.Image:
    """The 28x28 digit itself in the red or green channel (the colour model's own format)."""
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[..., 0 if color == "red" else 1] = digit
    return Image.fromarray(rgb)
