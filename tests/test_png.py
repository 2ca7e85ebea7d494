"""lbmock.png reads what a real encoder writes: Pillow-encoded PNGs of every mode a mask could use.

The contract suite decodes masks from live Labelbox with lbmock.png, so it is checked
here against Pillow (writer and reader), not against our own encoder.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lbmock.png import decode_png
from lbmock.render.masks import render_mask_png
from lbmock.world import MaskShape, Plane

CHANNELS = {"1": 1, "L": 1, "P": 1, "LA": 2, "RGB": 3, "RGBA": 4}


def _bands(height: int = 64, width: int = 48) -> np.ndarray:
    """Content on which an adaptive encoder picks every filter type somewhere."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width]
    img = np.zeros((height, width), dtype=np.int64)
    img[:12] = x[:12] * 5  # horizontal ramp: Sub
    img[12:24] = y[12:24] * 7  # vertical ramp: Up
    img[24:36] = (x[24:36] - y[24:36]) * 3  # diagonal: Paeth
    img[36:48] = rng.integers(0, 256, (12, width))  # noise: None or anything
    for r in range(48, height):  # each pixel about the mean of left and up: Average (optimize=True)
        img[r, 0] = rng.integers(0, 256)
        for c in range(1, width):
            img[r, c] = (img[r, c - 1] + img[r - 1, c]) // 2 + rng.integers(0, 2)
    return (img % 256).astype(np.uint8)


def _image(mode: str, gray: np.ndarray) -> Image.Image:
    if mode in ("L", "1", "P"):
        return Image.fromarray(gray).convert(mode)
    planes = [gray, gray[::-1], np.flip(gray, 1), 255 - gray][:CHANNELS[mode]]
    return Image.fromarray(np.dstack(planes), mode)


def _png(image: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **options)
    return buf.getvalue()


def _filters(data: bytes) -> set[int]:
    """The filter type byte of every scanline, read straight from the file."""
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    stride = (width * {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color] * depth + 7) // 8
    raw = zlib.decompress(idat)
    return {raw[row * (stride + 1)] for row in range(height)}


def _assert_reads_like_pillow(data: bytes) -> None:
    ours, pillow = decode_png(data), Image.open(io.BytesIO(data))
    pillow.load()
    assert ours.mode == pillow.mode and ours.size == pillow.size
    expected = np.asarray(pillow.convert("L") if pillow.mode == "1" else pillow)  # "1" reads as bools
    assert ours.pixels.shape == expected.shape and (ours.pixels == expected).all()
    if pillow.mode == "P":
        palette = np.asarray(pillow.getpalette("RGB"), dtype=np.uint8).reshape(-1, 3)
        assert (ours.palette[: len(palette)] == palette).all()
    assert (ours.gray() == np.asarray(pillow.convert("L"))).all()  # the luminance the contract compares


def test_every_filter_type_of_a_real_encoder_decodes():
    gray = _bands()
    seen: set[int] = set()
    for mode in ("1", "L", "LA", "RGB", "RGBA"):
        for optimize in (False, True):
            data = _png(_image(mode, gray), optimize=optimize)
            _assert_reads_like_pillow(data)
            seen |= _filters(data)
    assert seen == {0, 1, 2, 3, 4}  # None, Sub, Up, Average, Paeth all exercised


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_palette_images_of_every_depth(bits):
    gray = _bands() // (256 >> bits) * (256 >> bits)  # at most 2**bits distinct values
    data = _png(Image.fromarray(gray).convert("P", palette=Image.Palette.ADAPTIVE, colors=1 << bits), bits=bits)
    assert decode_png(data).bit_depth == bits
    _assert_reads_like_pillow(data)


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CHANNELS)), st.integers(1, 33), st.integers(1, 17), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_random_images_read_as_pillow_reads_them(mode, width, height, optimize, seed):
    rng = np.random.default_rng(seed)
    blocky = rng.integers(0, 256, (height, width), dtype=np.uint8) // 64 * 64  # few values: runs and ramps
    gray = blocky if seed % 2 else rng.integers(0, 256, (height, width), dtype=np.uint8)
    _assert_reads_like_pillow(_png(_image(mode, gray), optimize=optimize))


def test_our_masks_read_the_same_by_pillow_and_lbmock_png():
    data = render_mask_png(MaskShape("ellipse", 20.5, 11.5, 9.0, 5.0), Plane("Axial", 40, 24, 1))
    _assert_reads_like_pillow(data)
    assert decode_png(data).mode == "L" and set(np.unique(decode_png(data).pixels)) == {0, 255}


def test_bad_files_are_refused_with_the_reason():
    good = _png(_image("L", _bands()))
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(b"GIF89a" + good[6:])
    with pytest.raises(ValueError, match=r"truncated|corrupt"):
        decode_png(good[: len(good) // 2])
    flipped = bytearray(good)
    flipped[60] ^= 0xFF  # inside the image data: the chunk's CRC no longer matches
    with pytest.raises(ValueError, match="corrupt PNG: bad 'IDAT' chunk"):
        decode_png(bytes(flipped))
    sixteen = _png(Image.fromarray(_bands().astype(np.uint16) * 257))  # 16-bit gray
    with pytest.raises(ValueError, match="unsupported PNG: colour type 0 at 16 bits"):
        decode_png(sixteen)
