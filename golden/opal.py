"""OPAL outlier-preserved microscaling (docs/numerics.md §7): quantizer and mixed INT/FP dot-product
lane.

The log2 softmax of the same paper lives in :mod:`golden.softmax` beside its conventional
baseline (re-exported here as :func:`log2_softmax`).

**Quantization** of a block of n FP32 activations (n a power of two, default 128; k outliers,
default 4; b-bit inliers, b = 2..8, OPAL uses 3 and 5):

1. *Outliers.* The magnitude order is the integer order of the FP32 bit patterns with the sign
   cleared (for finite values exactly the order of |x|; +-0 tie; +-Inf rank above every finite
   value and NaNs above Inf, by payload). The k largest are the outliers, ties to the lower
   index; they are listed in rank order (largest first), each as a BF16 code (RNE from FP32,
   IEEE: FP32 values that round past BF16's largest finite become +-Inf; any NaN becomes the
   canonical 0x7FC0) and its log2(n)-bit index.
2. *Inliers.* The other n - k values, outlier slots replaced by +0, form an MXINT-b block
   (docs/numerics.md §4 with the element :func:`golden.formats.mxint` (b): 1.(b-2) fixed point,
   symmetric, emax_elem = 0): E = clamp(floor(log2 max |inlier|), -127, 127), scale code E + 127,
   q_i = clamp(round(x_i / 2**(E - (b - 2))), -(2**(b-1) - 1), 2**(b-1) - 1) in b-bit two's
   complement, ``rounding`` rne (default), rna or rtz. Every inlier zero: scale code 0, q = 0.
3. *NaN/Inf* (the developer's definition, docs/numerics.md §7): specials rank highest, so they
become
   outliers while there are at most k of them (BF16 +-Inf, canonical NaN; the inliers are
   unaffected). If an inlier is NaN or +-Inf (more than k specials), the inlier block follows
   MX's rule: scale 0xFF (NaN) and every q = 0; the outliers are still the k top-ranked values.

The quantization is exact apart from the two named roundings: the order and the floor(log2)
are read from the bits, and the inlier encoding is :func:`golden.mx.quantize`'s (exact float64
scaling, one rounding).

**Dot-product lane** (docs/numerics.md §7), activations as above against MXINT-w weights (w = 8
default, E8M0 scale X_w per block) and an FP32 accumulator c:

1. I = sum_i q_i * w_i over all n slots (exact; outlier slots hold q = 0), then
   I_f = RNE_fp32(I * 2**(E_a - (b-2) + E_w - (w-2))): exact whenever the result is an FP32
   normal (|I| < 2**24), one rounding otherwise (underflow to subnormal, overflow to +-Inf).
2. p_j = RNE_fp32(bf16(o_j) * w_{idx_j} * 2**(E_w - (w-2))): the product of an 8-bit and an
   8-bit significand, exact in FP32 unless it under- or overflows (then one rounding).
   IEEE specials: Inf * 0 = NaN, Inf * w = Inf of the product's sign, NaN stays NaN.
3. t = balanced tree of FP32 RNE additions over the p_j, (p_0 + p_1) + (p_2 + p_3) for k = 4
   (pairs level by level, an odd last term passing through).
4. out = RNE(c + RNE(I_f + t)), IEEE FP32 additions.
A NaN scale (0xFF) on either side gives NaN. NaN output is the canonical 0x7FC00000. The
computation in float64 is exact before each cast to float32 (the products have at most 16
significant bits and exponents far inside float64's range), so each cast is the one RNE.
"""
from __future__ import annotations

import numpy as np

from .bf16_dot import tree_sum
from .checks import check_choice, check_int
from .formats import E8M0, mxint
from .mx import QUANT_ROUNDINGS, quantize as mx_quantize, random_blocks
from .mx_dot import FP32_NAN, random_accumulators
from .softmax import log2_softmax  # docs/numerics.md §7.4, re-exported

__all__ = ["quantize", "dequantize", "select_outliers", "to_bf16", "dot", "reference_dot",
           "check_params", "quantize_block", "quantize_stimulus", "quantize_space",
           "block_beats", "dot_block", "dot_stimulus", "dot_space", "activations",
           "log2_softmax", "DEFAULT_N", "DEFAULT_K", "DEFAULT_BITS", "DEFAULT_LANES",
           "DEFAULT_W", "ROUNDINGS", "MAX_N", "BF16_NAN"]

