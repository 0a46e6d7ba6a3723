"""Limits on untrusted pictures, and the formats allowed (mimo.serve.decode's constants)."""

from __future__ import annotations

MNIST_SIDE = 28  # an input this size is taken to be in MNIST's format already
MIN_SIDE = 8  # smaller images cannot hold a recognisable digit
MAX_ASPECT = 20  # longer/shorter side; beyond that it is a strip, not a digit picture
WORK_MAX_SIDE = 1024  # bigger images are scaled down to this before the ink search
# Decoding a picture this big (after any JPEG draft reduction) takes tens to hundreds of MB for a
# moment; at most config.MAX_BIG_DECODES of them are decoded at once, see slots.decode_slot().
BIG_DECODE_PIXELS = 4_000_000
DECODE_WAIT_S = 30  # how long a picture waits for a decoding slot or a worker before giving up
DECODE_TIMEOUT_S = 10.0  # wall clock for one decode in a worker (CPU time is limited too)
WORKER_START_S = 60.0  # a worker must be ready this soon (a busy machine imports slowly)

# Decoded in the calling process: PNGs this small whose header says at most this many pixels a
# side (a canvas drawing is a few kB at 280 x 280).
IN_PROCESS_PNG_BYTES = 256 * 1024
IN_PROCESS_PNG_SIDE = 1024
IN_PROCESS_PNG_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"sRGB", b"gAMA", b"pHYs"}
MAX_JPEG_SCANS = 100  # ordinary progressive JPEGs have about 10; each scan costs a full pass
MAX_ICON_SIDE = 1024  # icons are at most 256 x 256; Pillow would decode any PNG inside one

ALLOWED_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "ICO", "AVIF")
# The first bytes of the allowed formats (WebP: "RIFF", then "WEBP" at offset 8).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_SIGNATURES = (
    PNG_SIGNATURE,
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
)
EXIF_ORIENTATION = 0x0112
FORMATS_HINT = "PNG, JPEG, GIF, BMP, TIFF or WebP"
