"""BF16 dot product with FP32 accumulation and an FP32 adder tree (the MX-SAFE and OPAL baseline).

Contract (what ``hw.bf16_dot`` computes, bit for bit). Per beat: ``a`` and ``b``, k BF16 codes
each, and ``acc``, FP32 bits; output ``result``, FP32 bits.

1. Products: p_i = RNE_fp32(a_i * b_i). The product of two BF16 significands (8 bits each) has
   at most 16 bits, so it is exact in FP32 unless it leaves FP32's range: below 2**-126 it is
   rounded to a subnormal (or to a signed zero), above max finite it overflows to ±Inf (IEEE).
2. A balanced pairwise tree of FP32 RNE additions in a fixed order, level by level:
   (p0 + p1), (p2 + p3), ...; an odd element at the end of a level passes unchanged to the next
   level. k = 1 has no tree (the sum is p0).
3. result = RNE_fp32(acc + tree_sum).

IEEE 754 semantics in every operation: gradual underflow (no flush), signed zeros (a zero product
has the sign sa ^ sb; x + (-x) = +0, (-0) + (-0) = -0), 0 * Inf = NaN, Inf - Inf = NaN (also when
the Infs come from product overflow), overflow to ±Inf. Every NaN output is the canonical FP32 NaN
0x7FC00000 (NaN payloads are not propagated).

Exactness of this model: BF16 codes shifted left by 16 are the FP32 codes of the same values
(exact); NumPy's float32 multiply and add are single IEEE operations rounding to nearest even
with gradual underflow, so every step above is one NumPy float32 operation in the order the
hardware performs it. ``tests/golden/test_bf16_dot.py`` checks this against an exact
``fractions.Fraction`` reference, one rounded operation at a time.
"""
from __future__ import annotations

import numpy as np

from .accumulate import pairwise
from .checks import check_int
from .formats import FP32, canonical_nan

__all__ = ["dot", "dot_block", "dot_stimulus", "dot_corners", "dot_space", "products",
           "tree_sum", "FP32_NAN", "DEFAULT_K", "K_MAX"]

FP32_NAN = canonical_nan(FP32)  # 0x7FC00000
DEFAULT_K = 32
K_MAX = 128
_FP32_MAX = 0x7F7FFFFF
_BF16_MAX = 0x7F7F
_BF16_INF = 0x7F80
_BF16_NAN = 0x7FC0


def _check_k(k):
    return check_int("k", k, 1, K_MAX)


def _codes(x, bits, name, k=None):
    c = np.asarray(x)
    if c.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array of {bits}-bit codes, "
                         f"not dtype {c.dtype}")
    c = c.astype(np.int64)
    if np.any((c < 0) | (c >> bits != 0)):
        raise ValueError(f"{name} must hold unsigned {bits}-bit codes")
    if k is not None and (c.ndim != 2 or c.shape[1] != k):
        raise ValueError(f"{name} must have shape (n, {k}) for k={k}, not {c.shape}")
    return c


def _bf16_as_f32(codes):
    """FP32 values of BF16 codes (exact: BF16 is FP32's top half)."""
    return (codes << 16).astype(np.uint32).view(np.float32)


def _f32(bits):
    return bits.astype(np.uint32).view(np.float32)


def _bits(x):
    """FP32 bits of float32 values, NaN canonical."""
    return np.where(np.isnan(x), FP32_NAN, x.view(np.uint32).astype(np.int64))


def products(a, b):
    """p_i = RNE_fp32(a_i * b_i) as float32, for BF16 codes ``a``, ``b`` of equal shape."""
    with np.errstate(all="ignore"):
        return _bf16_as_f32(a) * _bf16_as_f32(b)


def tree_sum(p):
    """Balanced pairwise FP32 sum along the last axis in the project's tree order
    (:func:`golden.accumulate.pairwise`); float32 in, float32 out, each addition IEEE RNE."""
    with np.errstate(all="ignore"):
        return pairwise(np.asarray(p, dtype=np.float32), np.add)