DEFAULT_N = 128
DEFAULT_K = 4
DEFAULT_BITS = 3
DEFAULT_LANES = 16
DEFAULT_W = 8
MAX_N = 1024
ROUNDINGS = QUANT_ROUNDINGS
BF16_NAN = 0x7FC0
_MAG = 0x7FFFFFFF


def check_params(n=DEFAULT_N, k=DEFAULT_K, bits=DEFAULT_BITS, lanes=None, w=None):
    """Validate OPAL block parameters; one ValueError/TypeError naming the parameter each.

    n: a power of two in 2..1024 (the outlier index is log2(n) bits); k: 1..n-1; bits and w:
    2..8; lanes: a power of two dividing n.
    """
    check_int("n", n, 2, MAX_N, " and a power of two (the outlier index has log2(n) bits)")
    if n & (n - 1):
        raise ValueError(f"n must be an integer in 2..{MAX_N} and a power of two (the outlier "
                         f"index has log2(n) bits), not {n!r}")
    check_int("k", k, 1, n - 1, " (fewer outliers than the block size n)")
    check_int("bits", bits, 2, 8, " (inlier code width)")
    if w is not None:
        check_int("w", w, 2, 8, " (weight code width)")
    if lanes is not None:
        check_int("lanes", lanes, 1, n, " and a power of two dividing n")
        if lanes & (lanes - 1):
            raise ValueError(f"lanes must be an integer in 1..{n} and a power of two dividing "
                             f"n, not {lanes!r}")
    return n, k, bits


# ---------------------------------------------------------------------------------------------
# quantization


def _bits(x):
    """FP32 bit patterns (int64) of float32 values or of int bit-pattern arrays."""
    x = np.asarray(x)
    if x.dtype == np.float32:
        return x.view(np.uint32).astype(np.int64)
    if x.dtype.kind not in "iu" or np.any((x < 0) | (x >= 1 << 32)):
        raise ValueError("x must be float32 values or FP32 bit patterns (integers in 0..2**32-1)")
    return x.astype(np.int64)


def select_outliers(x_bits, k):
    """Indices (..., k) of the k largest magnitudes along the last axis, in rank order
    (largest first, ties to the lower index); magnitudes compare as FP32 bit patterns without
    the sign (module docstring)."""
    mag = np.asarray(x_bits, dtype=np.int64) & _MAG
    return np.argsort(-mag, axis=-1, kind="stable")[..., :k]


def to_bf16(x_bits):
    """BF16 codes of FP32 bit patterns: IEEE RNE (overflow to +-Inf), NaN -> 0x7FC0."""
    b = np.asarray(x_bits, dtype=np.int64)
    nan = (b & _MAG) > 0x7F800000
    r = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return np.where(nan, BF16_NAN, r & 0xFFFF)


