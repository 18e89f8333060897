"""The two accumulation rules every golden model shares (docs/numerics.md §3.3, §4.5):

- :func:`pairwise`: THE reduction order of every tree in the project: (v0 + v1), (v2 + v3), ...
  level by level, an odd last value passing up unchanged. Its hardware twin is
  :func:`hw.lib.trees.reduce_tree`; for a rounded addition the order is the bit-exactness
  contract, so every golden tree sum goes through this one function.
- :func:`fp32_accumulate`: the fused FP32 accumulate step of every block-scaled dot product.

``out = RNE_fp32(c + S * 2**e_S)`` with ``S`` an exact integer block sum: ``S`` and ``c`` are
added exactly (Python integers, both aligned to ``min(e_S, e_c)``) and rounded once (round to
nearest even, overflow to ±Inf, gradual underflow). Specials: NaN if ``nan`` (the block's own
NaN conditions), ``c`` is NaN, or +Inf meets -Inf (``pinf``/``ninf`` from the block, or ``c``);
otherwise an Inf gives Inf of its sign. An exactly zero result is +0 (also for ``c = -0`` plus a
zero block: the spec's rule, not IEEE 754's -0 + -0 = -0). NaN is the canonical 0x7FC00000.
"""
from __future__ import annotations

import numpy as np

from .formats import FP32, canonical_nan, encode_exact, fields

__all__ = ["pairwise", "fp32_accumulate", "FP32_NAN"]

FP32_NAN = canonical_nan(FP32)  # 0x7FC00000


def pairwise(values, add):
    """Reduce the last axis of ``values`` in the project's tree order.

    Level by level: (v0 + v1), (v2 + v3), ...; an odd last value passes to the next level
    unchanged. ``add(a, b)`` is one (rounded, for floating point) addition of two arrays of
    equal shape, applied to whole levels at once (e.g. ``np.add`` on float32 arrays, or
    ``lambda a, b: golden.formats.add(a, b, fmt, rounding)`` on codes).

    Returns
    -------
    ndarray
        ``values.shape[:-1]``.
    """
    v = np.asarray(values)
    if v.shape[-1] == 0:
        raise ValueError("pairwise needs at least one value along the last axis")
    while v.shape[-1] > 1:
        m = v.shape[-1] - v.shape[-1] % 2
        nxt = add(v[..., 0:m:2], v[..., 1:m:2])
        if m < v.shape[-1]:
            nxt = np.concatenate([nxt, v[..., m:]], axis=-1)
        v = np.asarray(nxt)
    return v[..., 0]


def fp32_accumulate(S, e_S, acc, nan=False, pinf=False, ninf=False):
    """``RNE_fp32(acc + S * 2**e_S)`` with the special rules of the module docstring.

    Parameters
    ----------
    S : array_like of int (object arrays of Python ints allowed), shape (n,)
        Exact block sums.
    e_S : array_like of int, shape (n,)
        Exponent of the sum's unit.
    acc : array_like of int, shape (n,)
        FP32 bit patterns of the accumulator ``c``.
    nan, pinf, ninf : array_like of bool, shape (n,)
        The block's own NaN and ±Inf conditions (before ``c`` is considered).

    Returns
    -------
    ndarray of uint32, shape (n,)
    """
    S = np.asarray(S, dtype=object)
    e_S = np.asarray(e_S, dtype=np.int64)
    acc = np.asarray(acc, dtype=np.int64) & 0xFFFFFFFF
    C = fields(acc, FP32)
    nan = np.asarray(nan, dtype=bool) | (C["nan"] != 0)
    pinf = np.asarray(pinf, dtype=bool) | ((C["inf"] != 0) & (C["sign"] == 0))
    ninf = np.asarray(ninf, dtype=bool) | ((C["inf"] != 0) & (C["sign"] != 0))
    nan = nan | (pinf & ninf)
    ec = C["exp"]
    e = np.minimum(e_S, ec)
    cval = C["sig"].astype(object) << (ec - e).astype(object)
    cval = np.where(C["sign"] != 0, -cval, cval)
    total = cval + S * (np.ones_like(e, dtype=object) << (e_S - e).astype(object))
    total = np.asarray(total, dtype=object)
    neg = np.asarray(total < 0, dtype=bool)
    mag = np.where(neg, -total, total)
    out = encode_exact(neg.astype(np.int64), mag, e, FP32, "rne", "nonsat")
    inf_code = 0xFF << FP32.mbits
    out = np.where(pinf | ninf, np.where(ninf, inf_code | 1 << 31, inf_code), out)
    out = np.where(nan, FP32_NAN, out)
    return out.astype(np.uint32)
