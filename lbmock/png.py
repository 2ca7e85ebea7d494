"""Read PNG files with numpy and zlib: the masks we serve and the masks Labelbox serves.

The contract suite runs against live Labelbox too, so this reads any
non-interlaced PNG a mask could plausibly be: grayscale (1, 2, 4 or 8 bits),
palette (1-8 bits), gray+alpha, RGB and RGBA (8 bits), with all five
scanline filters. It keeps Pillow (22 MB installed, 18 bundled native
libraries) out of the core install; ``tests/test_png.py`` checks it against
what Pillow writes and reads.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6  # IHDR colour types
_SAMPLES = {GRAY: 1, RGB: 3, PALETTE: 1, GRAY_ALPHA: 2, RGBA: 4}
_MODES = {GRAY: "L", RGB: "RGB", PALETTE: "P", GRAY_ALPHA: "LA", RGBA: "RGBA"}  # Pillow's names
_DEPTHS = {GRAY: (1, 2, 4, 8), PALETTE: (1, 2, 4, 8), RGB: (8,), GRAY_ALPHA: (8,), RGBA: (8,)}


@dataclass(frozen=True)
class Png:
    """A decoded PNG: 8-bit samples, ``(height, width)`` or ``(height, width, channels)``."""

    pixels: np.ndarray  # gray scaled to 0-255; palette images hold indices
    color_type: int
    bit_depth: int
    palette: np.ndarray | None = None  # (entries, 3) RGB, palette images only

    @property
    def mode(self) -> str:
        """Pillow's name for the image kind: ``1`` (1-bit gray), ``L``, ``P``, ``LA``, ``RGB`` or ``RGBA``."""
        return "1" if (self.color_type, self.bit_depth) == (GRAY, 1) else _MODES[self.color_type]

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, as Pillow gives it."""
        return self.pixels.shape[1], self.pixels.shape[0]

    def gray(self) -> np.ndarray:
        """Luminance, ``(height, width)`` uint8: what Pillow's ``convert("L")`` gives (ITU-R 601-2)."""
        if self.color_type == GRAY:
            return self.pixels
        if self.color_type == GRAY_ALPHA:
            return self.pixels[..., 0]
        if self.color_type == PALETTE:
            assert self.palette is not None
            rgb = self.palette[self.pixels]
        else:
            rgb = self.pixels[..., :3]
        rgb = rgb.astype(np.uint32)
        return ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def decode_png(data: bytes) -> Png:
    """Decode a PNG; ``ValueError`` saying why for anything else, corrupt or unsupported."""
    if data[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG (bad signature)")
    header, palette, idat, pos = None, None, [], 8
    while True:
        if pos + 12 > len(data):
            raise ValueError("truncated PNG: no IEND chunk")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4 or struct.unpack(">I", crc)[0] != zlib.crc32(kind + body):
            raise ValueError(f"corrupt PNG: bad {kind.decode('latin-1')!r} chunk at byte {pos}")
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError("corrupt PNG: no IHDR chunk")
    width, height, depth, color, _compression, _filter, interlace = header
    if color not in _SAMPLES or depth not in _DEPTHS[color]:
        raise ValueError(f"unsupported PNG: colour type {color} at {depth} bits")
    if interlace:
        raise ValueError("unsupported PNG: interlaced (Adam7)")
    if color == PALETTE and palette is None:
        raise ValueError("corrupt PNG: palette image without PLTE")
    samples = _SAMPLES[color]
    stride = (width * samples * depth + 7) // 8
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise ValueError(f"corrupt PNG: image data does not inflate ({exc})") from None
    rows = _unfilter(raw, height, stride, max(1, samples * depth // 8))
    if depth < 8:
        shifts = np.arange(8 - depth, -1, -depth, dtype=np.uint8)
        rows = ((rows[:, :, None] >> shifts) & ((1 << depth) - 1)).reshape(height, -1)[:, :width]
        if color == GRAY:  # scale to 0-255, as readers present low-depth gray
            rows = rows * np.uint8(255 // ((1 << depth) - 1))
    pixels = rows.reshape(height, width, samples) if samples > 1 else rows.reshape(height, width)
    if color == PALETTE and palette is not None and pixels.size and int(pixels.max()) >= len(palette):
        raise ValueError(f"corrupt PNG: palette index {int(pixels.max())} beyond {len(palette)} entries")
    return Png(np.ascontiguousarray(pixels), color, depth, palette)


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> np.ndarray:
    """Undo the per-scanline filters (None, Sub, Up, Average, Paeth); ``bpp`` is bytes per pixel."""
    if len(raw) < height * (stride + 1):
        raise ValueError(f"corrupt PNG: {len(raw)} bytes of image data, {height * (stride + 1)} expected")
    lines = np.frombuffer(raw, dtype=np.uint8, count=height * (stride + 1)).reshape(height, stride + 1)
    out = np.empty((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = int(lines[y, 0]), lines[y, 1:]
        if kind == 0:
            out[y] = line
        elif kind == 1:  # Sub: a running sum (mod 256) along each byte lane of the pixel
            out[y] = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:  # Up
            out[y] = line + prior
        elif kind in (3, 4):  # Average and Paeth depend on the byte just decoded: one at a time
            out[y] = np.frombuffer(_average(line, prior, bpp) if kind == 3 else _paeth(line, prior, bpp),
                                   dtype=np.uint8)
        else:
            raise ValueError(f"corrupt PNG: unknown filter type {kind} on row {y}")
        prior = out[y]
    return out


def _average(line: np.ndarray, prior: np.ndarray, bpp: int) -> bytearray:
    cur, up = bytearray(line.tobytes()), prior.tobytes()
    for i in range(len(cur)):
        left = cur[i - bpp] if i >= bpp else 0
        cur[i] = (cur[i] + ((left + up[i]) >> 1)) & 0xFF
    return cur


def _paeth(line: np.ndarray, prior: np.ndarray, bpp: int) -> bytearray:
    cur, up = bytearray(line.tobytes()), prior.tobytes()
    for i in range(len(cur)):
        if i >= bpp:
            a, b, c = cur[i - bpp], up[i], up[i - bpp]
        else:
            a, b, c = 0, up[i], 0
        pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
        cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return cur