def dot(a, b, acc):
    """FP32 bits of RNE(acc + tree_sum(RNE(a_i * b_i))) per row (see the module docstring).

    Parameters
    ----------
    a, b : array_like of int, shape (n, k)
        BF16 codes.
    acc : array_like of int, shape (n,)
        FP32 bits.

    Returns
    -------
    ndarray of int64, shape (n,): FP32 bits, NaN canonical (0x7FC00000).

    Raises
    ------
    ValueError
        Codes out of range, shapes that do not match, or k outside 1..128.
    """
    a = _codes(a, 16, "a")
    if a.ndim != 2:
        raise ValueError(f"a must have shape (n, k), not {a.shape}")
    n, k = a.shape
    _check_k(k)
    b = _codes(b, 16, "b", k)
    c = _codes(acc, 32, "acc")
    if c.shape != (n,) or b.shape[0] != n:
        raise ValueError(f"a, b and acc must hold the same number of vectors: a {a.shape}, "
                         f"b {b.shape}, acc {c.shape}")
    s = tree_sum(products(a, b))
    with np.errstate(all="ignore"):
        r = _f32(c) + s
    return _bits(r)


def dot_block(inputs, k=DEFAULT_K, stages=None):
    """Golden ``bf16_dot``: ``{"result": (n,)}`` FP32 bits. ``stages`` changes latency only.

    Raises
    ------
    ValueError
        ``k`` outside 1..128 or the ``a``/``b`` arrays not of width ``k``.
    TypeError
        ``k`` not an integer.
    """
    _check_k(k)
    _codes(inputs["a"], 16, "a", k)
    return {"result": dot(inputs["a"], inputs["b"], inputs["acc"])}


def dot_space(k=DEFAULT_K, stages=None):
    """Input space size: always far above 2**20 (random + corners)."""
    return None


# -- stimulus ---------------------------------------------------------------------------------

def _bf16_bits(x):
    """BF16 codes of float32 values that BF16 holds exactly (truncation is then exact)."""
    return (np.asarray(x, dtype=np.float32).view(np.uint32) >> 16).astype(np.int64)


def _rand_bf16(rng, shape, exp, spread):
    """Random finite BF16 codes with biased exponent field exp + U[-spread, spread] clipped to
    the finite range (0 gives subnormals), random mantissa and sign."""
    e = np.clip(exp + rng.integers(-spread, spread + 1, shape), 0, 254)
    mant = rng.integers(0, 128, shape)
    sign = rng.integers(0, 2, shape)
    return (sign << 15) | (e << 7) | mant


