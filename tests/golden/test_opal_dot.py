"""golden.opal.dot (the OPAL lane) against an independent exact reference: the codes decoded from
their fields here, I summed in Python integers, every product and every addition formed exactly in
``fractions.Fraction`` and rounded to FP32 by ``tests.reference`` (itself checked against NumPy
in tests/test_reference.py), IEEE signed zeros, Inf and NaN handled per
operation, over the rows of ``golden.opal.dot_stimulus`` (random lanes and the corners)."""
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest

from golden import opal as g
from tests.reference import (FP32_NAN, fp32_add, fp32_value, ieee_value, round_fp32, tree,
                             value_bits)


def _int(code, width):
    """Two's complement value of a ``width``-bit code."""
    return code - (1 << width) if code >> (width - 1) else code


def _round(sign, mag: Fraction, stats=None, what=None) -> int:
    """FP32 bits of (-1)**sign * mag, rounded once (RNE, gradual underflow, overflow to Inf); an
    exact zero keeps ``sign`` (the caller applies IEEE's zero-sign rule). ``stats`` (a Counter)
    gets ``<what>_under`` / ``<what>_over``."""
    counts = Counter()
    bits = value_bits(round_fp32(sign, mag, counts))
    if stats is not None:
        stats[f"{what}_under"] += counts["underflow"]
        stats[f"{what}_over"] += counts["overflow"]
    return bits


def vadd(x, y, stats=None) -> int:
    """IEEE FP32 addition of two FP32 bit patterns, RNE, canonical NaN."""
    counts = Counter()
    r = value_bits(fp32_add(fp32_value(x), fp32_value(y), counts))
    if stats is not None:
        stats["cancel"] += counts["cancel"]
        stats["tie"] += counts["tie"]
    return r


def reference_lane(row, bits, w_bits, stats=None) -> int:
    """FP32 bits of one OPAL lane (golden.opal's module docstring, steps 1-4), exactly."""
    e_a, e_w = row["scale"] - 127, row["w_scale"] - 127
    q = [_int(c, bits) for c in row["codes"]]
    wv = [_int(c, w_bits) for c in row["w"]]
    # 1. exact integer dot product over every slot, one rounding to FP32
    big = sum(a * b for a, b in zip(q, wv))
    i_f = _round(int(big < 0), abs(big) * Fraction(2) ** (e_a - (bits - 2) + e_w - (w_bits - 2)),
                 stats, "i")
    # 2. outlier products, exact, one rounding each; IEEE specials
    prods = []
    for o, j in zip(row["outliers"], row["idx"]):
        kind, s_o, mag = ieee_value(o, 8, 7)
        x = wv[j]
        sign = s_o ^ int(x < 0)
        if kind == "nan" or (kind == "inf" and x == 0):
            if stats is not None and kind == "inf":
                stats["inf_times_zero"] += 1
            prods.append(FP32_NAN)
        elif kind == "inf":
            prods.append(sign << 31 | 0x7F800000)
        else:
            prods.append(_round(sign, mag * abs(x) * Fraction(2) ** (e_w - (w_bits - 2)),
                                stats, "p"))
    # 3. balanced tree, pairs level by level, an odd last term passing through
    t = tree(prods, lambda x, y: vadd(x, y, stats))
    # 4. c + (I_f + t)
    r = vadd(row["acc"], vadd(i_f, t, stats), stats)
    if row["scale"] == 255 or row["w_scale"] == 255:
        if stats is not None:
            stats["nan_scale"] += 1
        return FP32_NAN
    return r


def _rows(v):
    fields = list(v)
    for i in range(len(v["acc"])):
        yield {f: (v[f][i].tolist()) for f in fields}


def reference(v, bits, w_bits, stats=None):
    return np.array([reference_lane(r, bits, w_bits, stats) for r in _rows(v)], dtype=np.int64)


def assert_same(got, want, v):
    bad = np.flatnonzero(np.asarray(got) != want)
    if len(bad):
        i = int(bad[0])
        row = {f: (v[f][i].tolist()) for f in v}
        raise AssertionError(f"{len(bad)} of {len(want)} rows mismatch; first row {i}: {row}: "
                             f"golden {int(got[i]):#010x}, reference {int(want[i]):#010x}")


