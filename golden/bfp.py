"""Block floating point (FlexBlock, LightNorm): group quantization and the fused group dot product
(docs/numerics.md §5).

A group of G FP32 values along an axis shares the 8-bit exponent M = the largest biased FP32
exponent field in the group. Element i becomes a sign bit s_i (the input's sign bit, kept also
when the magnitude is 0) and an m-bit unsigned magnitude q_i (m counts the hidden bit)::

    q_i = round(|x_i| / 2**(M - 127 - (m - 1))),  value_i = (-1)**s_i * q_i * 2**(M-127-(m-1))

Exactly, with sig_i = 1.frac (24 bits) and d_i = M - e_i >= 0: |x_i| / ulp = sig_i / 2**sh_i,
sh_i = 24 - m + d_i. So the quantizer is one right shift per element, and the rounding looks at
the bits shifted out.

Rounding
    ``"rtz"`` (default): truncation, ``q = floor(.)``, bit-exact with the FlexBlock lab
    simulator's masking kernel (keep (m - 1) - (M - e) fraction bits, zero if negative).
    ``"rne"``: to nearest, ties to even. ``"stochastic"``: round up iff
    ``floor(frac * 2**rbits) + rand >= 2**rbits`` with ``frac`` the shifted-out fraction and
    ``rand`` caller-supplied random integers in [0, 2**rbits) (the same rule as
    :func:`golden.formats.encode`). A round-up to 2**m (only possible for an element with
    e_i = M) saturates to 2**m - 1.
Specials
    FP32 subnormal inputs flush to zero (their exponent field 0 never raises M). A group with
    NaN or Inf gets M = 255 (decodes as NaN); its magnitudes are 0 and its ZSE count 0. An
    all-zero (or all-subnormal) group has M = 0 and every q = 0.
Zero-setting error (FlexBlock's precision signal)
    Per group, the number of nonzero inputs (subnormals included: they lost their whole value)
    whose q is 0. (FlexBlock's simulator counts exponent distance M - e + 1 > m, which also
    counts zeros; docs/numerics.md §5 counts only values that were actually set to zero.)
Tail groups
    Along an axis of length n, groups are [0, G), [G, 2G), ...; the last one may be shorter and
    gets its own M.
Group dot product
    ``out = RNE_fp32(c + 2**(Ma + Mb - 254 - (ma - 1) - (mb - 1)) * sum_i (-1)**(sa_i ^ sb_i)
    * qa_i * qb_i)``: exact integer sum, one rounding (:mod:`golden.accumulate`); NaN if either
    M is 255.
"""
from __future__ import annotations

import numpy as np

from .accumulate import fp32_accumulate
from .checks import check_choice, check_int

__all__ = ["quantize", "dequantize", "dot", "dot_groups", "zse_rate", "check_m", "check_group",
           "ROUNDINGS", "EXP_NAN", "M_MIN", "M_MAX", "ulp_exponent"]

ROUNDINGS = ("rtz", "rne", "stochastic")
#: the shared exponent of a group holding NaN or Inf
EXP_NAN = 255
#: magnitude bits (the hidden bit counted), docs/numerics.md §5
M_MIN, M_MAX = 2, 24
_BIAS = 127
_FRAC_BITS = 23
_RBITS_MAX = 32


def check_m(name, m):
    """``m`` (magnitude bits, hidden bit counted) must be an integer in 2..24."""
    return check_int(name, m, M_MIN, M_MAX)


def check_group(name, G):
    return check_int(name, G, 1, 1 << 16, note=" (a positive group size)")


def ulp_exponent(M, m):
    """Exponent of one magnitude unit of a group: ``M - 127 - (m - 1)``."""
    return np.asarray(M, dtype=np.int64) - _BIAS - (m - 1)


def _bits(x):
    """FP32 bit patterns (int64) of ``x``: float32 arrays are viewed, integer arrays are taken as
    bit patterns already, other floats are converted to float32 (ValueError if inexact)."""
    a = np.asarray(x)
    if a.dtype == np.float32:
        return a.view(np.uint32).astype(np.int64)
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.int64) & 0xFFFFFFFF
    f = a.astype(np.float32)
    same = (f.astype(np.float64) == a) | (np.isnan(f) & np.isnan(a))
    if not np.all(same):
        raise ValueError("x must be FP32 values (float32, FP32 bit patterns, or floats that "
                         "float32 holds exactly)")
    return f.view(np.uint32).astype(np.int64)


def _quantize_groups(bits, m, rounding, rbits, rand):
    """Core on groups along the last axis: bits (..., G) int64 -> (M, signs, q, zse)."""
    sign = (bits >> 31) & 1
    e = (bits >> _FRAC_BITS) & 0xFF
    frac = bits & ((1 << _FRAC_BITS) - 1)
    special = e == 0xFF
    normal = (e != 0) & ~special
    M = e.max(axis=-1) if bits.shape[-1] else np.zeros(bits.shape[:-1], dtype=np.int64)
    bad = special.any(axis=-1)
    M = np.where(bad, EXP_NAN, M)
    sig = np.where(normal, frac | (1 << _FRAC_BITS), 0)
    sh = (24 - m) + (M[..., None] - e)            # >= 0 for normal elements
    sh = np.where(normal, sh, 0)
    big = sh >= 63
    shc = np.minimum(sh, 62)
    q = np.where(big, 0, sig >> shc)
    rem = np.where(big, sig, sig - (q << shc))     # the shifted-out part, 0 <= rem < 2**sh
    if rounding == "rne":
        half = np.where(shc > 0, np.left_shift(1, np.maximum(shc - 1, 0)), 0)
        up = (shc > 0) & ((rem > half) | ((rem == half) & ((q & 1) == 1)))
        up &= ~big  # sig < 2**24 <= 2**(sh - 1): below half
    elif rounding == "stochastic":
        # floor(rem / 2**sh * 2**rbits) + rand >= 2**rbits
        top = np.where(shc >= rbits, rem >> np.maximum(shc - rbits, 0),
                       rem << np.maximum(rbits - shc, 0))
        top = np.where(big, 0, top)
        up = top + rand >= (1 << rbits)
    else:
        up = np.zeros(q.shape, dtype=bool)
    q = q + up
    q = np.minimum(q, (1 << m) - 1)
    q = np.where(bad[..., None], 0, q)
    nonzero = (bits & 0x7FFFFFFF) != 0
    zse = (nonzero & (q == 0)).sum(axis=-1)
    zse = np.where(bad, 0, zse)
    return M.astype(np.int64), sign.astype(np.int64), q.astype(np.int64), zse.astype(np.int64)


