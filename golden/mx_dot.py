"""OCP MX fused dot product with FP32 accumulate (docs/numerics.md §4).

``out = RNE_fp32(c + X_A * X_B * sum_i P_i(A) * P_i(B))``: every product and the sum are exact
(Python integers), the block sum and ``c`` are added exactly, and the result is rounded to FP32
once (round to nearest even, overflow to ±Inf, gradual underflow). NaN if a scale is NaN (0xFF),
an element or ``c`` is NaN, an Inf meets a zero in a product, or +Inf and -Inf meet (products
or ``c``); otherwise an Inf operand gives Inf of its sign. An exactly zero result is +0 (also
for ``c = -0`` plus a zero block: the spec's rule, not IEEE 754's -0 + -0 = -0). NaN output is
the canonical FP32 NaN 0x7FC00000.
"""
from __future__ import annotations

import numpy as np

from .accumulate import FP32_NAN, fp32_accumulate
from .formats import (E8M0, MX_ELEMENTS, decode, encode,
                      fields, get_format)

__all__ = ["dot", "dot_blocks", "dot_block", "dot_stimulus", "dot_space",
           "block_sum", "elem_exp_range", "random_accumulators", "FP32_NAN", "DEFAULT_K"]

DEFAULT_K = 32
_FP32_MAX = 0x7F7FFFFF


def _fmt(elem):
    return get_format(elem, MX_ELEMENTS)


def elem_exp_range(elem):
    """(smallest, largest) exponent of :func:`golden.formats.fields` over the finite nonzero
    codes of an element format (value = sig * 2**exp)."""
    fmt = _fmt(elem)
    f = fields(np.arange(1 << fmt.width), fmt)
    live = f["sig"] != 0
    return int(f["exp"][live].min()), int(f["exp"][live].max())


# ---------------------------------------------------------------------------------------------
# the dot product


def block_sum(codes_a, codes_b, elem_a, elem_b):
    """Exact block sums: ``S`` (object array of Python ints, shape (n,)) with
    ``sum_i P_i(A) P_i(B) = S * 2**e0`` and ``e0`` the smallest product exponent of the two
    formats; also the special flags ``nan``, ``pinf``, ``ninf`` (products only, bool (n,)).

    Exact: int64 significand products (<= 16 bits) shifted as Python integers.
    """
    fa, fb = _fmt(elem_a), _fmt(elem_b)
    A, B = fields(codes_a, fa), fields(codes_b, fb)
    e0 = elem_exp_range(fa)[0] + elem_exp_range(fb)[0]
    zero_a = (A["sig"] == 0) & (A["inf"] == 0) & (A["nan"] == 0)
    zero_b = (B["sig"] == 0) & (B["inf"] == 0) & (B["nan"] == 0)
    p = A["sig"] * B["sig"]
    sh = np.where(p != 0, A["exp"] + B["exp"] - e0, 0)
    term = p.astype(object) << sh.astype(object)
    neg = (A["sign"] ^ B["sign"]) != 0
    term = np.where(neg, -term, term)
    S = term.sum(axis=-1) if term.shape[-1] else np.zeros(term.shape[:-1], dtype=object)
    nan = ((A["nan"] | B["nan"]) != 0) | ((A["inf"] != 0) & zero_b) | (zero_a & (B["inf"] != 0))
    inf = (A["inf"] | B["inf"]) != 0
    return (np.asarray(S, dtype=object), e0, nan.any(axis=-1), (inf & ~neg).any(axis=-1),
            (inf & neg).any(axis=-1))