def quantize(x, n=DEFAULT_N, k=DEFAULT_K, bits=DEFAULT_BITS, rounding="rne"):
    """OPAL blocks of the last axis of ``x`` (module docstring).

    Parameters
    ----------
    x : array_like
        float32 values or FP32 bit patterns, shape (..., L) with L a multiple of n.
    n, k, bits : int
    rounding : {"rne", "rna", "rtz"}

    Returns
    -------
    dict of int64 arrays
        ``scale`` (..., L/n) E8M0 codes; ``codes`` (..., L/n, n) b-bit two's complement codes
        (outlier slots 0); ``outliers`` (..., L/n, k) BF16 codes and ``idx`` (..., L/n, k)
        their in-block indices, in rank order.
    """
    check_params(n, k, bits)
    check_choice("rounding", rounding, ROUNDINGS)
    b = _bits(x)
    if b.ndim == 0 or b.shape[-1] % n:
        raise ValueError(f"x's last axis must be a multiple of n = {n}, not shape {b.shape}")
    b = b.reshape(b.shape[:-1] + (b.shape[-1] // n, n))
    idx = select_outliers(b, k)
    picked = np.take_along_axis(b, idx, axis=-1)
    inl = b.copy()
    np.put_along_axis(inl, idx, 0, axis=-1)
    scale, codes = mx_quantize(inl.astype(np.uint32).view(np.float32), mxint(bits), block=n,
                               rounding=rounding)
    return {"scale": scale[..., 0].astype(np.int64), "codes": codes.astype(np.int64),
            "outliers": to_bf16(picked), "idx": idx.astype(np.int64)}


def _signed(codes, width):
    c = np.asarray(codes, dtype=np.int64)
    return c - ((c >> (width - 1)) & 1) * (1 << width)


def _bf16_value(codes):
    """float64 values of BF16 codes (exact)."""
    c = np.asarray(codes, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        return (c << 16).astype(np.uint32).view(np.float32).astype(np.float64)


def _scale_exp(scale):
    return np.asarray(scale, dtype=np.int64) - E8M0.bias


def dequantize(q, bits=DEFAULT_BITS):
    """float64 values of OPAL blocks (the dict :func:`quantize` returns), shape (..., L):
    q_i * 2**(E - (b-2)) for inliers (NaN for a NaN scale), the BF16 value at each outlier
    index."""
    codes = q["codes"]
    n = codes.shape[-1]
    e = _scale_exp(q["scale"])[..., None] - (bits - 2)
    with np.errstate(invalid="ignore"):
        v = np.ldexp(_signed(codes, bits).astype(np.float64), e)
        v = np.where(np.asarray(q["scale"])[..., None] == E8M0.nan_code, np.nan, v)
    np.put_along_axis(v, np.asarray(q["idx"]), _bf16_value(q["outliers"]), axis=-1)
    return v.reshape(v.shape[:-2] + (v.shape[-2] * n,))


# ---------------------------------------------------------------------------------------------
# the dot-product lane


def _f32(v):
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return np.asarray(v, dtype=np.float64).astype(np.float32)


def dot(scale, codes, outliers, idx, w_scale, w, acc, bits=DEFAULT_BITS, w_bits=DEFAULT_W):
    """FP32 bits (int64) of the OPAL lane (module docstring), one row per block.

    Parameters
    ----------
    scale : (rows,) E8M0 codes; codes : (rows, n) b-bit codes; outliers : (rows, k) BF16 codes;
    idx : (rows, k) indices in 0..n-1; w_scale : (rows,) E8M0; w : (rows, n) w-bit codes;
    acc : (rows,) FP32 bits.
    """
    codes, w = np.asarray(codes, dtype=np.int64), np.asarray(w, dtype=np.int64)
    qa, qw = _signed(codes, bits), _signed(w, w_bits)
    big = (qa * qw).sum(axis=-1)
    ew = _scale_exp(w_scale) - (w_bits - 2)
    e_i = _scale_exp(scale) - (bits - 2) + ew
    i_f = _f32(np.ldexp(big.astype(np.float64), e_i.astype(np.int32)))
    wo = np.take_along_axis(qw, np.asarray(idx, dtype=np.int64), axis=-1)
    with np.errstate(invalid="ignore"):
        p = _f32(_bf16_value(outliers) * np.ldexp(wo.astype(np.float64),
                                                   ew[:, None].astype(np.int32)))
    t = tree_sum(p)
    c = np.asarray(acc, dtype=np.int64).astype(np.uint32).view(np.float32)
    with np.errstate(all="ignore"):
        r = c + (i_f + t)
    nan = np.isnan(r) | (np.asarray(scale) == E8M0.nan_code) \
        | (np.asarray(w_scale) == E8M0.nan_code)
    return np.where(nan, FP32_NAN, r.view(np.uint32).astype(np.int64))


def reference_dot(q, w_scale, w, acc, bits=DEFAULT_BITS, w_bits=DEFAULT_W):
    """float64 reference of the lane: sum of dequantized activations times dequantized weights
    plus c, in float64 (error tests; NaN scales give NaN)."""
    a = dequantize(q, bits)
    n = q["codes"].shape[-1]
    wv = np.ldexp(_signed(w, w_bits).astype(np.float64),
                  (_scale_exp(w_scale) - (w_bits - 2))[:, None])
    with np.errstate(invalid="ignore", over="ignore"):
        wv = np.where(np.asarray(w_scale)[:, None] == E8M0.nan_code, np.nan, wv)
        c = np.asarray(acc, dtype=np.int64).astype(np.uint32).view(np.float32)
        return (a.reshape(-1, n) * wv).sum(axis=-1) + c.astype(np.float64)


# ---------------------------------------------------------------------------------------------
# stimulus


def activations(rng, rows, n=DEFAULT_N, df=3.0, outlier_channels=4, gain=50.0):
    """LLM-activation-like float32 rows (rows, n): Student-t(df) values with ``outlier_channels``
    fixed channels (the same positions in every row, as in transformer hidden states) scaled by
    ``gain``, at a random per-row scale 2**U(-8, 8)."""
    x = rng.standard_t(df, (rows, n))
    ch = rng.choice(n, outlier_channels, replace=False) if outlier_channels else []
    x[:, ch] *= gain
    x *= np.exp2(rng.uniform(-8, 8, (rows, 1)))
    return x.astype(np.float32)


def _corner_blocks(rng, n, k):
    """The corner blocks of the issue, FP32 bit patterns (rows, n)."""
    f = lambda v: np.asarray(v, dtype=np.float32).view(np.uint32).astype(np.int64)  # noqa: E731
    small = lambda: f(rng.uniform(-1, 1, n).astype(np.float32))  # noqa: E731
    out = []
    # an outlier at every index position (one large value at i, and k large ones at i..i+k-1)
    for i in range(n):
        b = small()
        b[i] = f(np.float32(rng.choice([-1, 1]) * rng.uniform(64, 1024)))
        out.append(b)
    for i in range(0, n, max(1, n // 16)):
        b = small()
        b[(i + np.arange(k)) % n] = f(rng.uniform(100, 200, k).astype(np.float32))
        out.append(b)
    # ties among outliers: equal magnitudes of both signs, across the k boundary
    v = np.float32(37.5)
    for ties in (2, k, k + 1, k + 3, n):
        b = small()
        pos = rng.choice(n, min(ties, n), replace=False)
        b[pos] = np.where(rng.random(len(pos)) < 0.5, f(v), f(-v))
        out.append(b)
    b = small()
    b[:k - 1] = f(np.float32(100.0))
    rest = np.arange(k - 1, n)    # the last outlier slot: a three-way tie (two-way if n = k + 1)
    b[rest[np.linspace(0, len(rest) - 1, min(3, len(rest))).round().astype(int)]] = \
        f(np.float32(50.0))
    out.append(b)
    # all-equal blocks (the inliers' maximum is the same value: rounding at the top step)
    for v in (1.0, -3.0, 1.5e-40, 3.0e38, 0.0):
        out.append(np.full(n, f(np.float32(v))))
    out.append(np.where(np.arange(n) % 2, f(np.float32(-2.5)), f(np.float32(2.5))))
    out.append(np.full(n, 1 << 31))                       # all -0
    # fewer than k nonzero values
    for nz in range(k):
        b = np.where(rng.random(n) < 0.5, 1 << 31, 0)
        b[rng.choice(n, nz, replace=False)] = f(rng.uniform(-5, 5, nz).astype(np.float32))
        out.append(b)
    # exactly k + 1 nonzero: one inlier (scale from it alone)
    b = np.zeros(n, dtype=np.int64)
    b[rng.choice(n, k + 1, replace=False)] = f(rng.uniform(1, 2, k + 1).astype(np.float32))
    out.append(b)
    # NaN / Inf: as outliers (<= k specials), as an inlier (> k), with payloads and signs
    specials = [0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 0x7F800001, 0x7FFFFFFF]
    for count in (1, k, k + 1, n):
        b = small()
        pos = rng.choice(n, count, replace=False)
        b[pos] = rng.choice(specials, count)
        out.append(b)
    # outliers at the BF16 edges: FP32 max (rounds to BF16 Inf), BF16 RNE ties, subnormals
    b = small()
    b[:k] = [0x7F7FFFFF, 0xFF7F8000, 0x3F808000, 0x3F818000][:k] + [0x7F7FFFFF] * (k - 4)
    out.append(b)
    b = rng.integers(0, 1 << 23, n) | (rng.integers(0, 2, n) << 31)   # subnormals only
    out.append(b)
    # inlier rounding: values on half steps of the b-bit grid and at the saturation edge
    for top in (1.0, 1.75, 1.999):
        b = f(np.float32(top) * (rng.integers(-16, 17, n) / 16).astype(np.float32))
        b[0] = f(np.float32(top))
        b[1:k + 1] = f(np.float32(1e6))
        out.append(b)
    return np.stack(out).astype(np.int64)


def quantize_stimulus(rng, n_beats, exhaustive=False, n=DEFAULT_N, k=DEFAULT_K,
                      bits=DEFAULT_BITS, lanes=DEFAULT_LANES, **_):
    """``{"x": (beats, lanes)}``: about ``n_beats`` beats of random blocks (half LLM-activation
    rows with channel outliers, half :func:`golden.mx.random_blocks`' FP32 mix: every binade,
    subnormals, sparse, all-equal and one-hot blocks, NaN/Inf), then the corner blocks (an
    outlier at every index, ties, all-equal, fewer than k nonzero, NaN/Inf, BF16 edges,
    rounding ties)."""
    check_params(n, k, bits, lanes)
    nb = max(1, -(-n_beats // (n // lanes)))
    act = activations(rng, nb - nb // 2, n, outlier_channels=min(k, n // 2))
    act = act.view(np.uint32).astype(np.int64) ^ (rng.integers(0, 2, act.shape) << 31)
    blocks = np.concatenate([act, random_blocks(rng, nb // 2, n), _corner_blocks(rng, n, k)])
    return {"x": blocks.reshape(-1, lanes)}


def block_beats(n=DEFAULT_N, lanes=DEFAULT_LANES, **_):
    """Input beats of one block in ``opal_quantize``'s stream."""
    return n // lanes


def quantize_block(inputs, n=DEFAULT_N, k=DEFAULT_K, bits=DEFAULT_BITS, lanes=DEFAULT_LANES,
                   rounding="rne", **_):
    """Golden ``opal_quantize``: n / lanes input beats ``{"x": (lanes,)}`` per block, one output
    beat per block ``{"scale", "codes": (n,), "outliers": (k,), "idx": (k,)}``."""
    check_params(n, k, bits, lanes)
    return quantize(np.asarray(inputs["x"], dtype=np.int64).reshape(-1), n, k, bits, rounding)


def quantize_space(**_):
    """Blocks of 128 FP32 values: random and corner blocks only."""
    return None


def dot_block(inputs, n=DEFAULT_N, k=DEFAULT_K, bits=DEFAULT_BITS, w=DEFAULT_W, **_):
    """Golden ``opal_dot``: one block per beat, ``{"result": (rows,)}`` FP32 bits."""
    check_params(n, k, bits, w=w)
    return {"result": dot(inputs["scale"], inputs["codes"], inputs["outliers"], inputs["idx"],
                          inputs["w_scale"], inputs["w"], inputs["acc"], bits, w)}


def dot_space(**_):
    """Far above 2**20 inputs: random and corner blocks."""
    return None


def dot_stimulus(rng, count, exhaustive=False, n=DEFAULT_N, k=DEFAULT_K, bits=DEFAULT_BITS,
                 w=DEFAULT_W, **_):
    """``count`` random lanes then the corners.

    Random: 60 % quantized activation rows (:func:`activations`, or the FP32 mix of
    :func:`golden.mx.random_blocks`) against random weight codes, 40 % arbitrary fields (any
    codes, any BF16 outliers, any indices, repeated ones included); scales near 127 mostly, any
    code sometimes (under- and overflow of the products), NaN rarely; accumulators from
    :func:`golden.mx_dot.random_accumulators`. Corners: the extreme magnitudes of every field,
    Inf outliers against zero and nonzero weights, NaN scales, cancellation of I against t.
    """
    check_params(n, k, bits, w=w)
    half = count - count // 2 - count // 5
    x = np.concatenate([activations(rng, half, n, outlier_channels=min(k, n // 2))
                        .view(np.uint32).astype(np.int64),
                        random_blocks(rng, count - half, n)])
    q = quantize(x, n, k, bits)
    q = {f: v.reshape((count,) + v.shape[2:]) for f, v in q.items()}
    arb = rng.random(count) < 0.4
    q["codes"] = np.where(arb[:, None], rng.integers(0, 1 << bits, (count, n)), q["codes"])
    q["outliers"] = np.where(arb[:, None], rng.integers(0, 1 << 16, (count, k)), q["outliers"])
    q["idx"] = np.where(arb[:, None], rng.integers(0, n, (count, k)), q["idx"])
    wc = rng.integers(0, 1 << w, (count, n))
    sk = rng.random((2, count))
    near = np.clip(np.round(rng.normal(127, 10, (2, count))), 0, 254).astype(np.int64)
    scales = np.where(sk < 0.15, rng.integers(0, 255, (2, count)), near)
    scales = np.where(sk > 0.99, E8M0.nan_code, scales)
    q["scale"] = np.where(arb, scales[0], q["scale"])
    out = {**q, "w_scale": scales[1], "w": wc}
    approx = np.nan_to_num(reference_dot(q, out["w_scale"], wc, np.zeros(count, np.int64),
                                         bits, w), nan=0.0, posinf=0.0, neginf=0.0)
    out["acc"] = random_accumulators(rng, approx)
    corners = _dot_corners(rng, n, k, bits, w)
    return {f: np.concatenate([out[f], corners[f]]).astype(np.int64) for f in out}


def _dot_corners(rng, n, k, bits, w):
    qmax, wmax = (1 << (bits - 1)) - 1, (1 << (w - 1)) - 1
    mask_a, mask_w = (1 << bits) - 1, (1 << w) - 1
    rows = []

    def row(codes, outl, idx, scale, w_scale, wv, acc):
        rows.append({"codes": np.broadcast_to(np.asarray(codes) & mask_a, (n,)),
                     "outliers": np.broadcast_to(outl, (k,)),
                     "idx": np.broadcast_to(idx, (k,)), "scale": scale, "w_scale": w_scale,
                     "w": np.broadcast_to(np.asarray(wv) & mask_w, (n,)), "acc": acc})

    ar = np.arange(k)
    one = 0x3F80
    for qa in (qmax, -qmax, -qmax - 1):
        for qw in (wmax, -wmax, -wmax - 1):       # the largest |I| (the symmetric codes and
            for sc in ((127, 127), (254, 254), (0, 0), (0, 254), (200, 180)):  # the extra one)
                row(qa, 0, ar, sc[0], sc[1], qw, 0)
    for o in (0x7F80, 0xFF80, 0x7FC0, 0xFFC1, 0x7F7F, 0x0001, 0x8000, 0x0000):
        for wv in (0, 1, -1, wmax):                # Inf * 0 = NaN, Inf * w = Inf
            row(1, [o] + [one] * (k - 1), ar, 127, 127, wv, 0)
    if k >= 2:
        row(1, [0x7F80, 0xFF80] + [one] * (k - 2), ar, 127, 127, 1, 0)   # +Inf + -Inf in t
    for sc, ws in ((255, 127), (127, 255), (255, 255)):
        row(1, one, ar, sc, ws, 1, 0x3F800000)
    for acc in (0x7F800000, 0xFF800000, 0x7FC00000, 0x80000000, 0x7F7FFFFF):
        row(qmax, one, ar, 127, 127, 1, acc)
    # I and t cancel exactly: I_f = k (q = 1 in k inlier slots, unit scales), t = k * -1.0
    codes = np.zeros(n, dtype=np.int64)
    codes[k:2 * k] = 1
    row(codes, 0xBF80, ar, 127 + (bits - 2), 127 + (w - 2), 1, 0)
    # every index position reads its weight
    for i in range(0, n, max(1, n // 32)):
        wv = np.zeros(n, dtype=np.int64)
        wv[i] = 3
        row(0, one, (i + ar) % n, 127, 127, wv, 0)
    return {f: np.stack([np.asarray(r[f]) for r in rows]).astype(np.int64) for f in rows[0]}
