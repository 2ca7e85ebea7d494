"""Segmentation masks: rasterise a keyframe's shape and encode it as PNG.

One rasteriser serves every view: the mask endpoints (v2 and legacy URLs),
the tests that decode them, and anyone comparing formats.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from lbmock.world import MaskShape, Plane

FOREGROUND = 255


def rasterise(shape: MaskShape, plane: Plane) -> np.ndarray:
    """A ``height x width`` uint8 array, 255 inside ``shape``, 0 outside.

    Pixel ``(x, y)`` is inside when its centre ``(x + .5, y + .5)`` is; the
    shape's centre sits on a pixel centre inside the plane, so the mask is
    never empty.
    """
    ys = np.arange(plane.height, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(plane.width, dtype=np.float64)[None, :] + 0.5
    dx = (xs - shape.cx) / shape.rx
    dy = (ys - shape.cy) / shape.ry
    if shape.shape == "ellipse":
        inside = dx * dx + dy * dy <= 1.0
    else:
        inside = (np.abs(dx) <= 1.0) & (np.abs(dy) <= 1.0)
    return inside.astype(np.uint8) * FOREGROUND


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode_png_gray8(pixels: np.ndarray) -> bytes:
    """Encode a 2-D uint8 array as an 8-bit grayscale PNG (deterministic bytes)."""
    height, width = pixels.shape
    scanlines = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 per row
    scanlines[:, 1:] = pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)) + _chunk(b"IEND", b""))


def render_mask_png(shape: MaskShape, plane: Plane) -> bytes:
    """The PNG Labelbox serves for one mask keyframe: 8-bit, plane-sized."""
    return encode_png_gray8(rasterise(shape, plane))


def decode_png_gray8(data: bytes) -> np.ndarray:
    """Decode an 8-bit grayscale, non-interlaced PNG with filter 0 (what we emit).

    For tests and tools; real downloads should be decoded with Pillow.
    """
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", 0
    height = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if (depth, color, interlace) != (8, 0, 0):
                raise ValueError("only 8-bit grayscale non-interlaced PNGs are supported")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, width + 1)
    if raw[:, 0].any():
        raise ValueError("only filter type 0 is supported")
    return raw[:, 1:].copy()
