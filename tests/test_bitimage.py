"""Bit images of quantized weights (mxforge/bitimage.py, docs/numerics.md §8): the image decodes
to the quantizer's values bit for bit, its size and layout are the documented ones, and single
flips decode as an independent reference says (ml_dtypes float8 codes, two's complement
integers, E8M0 scales as powers of two, BFP fields by hand) — exhaustively over every bit of
small tensors."""
import ml_dtypes
import numpy as np
import pytest

from mxforge import bitimage as bi
from mxforge import tensors

RNG = np.random.default_rng(20)
W = (RNG.standard_normal((3, 2, 3, 3)) * 0.1).astype(np.float32)       # K = 18: padded rows


@pytest.mark.parametrize("fmt", bi.FORMATS)
def test_decode_is_the_quantizer_bit_for_bit(fmt):
    img = bi.encode(W, fmt)
    got = img.decode()
    assert got.shape == W.shape and got.dtype == np.float64
    rows = W.reshape(3, -1)
    if fmt == "int8":
        step = float(np.abs(rows).max()) / 127
        want = np.rint(np.clip(rows.astype(np.float64) / step, -127, 127)) * step
    else:
        size = tensors.default_block(fmt)
        kp = -(-rows.shape[1] // size) * size
        pad = np.zeros((3, kp), np.float32)
        pad[:, :rows.shape[1]] = rows
        want = tensors.quantize(pad, fmt).values[:, :rows.shape[1]]
    assert np.array_equal(got.reshape(3, -1), want)


@pytest.mark.parametrize("fmt, per_block, per_elem", [
    ("int8", 0, 8), ("e4m3", 8, 8), ("e2m1", 8, 4), ("e3m2", 8, 6), ("mxint8", 8, 8),
    ("bfp", 8, 17)])
def test_image_size(fmt, per_block, per_elem):
    """Rows of 18 elements: one block each (MX k = 32, BFP G = 54), the padding not stored."""
    assert len(bi.encode(W, fmt)) == 3 * (per_block + 18 * per_elem)


def test_opal_layout_and_index_flips():
    """OPAL rows of 18 in one 128-block: scale, 18 - 4 stored 3-bit inliers, then 4 x (BF16,
    7-bit index). Flipping an index moves its outlier to another slot and re-places the stored
    inliers in the slots left free, in order."""
    img = bi.encode(W, "opal")
    assert len(img) == 3 * (8 + 14 * 3 + 4 * (16 + 7))
    v = img.field_values()
    clean = img.decode().reshape(3, -1)
    idx0 = int(v["idx"][0, 0, 0])
    new = idx0 ^ 1
    first_out = 8 + 14 * 3
    flipped = img.flip(first_out + 16).decode().reshape(3, -1)    # bit 0 of rank 0's index
    bf16 = float((np.array([v["outliers"][0, 0, 0]], np.uint32) << 16).view(np.float32)[0])
    if new < 18:
        assert flipped[0, new] == bf16
    assert np.array_equal(flipped[1:], clean[1:])


def test_int8_flips_are_twos_complement():
    """Every bit of every code: the flipped code is q ^ (1 << i) read as 8-bit two's
    complement (the MSB is worth -128), times the step; nothing else changes."""
    w = np.array([[0.5, -0.25, 1.0, -1.0]], np.float32)
    img = bi.encode(w, "int8")
    step = 1.0 / 127
    q = np.rint(w[0] / step).astype(int)
    for e in range(4):
        for i in range(8):
            got = img.flip(e * 8 + i).decode()[0]
            u = (q[e] & 0xFF) ^ (1 << i)
            want = (u - 256 if u & 0x80 else u) * step
            assert got[e] == pytest.approx(want, abs=0) and \
                np.array_equal(np.delete(got, e), np.delete(img.decode()[0], e))
    # 0.5 is code 64 (63.5 rounds half to even); its MSB flipped: 0b11000000 = -64
    assert img.flip(7).decode()[0, 0] == -64 * step


def test_e4m3_every_single_flip():
    """All bits of one E4M3 block: an element bit flips that element to the ml_dtypes value
    of its code ^ (1 << i) times the block's scale; a scale bit multiplies the whole block by
    2**(±2**i), or makes it NaN (0xFF)."""
    w = (RNG.standard_normal((1, 32)) * 3).astype(np.float32)
    img = bi.encode(w, "e4m3")
    clean = img.decode()[0]
    v = img.field_values()
    scale, codes = int(v["scale"][0, 0]), v["codes"][0]
    sv = 2.0 ** (scale - 127)
    for i in range(8):                                        # the scale byte: bits 0..7
        got = img.flip(i).decode()[0]
        s2 = scale ^ (1 << i)
        if s2 == 0xFF:
            assert np.isnan(got).all()
        else:
            assert np.array_equal(got, clean * 2.0 ** (s2 - scale))
    for e in range(32):
        for i in range(8):
            got = img.flip(8 + e * 8 + i).decode()[0]
            code = int(codes[e]) ^ (1 << i)
            ref = float(np.array([code], np.uint8).view(ml_dtypes.float8_e4m3fn)[0]) * sv
            if np.isnan(ref):
                assert np.isnan(got[e])
            else:
                assert got[e] == ref
            assert np.array_equal(np.delete(got, e), np.delete(clean, e))


def test_bfp_fields_and_flips():
    """BFP: per group the exponent byte, then sign + magnitude per element. A magnitude bit
    changes the element by ±2**i ulps of the group (ulp 2**(M - 127 - (m - 1))), a sign bit
    negates it, an exponent bit scales the group, exponent 255 makes it NaN."""
    w = (RNG.standard_normal((1, 10)) * 0.5).astype(np.float32)
    img = bi.encode(w, "bfp", m=8)
    assert len(img) == 8 + 10 * 9
    v = img.field_values()
    M = int(v["exp"][0, 0])
    ulp = 2.0 ** (M - 127 - 7)
    clean = img.decode()[0]
    assert np.array_equal(clean, (1 - 2 * v["signs"][0]) * v["mags"][0] * ulp)
    for e in range(10):
        got = img.flip(8 + e * 9).decode()[0]                 # the sign
        assert got[e] == -clean[e] or (clean[e] == 0 and got[e] == 0)
        for i in range(8):
            got = img.flip(8 + e * 9 + 1 + i).decode()[0]
            mag = int(v["mags"][0, e]) ^ (1 << i)
            assert got[e] == (1 - 2 * int(v["signs"][0, e])) * mag * ulp
    for i in range(8):
        got = img.flip(i).decode()[0]
        if M ^ (1 << i) == 255:
            assert np.isnan(got).all()
        else:
            assert np.array_equal(got, clean * 2.0 ** ((M ^ (1 << i)) - M))


def test_flips_distance_and_kinds():
    img = bi.encode(W, "e4m3")
    other = img.flip(3, 100, 3)                              # 3 twice: flipped back
    assert img.distance(other) == 1 and img.distance(img.flip([5, 6, 7])) == 3
    kinds = img.bit_kinds()
    assert (kinds["kind"] == "scale").sum() == 3 * 8
    assert (kinds["kind"] == "element").sum() == 3 * 18 * 8
    assert kinds["field"][8] == "codes" and kinds["bit"][8] == 0 and kinds["entry"][8] == 0
    assert kinds["kind"][8 + 18 * 8] == "scale"              # the second row's block


@pytest.mark.parametrize("call, message", [
    (lambda: bi.encode(W, "int4"), "format must be one of int8, "),
    (lambda: bi.encode(W.reshape(-1), "e4m3"), "w must have at least 2 dimensions"),
    (lambda: bi.encode(W, "int8", block=4), "int8 (per-layer) takes no block or options"),
    (lambda: bi.encode(W, "e4m3").flip(10 ** 6),
     "bit index must be in 0..455 (the image has 456 bits)"),
    (lambda: bi.encode(W, "bfp", m=40), "m must be"),
])
def test_bad_input(call, message):
    with pytest.raises(bi.BitImageError) as e:
        call()
    assert message in str(e.value) and "\n" not in str(e.value)