def _to_groups(a, group, axis, fill=0):
    """Move ``axis`` last, pad it to a multiple of ``group`` with ``fill`` and split it:
    (..., ngroups, group); also returns the unpadded length."""
    a = np.moveaxis(a, axis, -1)
    n = a.shape[-1]
    ng = -(-n // group)
    pad = ng * group - n
    if pad:
        a = np.concatenate([a, np.full(a.shape[:-1] + (pad,), fill, dtype=a.dtype)], axis=-1)
    return a.reshape(a.shape[:-1] + (ng, group)), n


def _from_groups(a, n, axis):
    a = a.reshape(a.shape[:-2] + (-1,))[..., :n]
    return np.moveaxis(a, -1, axis)


def _check_rounding(rounding, rbits, rand, shape):
    check_choice("rounding", rounding, ROUNDINGS)
    if rounding != "stochastic":
        if rbits is not None or rand is not None:
            raise ValueError("rbits and rand are only used with rounding='stochastic'")
        return None
    check_int("rbits", rbits, 1, _RBITS_MAX)
    if rand is None:
        raise ValueError("rounding='stochastic' needs rand: random integers in [0, 2**rbits)")
    r = np.broadcast_to(np.asarray(rand, dtype=np.int64), shape)
    if r.size and (r.min() < 0 or r.max() >= 1 << rbits):
        raise ValueError(f"rand must hold integers in [0, 2**rbits) = [0, {1 << rbits})")
    return r


def quantize(x, m, group, axis=-1, rounding="rtz", rbits=None, rand=None):
    """Group-quantize FP32 values to BFP (docs/numerics.md §5; rules in the module docstring).

    Parameters
    ----------
    x : array_like
        FP32 values: float32, FP32 bit patterns (integer dtype), or floats float32 holds exactly.
    m : int
        Magnitude bits including the hidden bit, 2..24 (FlexBlock: 16, 8, 4).
    group : int
        Group size G >= 1 along ``axis`` (FlexBlock: 54, 108, 216).
    axis : int
    rounding : {"rtz", "rne", "stochastic"}
    rbits : int, optional
        Random bits per element (1..32), only with "stochastic".
    rand : array_like of int, optional
        Random integers in [0, 2**rbits), broadcastable to ``x``, only with "stochastic".

    Returns
    -------
    exps : ndarray of int64, shape of ``x`` with ``axis`` replaced by the number of groups
        Shared biased exponents M (255: NaN group).
    signs : ndarray of int64, shape of ``x``
    mags : ndarray of int64, shape of ``x``
        q in [0, 2**m).
    zse : ndarray of int64, shape of ``exps``
        Zero-setting-error count per group.
    """
    check_m("m", m)
    check_group("group", group)
    bits = _bits(x)
    if bits.ndim == 0:
        raise ValueError("x must have at least one dimension")
    axis = _axis(axis, bits.ndim)
    rand = _check_rounding(rounding, rbits, rand, bits.shape)
    g, n = _to_groups(bits, group, axis)
    r = None if rand is None else _to_groups(np.asarray(rand), group, axis)[0]
    M, s, q, zse = _quantize_groups(g, m, rounding, rbits, r)
    return (np.moveaxis(M, -1, axis), _from_groups(s, n, axis), _from_groups(q, n, axis),
            np.moveaxis(zse, -1, axis))


def _axis(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -ndim <= axis < ndim:
        raise ValueError(f"axis must be an integer in {-ndim}..{ndim - 1}, not {axis!r}")
    return int(axis) % ndim


def dequantize(exps, signs, mags, m, group, axis=-1):
    """Float32 values of a BFP tensor (exact: every BFP value with m <= 24 is an FP32 value).

    ``(-1)**s * q * 2**(M - 127 - (m - 1))``; a group with M = 255 decodes as NaN.
    Shapes as returned by :func:`quantize`.
    """
    check_m("m", m)
    check_group("group", group)
    signs, mags = np.asarray(signs, dtype=np.int64), np.asarray(mags, dtype=np.int64)
    axis = _axis(axis, mags.ndim)
    if mags.size and (mags.min() < 0 or mags.max() >= 1 << m):
        raise ValueError(f"mags must lie in [0, 2**m) = [0, {1 << m})")
    qg, n = _to_groups(mags, group, axis)
    sg, _ = _to_groups(signs, group, axis)
    M = np.moveaxis(np.asarray(exps, dtype=np.int64), axis, -1)
    if M.shape != qg.shape[:-1]:
        raise ValueError(f"exps has {M.shape[-1]} groups along axis {axis}, "
                         f"the magnitudes {qg.shape[-2]}")
    v = np.ldexp(qg.astype(np.float64), ulp_exponent(M, m)[..., None])
    v = np.where(sg != 0, -v, v)
    v = np.where((M == EXP_NAN)[..., None], np.nan, v)
    return _from_groups(v.astype(np.float32), n, axis)


def zse_rate(x, m, group, axis=-1, rounding="rtz", rbits=None, rand=None):
    """Fraction of the nonzero inputs that quantize to zero (FlexBlock's precision signal), over
    the whole tensor (0.0 for a tensor without nonzero finite values)."""
    bits = _bits(x)
    _, _, _, zse = quantize(bits, m, group, axis, rounding, rbits, rand)
    nonzero = ((bits & 0x7FFFFFFF) != 0) & (((bits >> 23) & 0xFF) != 0xFF)
    return float(zse.sum() / nonzero.sum()) if nonzero.any() else 0.0


def dot(exp_a, signs_a, mags_a, exp_b, signs_b, mags_b, acc, ma, mb):
    """Fused group dot product with FP32 accumulate, rounded once (docs/numerics.md §5).

    Parameters
    ----------
    exp_a, exp_b : array_like of int, shape (n,)
        Shared exponents (255: NaN group).
    signs_a, mags_a, signs_b, mags_b : array_like of int, shape (n, G)
    acc : array_like of int, shape (n,)
        FP32 bit patterns of the accumulator ``c``.
    ma, mb : int
        Magnitude bits of the two operands (they may differ).

    Returns
    -------
    ndarray of uint32, shape (n,): FP32 bit patterns.
    """
    check_m("ma", ma)
    check_m("mb", mb)
    exp_a, exp_b = np.asarray(exp_a, dtype=np.int64), np.asarray(exp_b, dtype=np.int64)
    qa, qb = np.asarray(mags_a, dtype=object), np.asarray(mags_b, dtype=object)
    neg = (np.asarray(signs_a, dtype=np.int64) ^ np.asarray(signs_b, dtype=np.int64)) != 0
    p = qa * qb
    p = np.where(neg, -p, p)
    S = p.sum(axis=-1) if p.shape[-1] else np.zeros(p.shape[:-1], dtype=object)
    e_S = ulp_exponent(exp_a, ma) + ulp_exponent(exp_b, mb)
    nan = (exp_a == EXP_NAN) | (exp_b == EXP_NAN)
    return fp32_accumulate(np.asarray(S, dtype=object), e_S, acc, nan)


def dot_groups(exps_a, signs_a, mags_a, exps_b, signs_b, mags_b, ma, mb, group, acc0=0):
    """Dot product of two BFP vectors (last axis) group by group, FP32 accumulator between
    groups: ``acc = dot(group j, acc)`` for j = 0, 1, ... starting from ``acc0`` (FP32 bits).
    A tail group takes part with its own length. Returns uint32 of the leading shape."""
    qa, n = _to_groups(np.asarray(mags_a), group, -1)
    qb, nb = _to_groups(np.asarray(mags_b), group, -1)
    sa, _ = _to_groups(np.asarray(signs_a), group, -1)
    sb, _ = _to_groups(np.asarray(signs_b), group, -1)
    if n != nb or qa.shape != qb.shape:
        raise ValueError("dot_groups needs operands of the same shape")
    ea, eb = np.asarray(exps_a), np.asarray(exps_b)
    lead = qa.shape[:-2]
    acc = np.broadcast_to(np.asarray(acc0, dtype=np.int64), lead).reshape(-1)
    for j in range(qa.shape[-2]):
        acc = dot(ea[..., j].reshape(-1), sa[..., j, :].reshape(-1, group),
                  qa[..., j, :].reshape(-1, group), eb[..., j].reshape(-1),
                  sb[..., j, :].reshape(-1, group), qb[..., j, :].reshape(-1, group),
                  acc, ma, mb).astype(np.int64)
    return acc.astype(np.uint32).reshape(lead)


# catalogue interface: bfp_quantize ------------------------------------------------------------

__all__ += ["quantize_block", "quantize_stimulus", "quantize_corners", "quantize_space",
            "DEFAULT_G", "DEFAULT_M", "DEFAULT_RBITS"]

#: the ``bfp_quantize`` block's defaults (FlexBlock's 16-bit mode on an 864-bit group line)
DEFAULT_G, DEFAULT_M, DEFAULT_RBITS = 54, 16, 8


def quantize_block(inputs, G=DEFAULT_G, m=DEFAULT_M, rounding="rtz", rbits=DEFAULT_RBITS,
                   stages=None):
    """Golden ``bfp_quantize``: one group of G FP32 bit patterns per row, :func:`quantize`.

    Parameters
    ----------
    inputs : dict
        ``{"x": (n, G) int}`` FP32 bit patterns (unsigned 32-bit), plus ``"rand": (n, G) int``
        in [0, 2**rbits) with ``rounding="stochastic"``.
    G, m, rounding, rbits
        As :func:`quantize` (``group=G``; ``rbits`` is used only with "stochastic");
        ``stages`` changes latency only.

    Returns
    -------
    dict of int64 arrays: ``exp`` (n,), ``signs`` (n, G), ``mags`` (n, G), ``zse`` (n,).
    """
    x = np.asarray(inputs["x"], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != G:
        raise ValueError(f"x must have shape (n, {G}), not {x.shape}")
    if np.any((x < 0) | (x >> 32 != 0)):
        raise ValueError("x must hold unsigned 32-bit FP32 bit patterns")
    extra = {}
    if rounding == "stochastic":
        extra = {"rbits": rbits, "rand": np.asarray(inputs["rand"], dtype=np.int64)}
    exps, signs, mags, zse = quantize(x, m, G, -1, rounding, **extra)
    return {"exp": exps[:, 0], "signs": signs, "mags": mags, "zse": zse[:, 0]}


def quantize_space(**params):
    """The input space (2**(32 G) groups, more with random bits) is never exhaustively
    testable."""
    return None


def _fp32(sign, e, frac):
    """FP32 bit patterns from fields (int64 arrays, broadcast)."""
    return (np.asarray(sign, dtype=np.int64) << 31) | (np.asarray(e, dtype=np.int64) << 23) \
        | np.asarray(frac, dtype=np.int64)


def _rounding_fracs(rng, d, m, kind):
    """23-bit fractions of elements at distance d = M - e placed on the rounding boundaries of
    an m-bit magnitude (shift sh = 24 - m + d): kind 0 an exact tie, 1 a tie plus one FP32
    ulp, 2 a tie minus one ulp, 3 all ones below the kept bits (just below a carry), 4 random.
    A tie exists for sh <= 24 (sh = 24: 1.0 itself is half a unit); sh = 0 (m = 24, d = 0)
    has nothing to round."""
    d, kind = np.asarray(d, dtype=np.int64), np.asarray(kind, dtype=np.int64)
    sh = (24 - m) + d
    base = rng.integers(0, 1 << 23, d.shape)
    s = np.clip(sh, 1, 23)
    hi = (base >> s) << s
    tie = np.where(sh >= 24, 0, hi | (1 << (s - 1)))
    ones = np.where(sh >= 24, (1 << 23) - 1, hi | ((1 << s) - 1))
    frac = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                     [tie, tie + 1, tie - 1, ones], base)
    frac = np.where((sh == 0) | (sh > 24), base, frac)
    return frac & ((1 << 23) - 1)


def _random_groups(rng, n, G, m):
    """n random groups of G FP32 bit patterns: a third of them the generic FP32 mix of
    :func:`golden.mx.random_blocks` (all binades, subnormals, sparse, equal and one-hot,
    few mantissa bits, NaN/Inf lanes), the rest shaped around m (see
    :func:`quantize_stimulus`)."""
    from .mx import random_blocks
    kind = rng.choice(4, n, p=[0.34, 0.30, 0.14, 0.22])
    out = np.zeros((n, G), dtype=np.int64)
    sign = rng.integers(0, 2, (n, G))

    def rows(c):
        return np.flatnonzero(kind == c)

    # 0: the generic FP32 mix
    r = rows(0)
    out[r] = random_blocks(rng, len(r), G)
    # 1: exponents spread 0..~2m below a random top: both zero-set and kept elements
    r = rows(1)
    top = rng.integers(1, 255, (len(r), 1))
    spread = rng.integers(m // 2, 2 * m + 5, (len(r), 1))
    e = np.clip(top - rng.integers(0, 1 << 16, (len(r), G)) % (spread + 1), 0, 254)
    frac = rng.integers(0, 1 << 23, (len(r), G))
    v = _fp32(sign[r], e, frac)
    out[r] = np.where(rng.random((len(r), G)) < 0.05, v & (1 << 31), v)
    # 2: one dominant value; the others within m + 2 binades below it or far below
    r = rows(2)
    top = rng.integers(1, 255, (len(r), 1))
    gap = np.where(rng.random((len(r), 1)) < 0.5, rng.integers(m, m + 40, (len(r), 1)), 0)
    e = np.clip(top - gap - rng.integers(1, m + 3, (len(r), G)), 0, 254)
    lead = np.arange(G) == rng.integers(0, G, (len(r), 1))
    e = np.where(lead, top, e)
    out[r] = _fp32(sign[r], e, rng.integers(0, 1 << 23, (len(r), G)))
    # 3: every element on a rounding boundary (ties, tie +- 1 ulp, just below a carry) at a
    # random distance 0..m+1 below the group's top exponent (held by a random lane)
    r = rows(3)
    top = rng.integers(m + 2, 255, (len(r), 1))
    d = rng.integers(0, m + 2, (len(r), G))
    d = np.where(np.arange(G) == rng.integers(0, G, (len(r), 1)), 0, d)
    frac = _rounding_fracs(rng, d, m, rng.integers(0, 5, (len(r), G)))
    out[r] = _fp32(sign[r], top - d, frac)
    return out


def quantize_corners(rng, G=DEFAULT_G, m=DEFAULT_M):
    """Named corner groups: ``(names, x)`` with ``x`` of shape (len(names), G) (see
    :func:`quantize_stimulus` for the list)."""
    names, rows = [], []
    lanes = np.arange(G)

    def add(name, bits):
        names.append(name)
        rows.append(np.resize(np.asarray(bits, dtype=np.int64), G))

    def spread(name, top, entries):
        """elements (d, frac, sign) at distance d below the top exponent; lane 0 holds the
        top (fraction 0) so that M = top, the entries fill the other lanes, several groups if
        needed (G = 1: one group per entry, its own top)"""
        d, frac, sign = (np.asarray(v, dtype=np.int64) for v in entries)
        v = _fp32(sign, top - d, frac)
        if G == 1:
            for j, b in enumerate(v):
                add(f"{name} ({j})", [b])
            return
        for j, i in enumerate(range(0, len(v), G - 1)):
            chunk = v[i:i + G - 1]
            add(f"{name} ({j})", np.concatenate([[_fp32(0, top, 0)], chunk,
                                                 np.zeros(G - 1 - len(chunk), np.int64)]))

    alt = lanes % 2
    # zeros: M = 0, every magnitude 0, no zero-setting error
    add("all +0", np.zeros(G))
    add("all -0", np.full(G, 1 << 31))
    add("alternating +-0", alt << 31)
    # NaN / Inf lanes: M = 255, magnitudes 0, ZSE 0, signs kept
    ordinary = _fp32(lanes % 3 == 1, np.resize([127, 130, 0, 227, 100], G),
                     np.resize([0, 0x600000, 1, 0x7FFFFF, 0x123456], G))
    for special, what in ((0x7FC00000, "qNaN"), (0x7F800000, "+Inf")):
        for pos in sorted({0, G // 2, G - 1}):
            b = ordinary.copy()
            b[pos] = special
            add(f"{what} in lane {pos} among normals", b)
    for special, what in ((0xFF800000, "-Inf"), (0x7F800001, "sNaN"), (0xFFFFFFFF, "-NaN")):
        add(f"{what} in lane {G - 1} among zeros", np.where(lanes == G - 1, special, 0))
    add("all qNaN", np.full(G, 0x7FC00000))
    add("+Inf beside FP32 max", np.where(alt == 1, 0x7F800000, 0x7F7FFFFF))
    # subnormals flush to zero and count as zero-set
    add("all subnormal (M = 0)", (rng.integers(0, 2, G) << 31) | rng.integers(1, 1 << 23, G))
    add("min subnormal alone", np.where(lanes == 0, 1, 0))
    add("max subnormals beside the min normal",
        np.where(lanes == 0, 0x00800000, 0x807FFFFF))
    add("subnormals beside 1.0", np.where(lanes == G - 1, 0x3F800000, 0x00400000 >> (lanes % 23)))
    # the top of the exponent range: M = 254, all-ones mantissas (rne/stochastic carry out of m
    # bits and saturate)
    add("all +-FP32 max", _fp32(alt, 254, (1 << 23) - 1))
    add("FP32 max beside tiny values", np.where(lanes == 0, 0x7F7FFFFF, _fp32(alt, 1, lanes)))
    add("all 1.0 + all-ones mantissa", _fp32(alt, 127, (1 << 23) - 1))
    # a dominant value: everything else zero-set, or nothing zero-set
    add("dominant value, the rest m + 1 binades below",
        np.where(lanes == G // 2, _fp32(1, 200, 0x2AAAAA), _fp32(alt, 200 - m - 1, 0x7FFFFF)))
    add("dominant value, the rest m - 1 binades below",
        np.where(lanes == G // 2, _fp32(0, 200, 0x7FFFFF), _fp32(alt, 201 - m, 0)))
    # elements exactly at distance d (fraction 0, half, all ones) for d = 0..m+1, at three tops
    ds = np.arange(m + 2)
    for top in (254, 127, m + 2):
        fr = np.concatenate([np.zeros_like(ds), np.full_like(ds, 1 << 22),
                             np.full_like(ds, (1 << 23) - 1)])
        dd = np.concatenate([ds, ds, ds])
        spread(f"powers, halves and all-ones at d = 0..{m + 1} below M = {top}", top,
               (dd, fr, dd % 2))
    # rounding boundaries at every distance: exact ties with the kept LSB even and odd, ties
    # +- one FP32 ulp, all ones below the kept bits (just below a carry)
    for top in (254, 131):
        dd = np.repeat(ds, 6)
        kind = np.tile([0, 0, 1, 2, 3, 4], len(ds))
        frac = _rounding_fracs(rng, dd, m, kind)
        sh = (24 - m) + dd
        # the second tie of each distance has the opposite kept LSB (when there is one)
        flip = (np.tile([0, 1, 0, 0, 0, 0], len(ds)) == 1) & (sh < 23)
        frac = np.where(flip, frac ^ (1 << np.clip(sh, 0, 22)), frac)
        spread(f"rounding boundaries at d = 0..{m + 1} below M = {top}", top,
               (dd, frac, (np.arange(len(dd)) // 3) % 2))
    return names, np.array(rows, dtype=np.int64).reshape(-1, G)


def quantize_stimulus(rng, n, exhaustive=False, G=DEFAULT_G, m=DEFAULT_M, rounding="rtz",
                      rbits=DEFAULT_RBITS, stages=None):
    """Inputs of ``bfp_quantize``: ``n`` seeded random groups followed by the corner groups.

    Random groups (:func:`_random_groups`): the generic FP32 mix of ``golden.mx`` (all
    binades, subnormals, sparse, all-equal and one-hot, few mantissa bits, NaN/Inf lanes);
    exponents spread over 0..~2m binades below a random top (many elements zero-set, many
    kept); one dominant value over elements just or far below; elements on rounding boundaries
    (exact ties, tie +- 1 ulp, all ones below the kept bits) at random distances 0..m+1.

    Corner groups (:func:`quantize_corners`, named): all +0, all -0, mixed zeros; qNaN and +Inf
    in the first, middle and last lane among normals, -Inf, sNaN and -NaN among zeros, all NaN,
    +Inf beside FP32 max; all-subnormal groups (M = 0), the min subnormal alone, subnormals
    beside the min normal and beside 1.0; ±FP32 max (M = 254, all-ones mantissas: saturation),
    FP32 max beside tiny values, all-ones mantissas at 1.0; a dominant value with the rest
    m + 1 (all zero-set) or m - 1 (none) binades below; powers of two, halves and all-ones
    mantissas at every distance 0..m+1 below M = 254, 127 and m + 2; exact ties (kept LSB even
    and odd), ties +- 1 ulp and just-below-carry values at every distance 0..m+1.

    With ``rounding="stochastic"`` the random groups get uniform random bits, and the corner
    groups come three times: with uniform random bits, with all 0 and with all 2**rbits - 1.

    Returns
    -------
    dict: ``x`` (n + corners, G) int64 FP32 bit patterns, ``rand`` (same shape) with
    "stochastic".
    """
    if exhaustive:
        raise ValueError("bfp_quantize has no exhaustive input space (2**(32 G) groups)")
    check_group("G", G)
    check_m("m", m)
    check_choice("rounding", rounding, ROUNDINGS)
    check_int("rbits", rbits, 1, _RBITS_MAX)
    x = _random_groups(rng, n, G, m)
    _, corners = quantize_corners(rng, G, m)
    if rounding != "stochastic":
        return {"x": np.concatenate([x, corners])}
    top = 1 << rbits
    nc = len(corners)
    rand = np.concatenate([rng.integers(0, top, (n + nc, G)), np.zeros((nc, G), np.int64),
                           np.full((nc, G), top - 1)])
    return {"x": np.concatenate([x, corners, corners, corners]), "rand": rand}


# catalogue interface: bfp_dot -----------------------------------------------------------------

__all__ += ["dot_block", "dot_stimulus", "dot_corners", "dot_space", "group_sum"]


def group_sum(signs_a, mags_a, signs_b, mags_b):
    """Exact group sums ``sum_i (-1)**(sa_i ^ sb_i) qa_i qb_i`` as int64, shape (n,): every
    product is below 2**48 and a group of up to 2**15 of them below 2**63."""
    qa, qb = np.asarray(mags_a, dtype=np.int64), np.asarray(mags_b, dtype=np.int64)
    neg = (np.asarray(signs_a, dtype=np.int64) ^ np.asarray(signs_b, dtype=np.int64)) != 0
    p = qa * qb
    return np.where(neg, -p, p).sum(axis=-1)


def dot_block(inputs, G=DEFAULT_G, ma=DEFAULT_M, mb=DEFAULT_M, stages=None):
    """Golden ``bfp_dot``: :func:`dot` of one group pair and one accumulator per row.

    ``inputs``: ``exp_a``, ``exp_b`` (n,), ``signs_a``, ``mags_a``, ``signs_b``, ``mags_b``
    (n, G), ``acc`` (n,) FP32 bits. Returns ``{"result": (n,) int64}`` FP32 bits; ``stages``
    changes latency only.
    """
    for f in ("signs_a", "mags_a", "signs_b", "mags_b"):
        shape = np.shape(inputs[f])
        if len(shape) != 2 or shape[1] != G:
            raise ValueError(f"{f} must have shape (n, {G}), not {shape}")
    return {"result": dot(inputs["exp_a"], inputs["signs_a"], inputs["mags_a"],
                          inputs["exp_b"], inputs["signs_b"], inputs["mags_b"], inputs["acc"],
                          ma, mb).astype(np.int64)}


def dot_space(**params):
    """The input space (2**(G (ma + mb + 2) + 48) vectors) is never exhaustively testable."""
    return None


_FP32_ONE, _FP32_MAX = 0x3F800000, 0x7F7FFFFF


def _approx(f, ma, mb):
    """float64 value of each group dot product without the accumulator (NaN for a NaN group)."""
    S = group_sum(f["signs_a"], f["mags_a"], f["signs_b"], f["mags_b"]).astype(np.float64)
    e = ulp_exponent(f["exp_a"], ma) + ulp_exponent(f["exp_b"], mb)
    bad = (np.asarray(f["exp_a"]) == EXP_NAN) | (np.asarray(f["exp_b"]) == EXP_NAN)
    with np.errstate(all="ignore"):
        return np.where(bad, np.nan, np.ldexp(S, e))


def _fp32_data(rng, n, G):
    """FP32 groups of varied dynamic range: N(0, 1) values times 2**(s U(-1, 1)) per element
    (s per group in 0..40 binades) times a group scale 2**b (b ~ N(0, 20), a fifth of the
    groups U(-150, 128): FP32 subnormals, overflow to Inf); a tenth of the groups 70 % zeros."""
    s = rng.uniform(0, 40, (n, 1))
    b = np.where(rng.random((n, 1)) < 0.8, rng.normal(0, 20, (n, 1)),
                 rng.uniform(-150, 128, (n, 1)))
    with np.errstate(all="ignore"):
        x = rng.standard_normal((n, G)) * np.exp2(rng.uniform(-1, 1, (n, G)) * s + b)
        x = np.where((rng.random((n, 1)) < 0.1) & (rng.random((n, G)) < 0.7), 0.0, x)
        return x.astype(np.float32)


def _quantized_groups(rng, n, G, m):
    """(exp, signs, mags) of :func:`quantize` applied to :func:`_fp32_data`, half of the rows
    rounded "rtz" and half "rne"."""
    x = _fp32_data(rng, n, G)
    M, s, q, _ = quantize(x, m, G)
    M2, s2, q2, _ = quantize(x, m, G, rounding="rne")
    rne = rng.random(n) < 0.5
    return (np.where(rne, M2[:, 0], M[:, 0]), np.where(rne[:, None], s2, s),
            np.where(rne[:, None], q2, q))


def _raw_groups(rng, n, G, m):
    """(exp, signs, mags) drawn directly: magnitudes uniform, or sparse (50-97 % zeros), or
    near 2**m - 1, or small (below 2**(m/2)); exponents 127 + N(0, 12) (a seventh uniform in
    0..254, 1 % 255)."""
    kind = rng.random((n, 1))
    q = rng.integers(0, 1 << m, (n, G))
    q = np.where((kind >= 0.4) & (kind < 0.6)
                 & (rng.random((n, G)) < rng.uniform(0.5, 0.97, (n, 1))), 0, q)
    q = np.where((kind >= 0.6) & (kind < 0.8), (1 << m) - 1 - rng.integers(0, 4, (n, G)), q)
    q = np.where(kind >= 0.8, rng.integers(0, 1 << (m // 2), (n, G)), q)
    s = rng.integers(0, 2, (n, G))
    ek = rng.random(n)
    M = np.clip(np.round(rng.normal(127, 12, n)), 0, 254).astype(np.int64)
    M = np.where(ek < 0.14, rng.integers(0, 255, n), M)
    M = np.where(ek > 0.99, EXP_NAN, M)
    return M, s, q


def _dot_random(rng, n, G, ma, mb):
    """n random group pairs: 55 % quantized FP32 data, 45 % raw groups (per side), with
    accumulators from :func:`golden.mx_dot.random_accumulators` (mostly comparable to the group
    product, so they cancel, plus every range and the specials)."""
    from .mx_dot import random_accumulators
    out = {}
    real = rng.random(n) < 0.55
    for side, m in (("a", ma), ("b", mb)):
        Mq, sq, qq = _quantized_groups(rng, n, G, m)
        Mr, sr, qr = _raw_groups(rng, n, G, m)
        out["exp_" + side] = np.where(real, Mq, Mr)
        out["signs_" + side] = np.where(real[:, None], sq, sr)
        out["mags_" + side] = np.where(real[:, None], qq, qr)
    out["acc"] = random_accumulators(rng, _approx(out, ma, mb))
    return out


def dot_corners(rng, G=DEFAULT_G, ma=DEFAULT_M, mb=DEFAULT_M):
    """Named corner vectors: ``(names, fields)`` (see :func:`dot_stimulus` for the list)."""
    from .accumulate import FP32_NAN
    names, rows = [], []
    qmax_a, qmax_b = (1 << ma) - 1, (1 << mb) - 1
    top_a, top_b = 1 << (ma - 1), 1 << (mb - 1)
    lanes = np.arange(G)
    alt = lanes % 2

    def add(name, ea, sa, qa, eb, sb, qb, acc):
        names.append(name)
        rows.append((int(ea), np.resize(np.asarray(sa, dtype=np.int64), G),
                     np.resize(np.asarray(qa, dtype=np.int64), G), int(eb),
                     np.resize(np.asarray(sb, dtype=np.int64), G),
                     np.resize(np.asarray(qb, dtype=np.int64), G), int(acc) & 0xFFFFFFFF))

    def onehot(v, pos=0):
        return np.where(lanes == pos, v, 0)

    def rounded(ea, sa, qa, eb, sb, qb):
        """FP32 bits of the group product alone (acc = +0)."""
        return int(dot([ea], [np.resize(sa, G)], [np.resize(qa, G)], [eb], [np.resize(sb, G)],
                       [np.resize(qb, G)], [0], ma, mb)[0])

    def exps_for(total):
        """(Ma, Mb) with Ma + Mb = total, both in 0..254 (total clipped to 0..508)."""
        total = int(np.clip(total, 0, 508))
        return min(254, total), total - min(254, total)

    rand_qa, rand_qb = rng.integers(0, 1 << ma, G), rng.integers(0, 1 << mb, G)
    rand_sa, rand_sb = rng.integers(0, 2, G), rng.integers(0, 2, G)
    specials = ((0, "+0"), (1 << 31, "-0"), (_FP32_ONE, "1.0"), (_FP32_ONE | 1 << 31, "-1.0"),
                (1, "min subnormal"), (1 | 1 << 31, "-min subnormal"),
                (0x00800000, "min normal"), (_FP32_MAX, "FP32 max"),
                (_FP32_MAX | 1 << 31, "-FP32 max"), (0x7F800000, "+Inf"),
                (0xFF800000, "-Inf"), (FP32_NAN, "qNaN"), (0xFFFFFFFF, "-NaN"),
                (0x7F800001, "sNaN"))
    # all-zero groups: the result is c (+0 for c = ±0)
    for acc, what in specials:
        add(f"zero groups, c = {what}", 127, 0, 0, 127, 0, 0, acc)
    for ea, eb, sa, sb in ((0, 0, alt, 1 - alt), (254, 254, 1, 1), (0, 254, 1, 0)):
        for acc, what in specials[:2]:
            add(f"zero groups with signs at M = {ea}, {eb}, c = {what}", ea, sa, 0, eb, sb, 0,
                acc)
    # c = ±0, ±Inf and NaNs with a random group pair
    for acc, what in specials:
        add(f"random groups, c = {what}", 127, rand_sa, rand_qa, 120, rand_sb, rand_qb, acc)
    # a NaN group (M = 255) on either side or both, whatever c is
    for ea, eb in ((255, 127), (127, 255), (255, 255), (255, 0)):
        for acc, what in ((0, "+0"), (_FP32_ONE, "1.0"), (0x7F800000, "+Inf"),
                          (0xFF800000, "-Inf"), (FP32_NAN, "qNaN")):
            add(f"M = {ea}, {eb} (NaN group), random magnitudes, c = {what}", ea, rand_sa,
                rand_qa, eb, rand_sb, rand_qb, acc)
        add(f"M = {ea}, {eb} (NaN group), zero magnitudes", ea, 0, 0, eb, 0, 0, 0)
    # max magnitudes everywhere at the largest exponents: overflow to ±Inf (or to ±Inf c)
    for sa, sb, what in ((0, 0, "+"), (1, 0, "-"), (alt, 0, "alternating")):
        for acc, cw in ((0, "+0"), (_FP32_MAX, "FP32 max"), (_FP32_MAX | 1 << 31, "-FP32 max"),
                        (0x7F800000, "+Inf"), (0xFF800000, "-Inf")):
            add(f"max magnitudes {what} at M = 254, 254, c = {cw}", 254, sa, qmax_a, 254, sb,
                qmax_b, acc)
    # the overflow edge: all-max groups at the exponent sums where FP32 max is crossed
    ts = np.arange(509)
    zeros = np.zeros((len(ts), G), dtype=np.int64)
    full = dot(np.minimum(ts, 254), zeros, zeros + qmax_a, ts - np.minimum(ts, 254), zeros,
               zeros + qmax_b, np.zeros(len(ts), dtype=np.int64), ma, mb)
    inf = np.flatnonzero(full == 0x7F800000)
    if len(inf):
        edge = int(inf[0])
        for t in range(edge - 2, edge + 2):
            ea, eb = exps_for(t)
            for acc in (0, _FP32_MAX | 1 << 31):
                add(f"max magnitudes at M_a + M_b = {t} (overflow edge {edge})", ea, 0, qmax_a,
                    eb, 0, qmax_b, acc)
    # exponent-0 groups (the smallest unit) and tiny results: FP32 subnormals and underflow
    for ea, eb in ((0, 0), (0, 127), (127, 0)):
        for acc in (0, 1 << 31, 1, _FP32_ONE):
            add(f"max magnitudes at M = {ea}, {eb}, c = {acc:#x}", ea, 0, qmax_a, eb, alt,
                qmax_b, acc)
    for trial in range(4):
        qa = rng.integers(0, 1 << ma, G)
        qb = rng.integers(0, 1 << mb, G)
        if trial % 2:
            qa = np.where(rng.random(G) < 0.8, 0, qa)
        sa, sb = rng.integers(0, 2, G), rng.integers(0, 2, G)
        S = int(group_sum(sa, qa, sb, qb))
        if S == 0:
            continue
        # the leading one of the group product at 2**lead: unit exponent lead - bits + 1
        bits = abs(S).bit_length()
        for lead in (-170, -151, -150, -149, -140, -127, -126, -125):
            ea, eb = exps_for(lead - bits + 1 + 254 + (ma - 1) + (mb - 1))
            for acc in (0, 1 << 31, 1, 0x807FFFFF):
                add(f"random groups with the sum's leading one at 2**{lead}, c = {acc:#x}",
                    ea, sa, qa, eb, sb, qb, acc)
    # one-hot groups: a single product in the first, middle or last lane
    for pos in sorted({0, G // 2, G - 1}):
        for qa, qb, what in ((qmax_a, qmax_b, "max x max"), (1, 1, "1 x 1"),
                             (top_a, qmax_b, "top x max")):
            for ea, eb in ((127, 127), (254, 200), (20, 30)):
                add(f"one-hot {what} in lane {pos} at M = {ea}, {eb}", ea, onehot(1, pos),
                    onehot(qa, pos), eb, 0, onehot(qb, pos), _FP32_ONE)
        if G > 1:  # nonzero lanes that do not meet: the sum is 0, the result +0
            add(f"one-hot in lanes {pos} and {(pos + 1) % G}: no product", 127, 0,
                onehot(qmax_a, pos), 127, 0, onehot(qmax_b, (pos + 1) % G), 1 << 31)
    # cancellation inside the group: products that cancel exactly, or to a residue of 1
    if G >= 2:
        half = G // 2
        for trial in range(4):
            qa = rng.integers(0, 1 << ma, half)
            qb = rng.integers(0, 1 << mb, half)
            if trial == 0:
                qa[:], qb[:] = qmax_a, qmax_b
            pad = np.zeros(G - 2 * half, dtype=np.int64)
            qa2, qb2 = np.concatenate([qa, qa, pad]), np.concatenate([qb, qb, pad])
            sb2 = np.concatenate([np.zeros(half, np.int64), np.ones(half, np.int64), pad])
            ea, eb = int(rng.integers(100, 160)), int(rng.integers(100, 160))
            for acc in (0, 1 << 31, 1):
                add(f"group products cancelling exactly ({trial}), c = {acc:#x}", ea, 0, qa2,
                    eb, sb2, qb2, acc)
            if G > 2 * half:
                add(f"group products cancelling to a residue of 1 ({trial})", ea, 0,
                    np.where(lanes == G - 1, 1, qa2), eb, sb2,
                    np.where(lanes == G - 1, 1, qb2), 0)
    # c cancelling the group product: exactly (a sum of at most 24 bits, so -c is exact),
    # to the rounding error of FP32, and to a few ulps
    for trial in range(8):
        if trial < 4:
            k = int(rng.integers(1, min(G, 3) + 1))
            qa = np.where(lanes < k, rng.integers(1, 1 << min(ma, 11), G), 0)
            qb = np.where(lanes < k, rng.integers(1, 1 << min(mb, 11), G), 0)
        else:
            qa, qb = rng.integers(0, 1 << ma, G), rng.integers(0, 1 << mb, G)
        sa, sb = rng.integers(0, 2, G), rng.integers(0, 2, G)
        ea, eb = int(rng.integers(60, 190)), int(rng.integers(60, 190))
        r = rounded(ea, sa, qa, eb, sb, qb)
        if (r & 0x7F800000) == 0x7F800000 or (r & 0x7FFFFFFF) == 0:
            continue
        for d in (0, 1, -1, 2):
            add(f"c = -(the rounded group product) {d:+d} ulp ({trial})", ea, sa, qa, eb, sb, qb,
                (r ^ 1 << 31) + d)
        add(f"c = the rounded group product ({trial})", ea, sa, qa, eb, sb, qb, r)
    # RNE ties and sticky: the group's top bit (2**(ma-1) x 2**(mb-1)) at 2**e, half an ulp of
    # c, alone or with a 1 x 1 product below it of either sign (just above / below the tie)
    for accv, e in ((_FP32_ONE, -24), (0x3F800001, -24), (0x3FFFFFFF, -23), (_FP32_MAX, 103),
                    (0x00800000, -150), (0x00000001, -150), (0x4B000000, -1),
                    (0x4B000001, -1)):
        ea, eb = exps_for(254 + e)
        for tiny in (None, 0, 1):
            qa, qb = onehot(top_a), onehot(top_b)
            sb = np.zeros(G, dtype=np.int64)
            if tiny is not None and G > 1:
                qa, qb = qa + onehot(1, 1), qb + onehot(1, 1)
                sb = onehot(tiny, 1)
            for flip in (0, 1):
                add(f"tie at c = {accv:#x} (e = {e}), low product {tiny}, c sign {flip}", ea,
                    0, qa, eb, sb, qb, accv | flip << 31)
    # alignment: a one-hot top x top product at distance d from c = 1.x (both edges of the
    # sticky window) and an all-max group (a sum with its top bound far above its value)
    for d in range(-60, 61, 3):
        for q_a, q_b, what in ((onehot(top_a), onehot(top_b), "one-hot"),
                               (onehot(1), onehot(1), "1 x 1")):
            ea, eb = exps_for(254 + d + (ma - 1 + mb - 1 if what == "1 x 1" else 0))
            add(f"{what} product at 2**{d} beside c = 1.x", ea, 0, q_a, eb, d % 2, q_b,
                _FP32_ONE | int(rng.integers(0, 1 << 23)) | (d % 4 // 2) << 31)
    ea, sa, qa, eb, sb, qb, acc = zip(*rows)
    return names, {"exp_a": np.array(ea, dtype=np.int64), "signs_a": np.array(sa),
                   "mags_a": np.array(qa), "exp_b": np.array(eb, dtype=np.int64),
                   "signs_b": np.array(sb), "mags_b": np.array(qb),
                   "acc": np.array(acc, dtype=np.int64)}


def dot_stimulus(rng, n, exhaustive=False, G=DEFAULT_G, ma=DEFAULT_M, mb=DEFAULT_M,
                 stages=None):
    """Inputs of ``bfp_dot``: ``n`` seeded random group pairs followed by the corner vectors.

    Random pairs (per side): 55 % realistic BFP groups, :func:`quantize` ("rtz" or "rne") of
    FP32 data with 0..40 binades of spread inside a group and group scales from subnormal to
    overflow; 45 % raw groups (uniform, sparse, near-max or small magnitudes; exponents around
    127, uniform, rarely 255). Accumulators mostly comparable to the group product (so they
    cancel), otherwise from every range (:func:`golden.mx_dot.random_accumulators`).

    Corners (:func:`dot_corners`, named): all-zero groups with every special c (+0 for c = ±0)
    and with signs at extreme exponents; c = ±0, ±Inf and NaNs with a random pair; exponent 255
    on either side or both; max magnitudes everywhere at M = 254 (overflow to ±Inf) and at
    every exponent sum around the overflow edge; exponent-0 groups; random groups placed so the
    result is an FP32 subnormal or underflows; one-hot groups (first, middle, last lane) and
    one-hot lanes that do not meet; products cancelling exactly or to a residue of 1; c
    cancelling the group product exactly, to the rounding error and to a few ulps; RNE ties
    with and without a smaller product of either sign; a one-hot product swept across c's
    alignment window.
    """
    if exhaustive:
        raise ValueError("bfp_dot has no exhaustive input space")
    check_group("G", G)
    check_m("ma", ma)
    check_m("mb", mb)
    rand = _dot_random(rng, n, G, ma, mb)
    _, corners = dot_corners(rng, G, ma, mb)
    return {f: np.concatenate([rand[f], corners[f]]) for f in corners}