def dot(scale_a, codes_a, scale_b, codes_b, acc, elem_a="e4m3", elem_b="e4m3"):
    """MX block dot product with FP32 accumulate, rounded once (docs/numerics.md §4).

    Parameters
    ----------
    scale_a, scale_b : array_like of int, shape (n,)
        E8M0 scale codes (0xFF is NaN).
    codes_a, codes_b : array_like of int, shape (n, k)
        Element codes of ``elem_a`` / ``elem_b``.
    acc : array_like of int, shape (n,)
        FP32 bit patterns of the accumulator ``c``.
    elem_a, elem_b : str
        Element formats (``golden.formats.MX_ELEMENTS``); they may differ.

    Returns
    -------
    ndarray of uint32, shape (n,): FP32 bit patterns.

    Exactness: the block sum is an exact integer ``S`` at exponent ``e_S = X_A + X_B + e0``;
    :func:`golden.accumulate.fp32_accumulate` adds ``c`` exactly and rounds once.
    """
    scale_a = np.asarray(scale_a, dtype=np.int64)
    scale_b = np.asarray(scale_b, dtype=np.int64)
    S, e0, nan, pinf, ninf = block_sum(codes_a, codes_b, elem_a, elem_b)
    nan = nan | (scale_a == E8M0.nan_code) | (scale_b == E8M0.nan_code)
    eS = scale_a + scale_b - 2 * E8M0.bias + e0
    return fp32_accumulate(S, eS, acc, nan, pinf, ninf)


def dot_blocks(a_scales, a_codes, b_scales, b_codes, elem_a="e4m3", elem_b="e4m3", acc0=0):
    """Dot product of long vectors split into k-element blocks, FP32 accumulator between blocks.

    ``acc = dot(block j, acc)`` for j = 0, 1, ... (one RNE per block), starting from ``acc0``
    (FP32 bits, scalar or (n,)).

    Parameters
    ----------
    a_scales, b_scales : array_like, shape (..., nb)
    a_codes, b_codes : array_like, shape (..., nb * k)

    Returns
    -------
    ndarray of uint32, shape (...)
    """
    a_scales, b_scales = np.asarray(a_scales), np.asarray(b_scales)
    a_codes, b_codes = np.asarray(a_codes), np.asarray(b_codes)
    nb = a_scales.shape[-1]
    if nb == 0 or a_codes.shape[-1] % nb or a_codes.shape != b_codes.shape \
            or a_scales.shape != b_scales.shape:
        raise ValueError("dot_blocks needs matching shapes and a code length that is a "
                         "multiple of the number of scales")
    k = a_codes.shape[-1] // nb
    lead = a_scales.shape[:-1]
    acc = np.broadcast_to(np.asarray(acc0, dtype=np.int64), lead).reshape(-1)
    sa, sb = a_scales.reshape(-1, nb), b_scales.reshape(-1, nb)
    ca, cb = a_codes.reshape(-1, nb, k), b_codes.reshape(-1, nb, k)
    for j in range(nb):
        acc = dot(sa[:, j], ca[:, j], sb[:, j], cb[:, j], acc, elem_a, elem_b).astype(np.int64)
    return acc.astype(np.uint32).reshape(lead)


# ---------------------------------------------------------------------------------------------
# catalogue interface


def dot_block(inputs, elem_a="e4m3", elem_b="e4m3", k=DEFAULT_K, stages=None):
    """Golden ``mx_dot``: ``{"result": (n,)}`` FP32 bits. ``stages`` changes latency only."""
    return {"result": dot(inputs["scale_a"], inputs["codes_a"], inputs["scale_b"],
                          inputs["codes_b"], inputs["acc"], elem_a, elem_b).astype(np.int64)}


def dot_space(elem_a="e4m3", elem_b="e4m3", k=DEFAULT_K, stages=None):
    """Input space size: always far above 2**20 (random + corners)."""
    return None


def _f32(x):
    return np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.int64)


class _Codes:
    """Handy codes of one element format for building corner blocks."""

    def __init__(self, elem):
        f = self.fmt = _fmt(elem)
        allc = np.arange(1 << f.width, dtype=np.int64)
        fl = fields(allc, f)
        self.all = allc
        self.finite = allc[(fl["nan"] == 0) & (fl["inf"] == 0)]
        if f.kind == "int":
            self.finite = self.finite[self.finite != 1 << (f.bits - 1)] \
                if f.symmetric else self.finite
        val = decode(self.finite, f)
        pos = self.finite[val > 0]
        pv = val[val > 0]
        self.pos_sorted = pos[np.argsort(pv, kind="stable")]
        self.one = int(encode(1.0, f))
        self.max = int(self.pos_sorted[-1])
        self.min = int(self.pos_sorted[0])
        self.zero = 0
        self.nzero = (1 << (f.width - 1)) if f.kind != "int" else 0
        self.nan = f.nan_code
        self.inf = f.inf_code

    def neg(self, code):
        f = self.fmt
        if f.kind == "int":
            return (-code) & ((1 << f.bits) - 1)
        return code ^ (1 << (f.width - 1))

    def value(self, codes):
        return decode(codes, self.fmt)


