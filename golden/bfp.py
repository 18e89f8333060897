"""Block floating point (FlexBlock, LightNorm): group quantization and the fused group dot product
(numerics §5).

A group of G FP32 values along an axis shares the 8-bit exponent M = the largest biased FP32
exponent field in the group. Element i becomes a sign bit s_i (the input's sign bit, kept also
when the magnitude is 0) and an m-bit unsigned magnitude q_i (m counts the hidden bit)::

    q_i = round(|x_i| / 2**(M - 127 - (m - 1))),   value_i = (-1)**s_i * q_i * 2**(M - 127 - (m - 1))

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
    counts zeros; numerics §5 counts only values that were actually set to zero.)
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
#: magnitude bits (the hidden bit counted), numerics §5
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
    """Group-quantize FP32 values to BFP (numerics §5; rules in the module docstring).

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
    """Fused group dot product with FP32 accumulate, rounded once (numerics §5).

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