def test_int_decoding():
    assert [_int(c, 3) for c in range(8)] == [0, 1, 2, 3, -4, -3, -2, -1]


# -- the golden model ----------------------------------------------------------------------------

CONFIGS = [  # the catalogue's three, then parameter edges (n = 2 allows only k = 1: below)
    ({"n": 128, "k": 4, "bits": 3, "w": 8}, 1500),
    ({"n": 128, "k": 4, "bits": 5, "w": 8}, 800),
    ({"n": 16, "k": 3, "bits": 8, "w": 4}, 1500),
    ({"n": 4, "k": 3, "bits": 2, "w": 2}, 1500),
    ({"n": 8, "k": 5, "bits": 8, "w": 8}, 1500),
    ({"n": 1024, "k": 7, "bits": 8, "w": 8}, 100),
]


@pytest.mark.parametrize("params, count", CONFIGS,
                         ids=lambda c: "_".join(f"{k}{v}" for k, v in c.items())
                         if isinstance(c, dict) else str(c))
def test_golden_matches_fraction_reference(params, count):
    v = g.dot_stimulus(np.random.default_rng(count + params["n"]), count, **params)
    stats = Counter()
    want = reference(v, params["bits"], params["w"], stats)
    assert_same(g.dot_block(v, **params)["result"], want, v)
    # the stimulus reaches what it is for: I_f and p_j under- and overflow, Inf * 0, NaN
    # scales, exact cancellation, rounding ties in the FP32 additions
    assert stats["i_under"] and stats["i_over"] and stats["p_under"] and stats["p_over"], stats
    assert stats["inf_times_zero"] and stats["nan_scale"] and stats["cancel"], stats
    assert stats["tie"], stats


def arbitrary_rows(rng, count, n, k, bits, w):
    """Any field values (the lane's formula defines every input), scales mostly near 127."""
    near = rng.integers(110, 145, (2, count))
    scales = np.where(rng.random((2, count)) < 0.2, rng.integers(0, 256, (2, count)), near)
    return {"scale": scales[0], "codes": rng.integers(0, 1 << bits, (count, n)),
            "outliers": rng.integers(0, 1 << 16, (count, k)),
            "idx": rng.integers(0, n, (count, k)), "w_scale": scales[1],
            "w": rng.integers(0, 1 << w, (count, n)),
            "acc": np.where(rng.random(count) < 0.5, 0, rng.integers(0, 1 << 32, count))}


@pytest.mark.parametrize("n, bits, w", [(4, 2, 2), (8, 8, 8), (128, 3, 8)])
def test_single_outlier_matches_fraction_reference(n, bits, w):
    """k = 1: the tree is the product itself."""
    params = {"n": n, "k": 1, "bits": bits, "w": w}
    v = g.dot_stimulus(np.random.default_rng(n), 600, **params)
    assert_same(g.dot_block(v, **params)["result"], reference(v, bits, w), v)


def test_smallest_block_matches_fraction_reference():
    """n = 2, k = 1 with arbitrary fields."""
    v = arbitrary_rows(np.random.default_rng(2), 2000, 2, 1, 2, 2)
    assert_same(g.dot_block(v, n=2, k=1, bits=2, w=2)["result"], reference(v, 2, 2), v)


def test_stimulus_supports_one_outlier():
    inputs = g.dot_stimulus(np.random.default_rng(0), 10, n=8, k=1, bits=3, w=8)
    assert inputs["outliers"].shape[1] == 1 and len(inputs["acc"]) > 10


def test_result_classes():
    """The corner rows give ±0, ±Inf, NaN and normal results; with the random rows, subnormal
    results too (no corner row lands there)."""
    corners = g.dot_stimulus(np.random.default_rng(3), 0)
    r = reference(corners, 3, 8)
    exp = (r >> 23) & 0xFF
    assert np.any(r == 0) and np.any(r == 0x7F800000) and np.any(r == 0xFF800000)
    assert np.any(r == FP32_NAN) and np.any((exp > 0) & (exp < 255))
    r = g.dot_block(g.dot_stimulus(np.random.default_rng(3), 1500))["result"]
    assert np.any(((r >> 23) & 0xFF == 0) & (r & 0x7FFFFF != 0))