def _random_part(rng, n, k):
    kind = rng.random(n)
    # a common exponent per vector (so the products meet and cancel), per side: the product
    # exponent target t = ea + eb - 254 spans FP32's underflow, normal and overflow ranges
    tk = rng.random(n)
    t = np.where(tk < 0.8, np.round(rng.normal(0, 20, n)), rng.integers(-290, 90, n))
    t = np.where(tk > 0.97, rng.integers(120, 260, n), t).astype(np.int64)
    ea = 127 + t // 2
    eb = 127 + t - t // 2
    spread = rng.choice([0, 1, 3, 8, 24], n)
    a = _rand_bf16(rng, (n, k), ea[:, None], spread[:, None])
    b = _rand_bf16(rng, (n, k), eb[:, None], spread[:, None])
    # uniform random codes (every range, specials included) for 3 % of the vectors, and 0.5 % of
    # single lanes anywhere
    anyc = kind < 0.03
    a = np.where(anyc[:, None], rng.integers(0, 1 << 16, (n, k)), a)
    b = np.where(anyc[:, None], rng.integers(0, 1 << 16, (n, k)), b)
    lane = rng.random((n, k)) < 0.005
    a = np.where(lane, rng.integers(0, 1 << 16, (n, k)), a)
    # sparse vectors (zeros of both signs)
    sparse = (kind >= 0.15) & (kind < 0.30)
    z = sparse[:, None] & (rng.random((n, k)) < rng.uniform(0.5, 0.97, (n, 1)))
    a = np.where(z, rng.integers(0, 2, (n, k)) << 15, a)
    # exact cancellation partners: lane 2j+1 is the negation of lane 2j's product
    pairs = (kind >= 0.30) & (kind < 0.40) & (k > 1)
    m = k - k % 2
    a2, b2 = a.copy(), b.copy()
    a2[:, 1:m:2] = a[:, 0:m:2]
    b2[:, 1:m:2] = b[:, 0:m:2] ^ (1 << 15)
    a = np.where(pairs[:, None], a2, a)
    b = np.where(pairs[:, None], b2, b)
    # accumulators: near the tree sum (cancellation, close ties) or from every range
    with np.errstate(all="ignore"):
        s = tree_sum(products(a, b)).astype(np.float64)
        factor = np.where(rng.random(n) < 0.5, -1.0, 1.0) * np.where(
            rng.random(n) < 0.5, 1.0 + rng.choice([0.0, 2.0**-24, -2.0**-24, 2.0**-10], n),
            np.exp2(rng.uniform(-30, 30, n)))
        near = (s * factor).astype(np.float32).view(np.uint32).astype(np.int64)
    ak = rng.random(n)
    acc = np.where(np.isfinite(s) & (s != 0), near, rng.integers(0, 1 << 32, n))
    acc = np.where(ak < 0.25, rng.integers(0, 0x7F800000, n) | (rng.integers(0, 2, n) << 31), acc)
    acc = np.where((ak >= 0.25) & (ak < 0.29), 0, acc)
    acc = np.where((ak >= 0.29) & (ak < 0.32), 1 << 31, acc)
    acc = np.where((ak >= 0.32) & (ak < 0.36),
                   rng.integers(1, 1 << 23, n) | (rng.integers(0, 2, n) << 31), acc)
    acc = np.where((ak >= 0.36) & (ak < 0.37), rng.integers(0x7F800000, 1 << 32, n), acc)
    return {"a": a.astype(np.int64), "b": b.astype(np.int64), "acc": acc.astype(np.int64)}