def _random_part(rng, n, A, B, k):
    out = {}
    for side, C in (("a", A), ("b", B)):
        kind = rng.random(n)
        codes = C.finite[rng.integers(0, len(C.finite), (n, k))]
        # sparse blocks
        sparse = (kind >= 0.55) & (kind < 0.75)
        zmask = rng.random((n, k)) < rng.uniform(0.5, 0.97, (n, 1))
        codes = np.where(sparse[:, None] & zmask, C.zero, codes)
        # narrow-range blocks: magnitudes up to a random threshold
        narrow = (kind >= 0.75) & (kind < 0.9)
        lim = rng.integers(1, len(C.pos_sorted) + 1, (n, 1))
        pick = C.pos_sorted[(rng.random((n, k)) * lim).astype(np.int64)]
        pick = np.where(rng.random((n, k)) < 0.5, pick, np.vectorize(C.neg)(pick))
        codes = np.where(narrow[:, None], pick, codes)
        # any code, specials included
        anyc = kind >= 0.97
        codes = np.where(anyc[:, None], C.all[rng.integers(0, len(C.all), (n, k))], codes)
        out["codes_" + side] = codes
        skind = rng.random(n)
        scale = np.clip(np.round(rng.normal(127, 12, n)), 0, 254).astype(np.int64)
        scale = np.where(skind < 0.12, rng.integers(0, 255, n), scale)
        scale = np.where(skind > 0.995, E8M0.nan_code, scale)
        out["scale_" + side] = scale
    with np.errstate(all="ignore"):
        va = A.value(out["codes_a"]) * np.exp2(out["scale_a"] - 127.0)[:, None]
        vb = B.value(out["codes_b"]) * np.exp2(out["scale_b"] - 127.0)[:, None]
        approx = np.nansum(va * vb, axis=1)
    out["acc"] = random_accumulators(rng, approx)
    return out


def random_accumulators(rng, approx):
    """Random FP32 accumulators (int64 bit patterns) for dot products whose exact sums are
    about ``approx`` (float64, shape (n,); NaN/Inf/0 where unknown or special).

    Mostly comparable to the sum, so that the sum and the accumulator cancel: ``±approx`` times
    1, 1 + 2**-20, 1 - 2**-24 or 1 + 2**-30 (exact and near-exact cancellation) or times
    2**U(-30, 30) (every alignment); random bits where ``approx`` is 0 or not finite. Then every
    range: 30 % any finite value, 5 % +0, 3 % -0, 4 % subnormals, 2 % within 3 ulps of
    ±FLT_MAX, 1 % any pattern from 0x7F800000 up (+Inf, the NaNs and negative values).
    """
    n = len(approx)
    with np.errstate(all="ignore"):
        factor = np.where(rng.random(n) < 0.5, -1.0, 1.0) * np.where(
            rng.random(n) < 0.4, 1.0 + rng.choice([0.0, 2.0**-20, -2.0**-24, 2.0**-30], n),
            np.exp2(rng.uniform(-30, 30, n)))
        comparable = _f32((approx * factor).astype(np.float32))
    ak = rng.random(n)
    acc = comparable
    acc = np.where(~np.isfinite(approx) | (approx == 0), rng.integers(0, 1 << 32, n), acc)
    acc = np.where(ak < 0.30, rng.integers(0, 0x7F800000, n) | (rng.integers(0, 2, n) << 31),
                   acc)  # any finite
    acc = np.where((ak >= 0.30) & (ak < 0.35), 0, acc)
    acc = np.where((ak >= 0.35) & (ak < 0.38), 1 << 31, acc)
    acc = np.where((ak >= 0.38) & (ak < 0.42),
                   rng.integers(1, 1 << 23, n) | (rng.integers(0, 2, n) << 31), acc)
    acc = np.where((ak >= 0.42) & (ak < 0.44),
                   (_FP32_MAX - rng.integers(0, 4, n)) | (rng.integers(0, 2, n) << 31), acc)
    acc = np.where((ak >= 0.44) & (ak < 0.45), rng.integers(0x7F800000, 1 << 32, n), acc)
    return acc.astype(np.int64)


