"""Segmentation masks as PNG: a keyframe's shape, rasterised by :func:`lbmock.labelmap.rasterise`.

One rasteriser serves every view: the mask endpoints (v2 and legacy URLs),
the tests that decode them, and anyone comparing formats. ``lbmock.png``
reads them back (and Labelbox's).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from lbmock.labelmap import rasterise
from lbmock.png import PNG_SIGNATURE
from lbmock.world import MaskShape, Plane


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _encode_png8(pixels: np.ndarray, colour_type: int, channels: int, level: int = 6) -> bytes:
    """An 8-bit PNG of ``height x width x channels`` uint8 samples (deterministic bytes); ``level``: zlib's."""
    height, width = pixels.shape[:2]
    scanlines = np.zeros((height, width * channels + 1), dtype=np.uint8)  # filter byte 0 per row
    scanlines[:, 1:] = pixels.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)) + _chunk(b"IEND", b""))


def encode_png_gray8(pixels: np.ndarray, level: int = 6) -> bytes:
    """Encode a 2-D uint8 array as an 8-bit grayscale PNG (deterministic bytes)."""
    return _encode_png8(pixels, 0, 1, level)


def encode_png_rgba8(pixels: np.ndarray) -> bytes:
    """Encode a ``height x width x 4`` uint8 array as an 8-bit RGBA PNG (deterministic bytes)."""
    return _encode_png8(pixels, 6, 4)


def render_mask_png(shape: MaskShape, plane: Plane) -> bytes:
    """The PNG Labelbox serves for one mask keyframe: 8-bit, plane-sized."""
    return encode_png_gray8(rasterise(shape, plane))