def dot_corners(rng, k=DEFAULT_K):
    """Named corner vectors: ``(names, inputs)`` with one name per vector (see
    :func:`dot_stimulus` for the list)."""
    names, rows = [], []
    one, none = 0x3F80, 0xBF80
    pz, nz = 0x0000, 0x8000
    min_sub, max_f = 0x0001, _BF16_MAX

    def add(name, a, b, acc=0):
        a = np.broadcast_to(np.asarray(a, dtype=np.int64), (k,)).copy()
        b = np.broadcast_to(np.asarray(b, dtype=np.int64), (k,)).copy()
        names.append(name)
        rows.append((a, b, int(acc) & 0xFFFFFFFF))

    def onehot(code, pos, fill=pz):
        v = np.full(k, fill, dtype=np.int64)
        v[pos] = code
        return v

    f32_one, f32_mone = 0x3F800000, 0xBF800000
    accs = (0, 1 << 31, f32_one, f32_mone, 1, 0x80000001, 0x00800000, _FP32_MAX,
            _FP32_MAX | 1 << 31, 0x7F800000, 0xFF800000, FP32_NAN, 0xFFFFFFFF, 0x7F800001)
    # zeros of both signs: the sign of a zero product is sa ^ sb, -0 + -0 = -0, +0 + -0 = +0
    for za, zb in ((pz, pz), (nz, pz), (pz, nz), (nz, nz)):
        for acc in accs:
            add(f"zeros {za:#06x}*{zb:#06x} acc {acc:#010x}", za, zb, acc)
    mixed = np.where(np.arange(k) % 2 == 0, pz, nz)
    add("alternating zero signs, acc -0", mixed, one, 1 << 31)
    add("alternating zero signs, acc +0", mixed, none, 0)
    # ±max finite: max * 1 sums overflow in the tree, max * max overflows in the products
    for sa, sb in ((0, 0), (0, 1), (1, 1)):
        for acc in (0, _FP32_MAX, _FP32_MAX | 1 << 31, f32_one):
            add(f"all max*max signs {sa}{sb} acc {acc:#010x}",
                max_f | sa << 15, max_f | sb << 15, acc)
            add(f"all max*1 signs {sa}{sb} acc {acc:#010x}", max_f | sa << 15, one | sb << 15, acc)
    for pos in sorted({0, k // 2, k - 1}):
        add(f"one-hot max*max at {pos}", onehot(max_f, pos), onehot(one, pos, one))
        add(f"one-hot max*-1 at {pos}, acc -max", onehot(max_f, pos), onehot(none, pos, one),
            _FP32_MAX | 1 << 31)
        add(f"one-hot max*1 at {pos}, acc +max", onehot(max_f, pos), onehot(one, pos, one),
            _FP32_MAX)
    if k > 1:
        # +Inf and -Inf from product overflow meet in the tree (NaN), or one Inf alone (Inf)
        a = np.full(k, pz)
        b = np.full(k, pz)
        a[0], b[0], a[k - 1], b[k - 1] = max_f, max_f, max_f, max_f | 1 << 15
        add("overflowed products +Inf and -Inf meet", a, b)
        b[k - 1] = max_f
        add("two overflowed products +Inf", a, b, f32_mone)
        add("two overflowed products +Inf, acc -Inf", a, b, 0xFF800000)
    # min subnormal: min * 1 is an FP32 subnormal, min * min underflows to a signed zero
    for s in (0, 1):
        add(f"min_sub*1 sign {s}", min_sub | s << 15, one)
        add(f"min_sub*min_sub sign {s}", min_sub | s << 15, min_sub)
        add(f"min_sub*min_sub sign {s}, acc -0", min_sub | s << 15, min_sub, 1 << 31)
        add(f"min_sub*max sign {s}", min_sub | s << 15, max_f)
    # products that underflow FP32, around its smallest subnormal 2**-149: exact ties to 0 and
    # to 2**-149, and rounding of 16-bit products into the subnormal range
    e75 = 127 - 75  # 2**-75, normal in BF16
    for mant_a, mant_b, e_off, what in ((0, 0, 0, "2^-150 tie to 0"), (64, 0, 0, "1.5*2^-150"),
                                        (0, 0, -1, "2^-151"), (64, 64, 0, "2.25*2^-150"),
                                        (0, 0, 1, "2^-149 exact"), (127, 127, 0, "~4*2^-150"),
                                        (1, 0, 0, "just above the tie"), (96, 0, 1, "3.5*2^-150")):
        ca = (e75 << 7) | mant_a
        cb = ((e75 + e_off) << 7) | mant_b
        for sign in (0, 1):
            add(f"underflow {what} sign {sign}", ca | sign << 15, cb)
            add(f"underflow {what} sign {sign}, all lanes", np.full(k, ca | sign << 15), cb)
    for exp_sum in range(-140, -122, 2):  # 16-bit products rounded to fewer subnormal bits
        ea = 127 + exp_sum // 2
        eb = 127 + exp_sum - exp_sum // 2
        a = (ea << 7) | rng.integers(0, 128, k) | (rng.integers(0, 2, k) << 15)
        b = (eb << 7) | rng.integers(0, 128, k)
        add(f"subnormal products near 2^{exp_sum}", a, b)
        add(f"subnormal products near 2^{exp_sum}, acc min_sub", a, b, 1)
    # Inf and NaN inputs; 0 * Inf
    for pos in sorted({0, k - 1}):
        for code, what in ((_BF16_INF, "+Inf"), (_BF16_INF | 1 << 15, "-Inf")):
            for other, owhat in ((one, "1"), (none, "-1"), (pz, "+0"), (nz, "-0"),
                                 (min_sub, "min_sub"), (max_f, "max")):
                add(f"{what}*{owhat} at {pos}", onehot(code, pos, one), onehot(other, pos, one))
                add(f"{owhat}*{what} at {pos}", onehot(other, pos, one), onehot(code, pos, one))
            add(f"{what}*1 at {pos}, acc +Inf", onehot(code, pos), onehot(one, pos), 0x7F800000)
            add(f"{what}*1 at {pos}, acc -Inf", onehot(code, pos), onehot(one, pos), 0xFF800000)
        for code in (_BF16_NAN, _BF16_NAN | 1 << 15, 0x7F81, 0xFFFF):
            add(f"NaN {code:#06x} at {pos}", onehot(code, pos, one), one, f32_one)
            add(f"1*NaN {code:#06x} at {pos}", one, onehot(code, pos, one))
    if k > 1:
        a = onehot(_BF16_INF, 0, one)
        a[k - 1] = _BF16_INF | 1 << 15
        add("+Inf and -Inf products meet", a, one)
        a[k - 1] = _BF16_INF
        add("two +Inf products", a, one, f32_mone)
    for acc in (0x7F800000, 0xFF800000, FP32_NAN, 0xFFC00000, 0x7F800001, 0x7FBFFFFF):
        add(f"finite products, acc {acc:#010x}", _rand_bf16(rng, k, 127, 10), one, acc)
        add(f"zero products, acc {acc:#010x}", pz, one, acc)
    # cancellation x + (-x): pairs cancel at level 1 (+0), the acc cancels the tree sum
    if k > 1:
        m = k - k % 2
        for trial in range(6):
            x = _rand_bf16(rng, k, 127, 30 if trial < 3 else 2)
            y = _rand_bf16(rng, k, 127, 30 if trial < 3 else 2)
            xa, yb = x.copy(), y.copy()
            xa[1:m:2], yb[1:m:2] = x[0:m:2], y[0:m:2] ^ (1 << 15)
            if k % 2:
                xa[-1] = pz
            for acc in (0, 1 << 31, 1):
                add(f"pairwise cancellation {trial} acc {acc:#x}", xa, yb, acc)
    for trial in range(12):
        a = _rand_bf16(rng, k, 127, 4 if trial % 2 else 20)
        b = _rand_bf16(rng, k, 127, 4 if trial % 2 else 20)
        s = tree_sum(products(a[None], b[None]))[0]
        if not np.isfinite(s):
            continue
        sb = int(np.float32(s).view(np.uint32))
        for d in (0, 1, -1):
            v = (sb ^ (1 << 31)) + d
            if 0 <= v & 0x7FFFFFFF <= _FP32_MAX:
                add(f"acc cancels the tree sum {trial} {d:+d} ulp", a, b, v)
    # rounding ties in the tree: 1 + 2**-24 (tie to even: 1), (1 + 2**-23) + 2**-24 (tie up),
    # and 2**-24 * 1.5 (above the tie), each at several scales
    if k > 1:
        for base, small, what in (((127 << 7), (127 - 24) << 7, "1 + 2^-24"),
                                  ((127 << 7) | 1, (127 - 24) << 7, "(1+2^-7) + 2^-24"),
                                  ((127 << 7), ((127 - 24) << 7) | 64, "1 + 1.5*2^-24"),
                                  ((127 << 7), ((127 - 25) << 7), "1 + 2^-25")):
            for scale in (0, 60, -60, -100, 100):
                a = np.full(k, pz)
                b = np.full(k, pz)
                a[0], b[0] = base, (127 + scale) << 7
                a[1], b[1] = small, (127 + scale) << 7
                add(f"tie {what} at 2^{scale}", a, b)
                b2 = b.copy()
                b2[1] |= 1 << 15
                add(f"tie {what} at 2^{scale}, minus", a, b2)
        # (1 + 2**-23) needs an FP32 operand: put it in the accumulator, the tie from the tree;
        # with a far smaller second product the tree rounds it away first (one rounding per op)
        tiny = onehot((127 - 60) << 7, 1)
        for acc in (0x3F800001, 0x3F800000, 0x3F800003, 0xBF800001):
            add(f"acc {acc:#010x} + 2^-24", onehot(one, 0), onehot((127 - 24) << 7, 0), acc)
            add(f"acc {acc:#010x} + (2^-24 + 2^-60)", onehot(one, 0) | tiny,
                onehot((127 - 24) << 7, 0, one), acc)
        # sums of many lanes with one rounding per level: 1 + (k - 1) * 2**-24
        a = np.full(k, (127 - 24) << 7)
        a[0] = one
        for acc in (0, f32_one, 0x3F800001):
            add(f"1 + many 2^-24, acc {acc:#010x}", a, one, acc)
    # all-equal blocks and one-hot blocks
    for code in (one, none, 0x3FC0, 0x4049, max_f, min_sub, 0x0080, 0x7F00):
        for acc in (0, f32_one, 1 << 31):
            add(f"all-equal {code:#06x}*{code:#06x} acc {acc:#010x}", code, code, acc)
    for pos in sorted({0, 1 % k, k // 2, k - 1}):
        for code in (one, none, 0x4049, 0x0001, 0x7F7F):
            add(f"one-hot {code:#06x} at {pos}", onehot(code, pos), onehot(one, pos, one))
            add(f"one-hot {code:#06x} at {pos}, -0 fill, acc -0", onehot(code, pos, nz),
                onehot(one, pos, one), 1 << 31)
    # mixed magnitudes: products spread over many binades, acc anywhere
    for trial in range(16):
        a = _rand_bf16(rng, k, 127, 40)
        b = _rand_bf16(rng, k, 127, 40)
        add(f"mixed magnitudes {trial}", a, b, int(rng.integers(0, 1 << 32)))
    a, b, acc = zip(*rows)
    return names, {"a": np.array(a, dtype=np.int64), "b": np.array(b, dtype=np.int64),
                   "acc": np.array(acc, dtype=np.int64)}


def dot_stimulus(rng, n, exhaustive=False, k=DEFAULT_K, stages=None):
    """Inputs of ``bf16_dot``: ``n`` seeded random vectors followed by the corner vectors.

    Random vectors: mostly elements drawn around a common exponent per vector (spread 0..24
    binades) so that products meet, cancel and round in the tree, with the product exponent
    spanning FP32's underflow, normal and overflow ranges; 3 % uniform random codes (specials
    included), 0.5 % random lanes, sparse vectors with zeros of both signs, exactly cancelling
    lane pairs; accumulators near ± the tree sum (cancellation, ulp-close) or from every range
    (0, -0, subnormal, any finite, Inf/NaN).

    Corners (:func:`dot_corners`, named): zeros of both signs with every special accumulator,
    ±max finite (products and tree sums that overflow to ±Inf, +Inf meeting -Inf from
    overflow), min subnormal, products that underflow FP32 (exact ties to 0 and to 2**-149),
    products rounded into the subnormal range, Inf and NaN inputs, 0 x Inf, Inf accumulators,
    NaN accumulators, pairwise cancellation x + (-x), the accumulator cancelling the tree sum
    exactly and to one ulp, rounding ties in the tree and at the accumulator, all-equal blocks,
    one-hot blocks, mixed magnitudes.
    """
    _check_k(k)
    if exhaustive:
        raise ValueError("bf16_dot has no exhaustive mode (its input space is far above 2**20)")
    rand = _random_part(rng, n, k)
    _, corners = dot_corners(rng, k)
    return {f: np.concatenate([rand[f], corners[f]]) for f in corners}