def dot_corners(rng, elem_a="e4m3", elem_b="e4m3", k=DEFAULT_K):
    """Corner blocks (see :func:`dot_stimulus`), as input fields."""
    A, B = _Codes(elem_a), _Codes(elem_b)
    rows = []

    def add(ca, cb, sa=127, sb=127, acc=0):
        ca = np.broadcast_to(np.asarray(ca, dtype=np.int64), (k,)).copy()
        cb = np.broadcast_to(np.asarray(cb, dtype=np.int64), (k,)).copy()
        rows.append((int(sa), ca, int(sb), cb, int(acc) & 0xFFFFFFFF))

    def onehot(C, code, pos, fill=None):
        v = np.full(k, C.zero if fill is None else fill, dtype=np.int64)
        v[pos] = code
        return v

    def sum_bits(ca, cb, sa, sb):
        """FP32 RNE of the scaled block sum (the dot with acc = +0)."""
        return int(dot(np.array([sa]), ca[None], np.array([sb]), cb[None], np.array([0]),
                       elem_a, elem_b)[0])

    one_f, m1_f = 0x3F800000, 0xBF800000
    min_sub, fmax = 1, _FP32_MAX
    specials_acc = (0, 1 << 31, one_f, m1_f, min_sub, min_sub | 1 << 31, 0x00800000,
                    fmax, fmax | 1 << 31, 0x7F800000, 0xFF800000, FP32_NAN, 0xFFFFFFFF,
                    0x7F800001)
    # all-zero blocks (+0 result even with acc = -0), with zero of either sign
    for za, zb in ((A.zero, B.zero), (A.nzero, B.zero), (A.nzero, B.nzero)):
        for acc in specials_acc:
            add(za, zb, 127, 127, acc)
        add(za, zb, 0, 0, 1 << 31)
        add(za, zb, 254, 254, 1 << 31)
    # one-hot and all-max blocks at several scales, both signs
    for pos in sorted({0, k - 1, k // 2}):
        for sa, sb in ((127, 127), (0, 0), (254, 254), (200, 180), (10, 20)):
            add(onehot(A, A.max, pos), onehot(B, B.max, pos), sa, sb)
            add(onehot(A, A.min, pos), onehot(B, B.neg(B.min), pos), sa, sb, m1_f)
        if k > 1:  # one-hot at different positions: sum 0
            add(onehot(A, A.max, pos), onehot(B, B.max, (pos + 1) % k), 127, 127, 1 << 31)
    for sa, sb in ((127, 127), (254, 254), (254, 127), (0, 0), (60, 60), (200, 190)):
        for acc in (0, 1 << 31, fmax, fmax | 1 << 31, one_f):
            add(A.max, B.max, sa, sb, acc)
            add(A.max, B.neg(B.max), sa, sb, acc)
            add(A.neg(A.max), B.neg(B.max), sa, sb, acc)
            add(A.min, B.min, sa, sb, acc)
    # massive cancellation: +x*y and -x*y pairs sum to exactly 0, or to a tiny residue
    if k >= 2:
        half = k // 2
        for trial in range(12):
            xa = A.finite[rng.integers(0, len(A.finite), half)]
            xb = B.finite[rng.integers(0, len(B.finite), half)]
            if trial < 4:
                xa[:] = A.max
                xb[:] = B.max
            ca = np.concatenate([xa, xa, np.full(k - 2 * half, A.zero)])
            cb = np.concatenate([xb, [B.neg(c) for c in xb], np.full(k - 2 * half, B.zero)])
            sa, sb = int(rng.integers(100, 160)), int(rng.integers(100, 160))
            for acc in (0, 1 << 31, min_sub, one_f):
                add(ca, cb, sa, sb, acc)
            if k > 2 * half or half > 1:
                # tiny residue: replace one cancelling partner by zero and a tiny product
                ca2, cb2 = ca.copy(), cb.copy()
                ca2[half], cb2[half] = A.min, B.neg(B.min) if trial % 2 else B.min
                ca2[0], cb2[0] = A.max, B.max
                ca2[half + (1 if half > 1 else 0)] = A.max
                cb2[half + (1 if half > 1 else 0)] = B.neg(B.max)
                add(ca2, cb2, sa, sb, 0)
                add(ca2, cb2, sa, sb, 1 << 31)
    # acc cancelling the block sum exactly and almost exactly
    for trial in range(24):
        ca = A.finite[rng.integers(0, len(A.finite), k)]
        cb = B.finite[rng.integers(0, len(B.finite), k)]
        if trial % 3 == 0:
            ca = np.where(rng.random(k) < 0.8, A.zero, ca)
        sa, sb = int(rng.integers(80, 175)), int(rng.integers(80, 175))
        r = sum_bits(ca, cb, sa, sb)
        if (r & 0x7F800000) == 0x7F800000:
            continue
        for d in (0, 1, -1, 2):
            add(ca, cb, sa, sb, (r ^ (1 << 31)) + d if (r & 0x7FFFFFFF) + d >= 0 else r)
        add(ca, cb, sa, sb, r)
    # FP32 subnormal results: tiny scales with small elements
    for sa, sb in ((0, 0), (0, 10), (3, 5), (10, 10), (20, 0), (40, 40), (60, 30)):
        for trial in range(3):
            lim = max(1, len(A.pos_sorted) // 3)
            ca = A.pos_sorted[rng.integers(0, lim, k)]
            cb = B.pos_sorted[rng.integers(0, max(1, len(B.pos_sorted) // 3), k)]
            cb = np.where(rng.random(k) < 0.5, [B.neg(c) for c in cb], cb)
            for acc in (0, 1 << 31, min_sub, min_sub | 1 << 31, 0x007FFFFF, 0x00800000,
                        0x80800000):
                add(ca, cb, sa, sb, acc)
    # rounding ties and sticky: 1.0 * 1.0 placed at the half-ulp of acc, plus a tiny product
    for accv, e in ((one_f, -24), (0x3F800001, -24), (0x3FFFFFFF, -23), (fmax, 103),
                    (0x00800000, -150), (0x00000001, -150), (0x4B000000, -1), (0x4B000001, -1)):
        for tinysign in (None, 0, 1):
            for flip in (0, 1):
                sa = 127 + e
                if not 0 <= sa <= 254:
                    sa, sb = 127 + e // 2, 127 + e - e // 2
                else:
                    sb = 127
                ca = onehot(A, A.one, 0)
                cb = onehot(B, B.one if not flip else B.neg(B.one), 0)
                if tinysign is not None and k > 1:
                    ca[1] = A.min
                    cb[1] = B.min if tinysign == 0 else B.neg(B.min)
                add(ca, cb, sa, sb, accv | (flip << 31))
                add(ca, cb, sa, sb, accv)
    # the acc pushed entirely below the window, and the block sum pushed below the acc
    for accv in (one_f, 0x3F800001, 0x4B7FFFFF, 0x00000003, fmax):
        for sa, sb in ((0, 0), (254, 254), (127, 127), (60, 70)):
            for ca, cb in ((A.max, B.max), (A.min, B.neg(B.min)), (onehot(A, A.one, 0),
                                                                     onehot(B, B.neg(B.one), 0))):
                add(ca, cb, sa, sb, accv)
                add(ca, cb, sa, sb, accv | 1 << 31)
    # overflow to ±Inf: acc near FLT_MAX plus a same-sign block, and scales near 254
    for sa, sb in ((254, 254), (254, 200), (230, 127), (231, 127), (250, 250)):
        for acc in (fmax, fmax | 1 << 31, 0x7F000000, 0, one_f):
            add(onehot(A, A.one, 0), onehot(B, B.one, 0), sa, sb, acc)
            add(onehot(A, A.one, 0), onehot(B, B.neg(B.one), 0), sa, sb, acc)
    # NaN in one lane: element NaN codes, NaN scales on either side, NaN acc
    base_a = A.finite[rng.integers(0, len(A.finite), k)]
    base_b = B.finite[rng.integers(0, len(B.finite), k)]
    for pos in sorted({0, k - 1, k // 2}):
        if A.nan is not None:
            for nanc in (A.nan, A.neg(A.nan)):
                ca = base_a.copy()
                ca[pos] = nanc
                add(ca, base_b, 127, 127, one_f)
        if B.nan is not None:
            cb = base_b.copy()
            cb[pos] = B.nan
            add(base_a, cb, 127, 127, 0)
    for acc in (0, one_f, 0x7F800000, FP32_NAN):
        add(base_a, base_b, 255, 127, acc)
        add(base_a, base_b, 127, 255, acc)
        add(base_a, base_b, 255, 255, acc)
        add(A.zero, B.zero, 255, 127, acc)
    for acc in (FP32_NAN, 0xFFC00000, 0x7F800001, 0xFFFFFFFF, 0x7FBFFFFF):
        add(base_a, base_b, 127, 127, acc)
        add(A.zero, B.zero, 127, 127, acc)
    # Inf operands (e5m2): Inf * 0 -> NaN, Inf * x -> Inf, +Inf meets -Inf -> NaN
    for C, D, side in ((A, B, "a"), (B, A, "b")):
        if C.inf is None:
            continue
        for pos in sorted({0, k - 1}):
            for other in (D.zero, D.nzero, D.one, D.neg(D.one), D.min, D.max):
                for infc in (C.inf, C.neg(C.inf)):
                    ci = onehot(C, infc, pos)
                    co = onehot(D, other, pos, fill=D.one)
                    ca, cb = (ci, co) if side == "a" else (co, ci)
                    for acc in (0, one_f, 0x7F800000, 0xFF800000):
                        add(ca, cb, 127, 127, acc)
            if k > 1:
                ci = onehot(C, C.inf, pos)
                ci[(pos + 1) % k] = C.neg(C.inf)
                co = np.full(k, D.one, dtype=np.int64)
                ca, cb = (ci, co) if side == "a" else (co, ci)
                add(ca, cb, 127, 127, 0)
                ci[(pos + 1) % k] = C.inf
                ca, cb = (ci, co) if side == "a" else (co, ci)
                add(ca, cb, 127, 127, 0)
                add(ca, cb, 0, 0, 0xFF800000)
    if A.inf is not None and B.inf is not None:
        add(onehot(A, A.inf, 0), onehot(B, B.inf, 0), 127, 127, 0)
        add(onehot(A, A.inf, 0), onehot(B, B.neg(B.inf), 0), 127, 127, 0x7F800000)
    # Inf accumulator with finite blocks
    for acc in (0x7F800000, 0xFF800000):
        add(A.max, B.max, 254, 254, acc)
        add(A.max, B.neg(B.max), 254, 254, acc)
        add(A.zero, B.zero, 127, 127, acc)
    sa, ca, sb, cb, acc = zip(*rows)
    return {"scale_a": np.array(sa, dtype=np.int64), "codes_a": np.array(ca, dtype=np.int64),
            "scale_b": np.array(sb, dtype=np.int64), "codes_b": np.array(cb, dtype=np.int64),
            "acc": np.array(acc, dtype=np.int64)}


def dot_stimulus(rng, n, exhaustive=False, elem_a="e4m3", elem_b="e4m3", k=DEFAULT_K,
                 stages=None):
    """Inputs of ``mx_dot``: ``n`` seeded random blocks followed by the corner blocks.

    Random blocks: element codes uniform over the finite codes, sparse, or narrow-range (3 % any
    code, specials included); scales mostly 127 ± N(0, 12), sometimes uniform, rarely NaN;
    accumulators mostly near the block sum (cancellation) and otherwise from every range
    (0, -0, subnormal, any finite, near FLT_MAX, Inf/NaN).

    Corners: all-zero blocks with every special acc (result +0 for acc = ±0), one-hot and
    all-max blocks, massive cancellation (exact 0 and tiny residues), acc cancelling the block
    sum exactly and to a few ulps, FP32 subnormal results, RNE ties with and without a sticky
    tiny product, either operand entirely below the other, overflow to ±Inf, NaN in one lane
    (element, either scale, acc), Inf elements meeting zeros, nonzeros and Infs of the other
    sign, Inf accumulators.
    """
    if exhaustive:
        raise ValueError("mx_dot has no exhaustive mode (its input space is far above 2**20)")
    rand = _random_part(rng, n, _Codes(elem_a), _Codes(elem_b), k)
    corners = dot_corners(rng, elem_a, elem_b, k)
    return {f: np.concatenate([rand[f], corners[f]]) for f in corners}
