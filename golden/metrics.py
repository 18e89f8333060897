"""Quantization error metrics in float64: :func:`sqnr_db`, :func:`max_rel_err`,
:func:`flush_fraction` and the selection helper :func:`pair`.

One definition for the numerics studies (``studies.common`` re-exports them) and for the tensor
API's summary (``mxforge.tensors``, docs/quantize.md "Metrics"). ``x`` is the reference (FP32
values), ``q`` its quantized values; ``where`` selects the elements a metric is taken over.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["pair", "sqnr_db", "max_rel_err", "flush_fraction"]


def pair(x, q, where=None):
    """``x`` and ``q`` as flat float64 arrays of the elements ``where`` selects (default all).

    Raises
    ------
    ValueError
        When the two arrays differ in shape.
    """
    x = np.asarray(x, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if x.shape != q.shape:
        raise ValueError(f"reference and quantized arrays differ in shape: {x.shape} vs {q.shape}")
    if where is not None:
        where = np.broadcast_to(np.asarray(where, dtype=bool), x.shape)
        x, q = x[where], q[where]
    return x.ravel(), q.ravel()


def sqnr_db(x, q, where=None) -> float:
    """Signal-to-quantization-noise ratio 10 log10(sum x^2 / sum (x - q)^2) in dB.

    The sums are float64 over the elements selected by ``where`` (default all). ``x`` and ``q``
    are FP32 and golden (at most 24-bit) values of nearby magnitudes (or q = 0), so each
    difference is exact in float64 and only the squares and sums round. Returns ``inf`` when
    q == x on the selection, ``-inf`` when the noise is infinite (a finite x quantized to ±Inf),
    ``nan`` when the selection is empty or all zero.
    """
    x, q = pair(x, q, where)
    sig = float(np.sum(x * x))
    with np.errstate(over="ignore", invalid="ignore"):
        err = float(np.sum((x - q) ** 2))
    if x.size == 0 or sig == 0.0:
        return math.nan
    if err == 0.0:
        return math.inf
    if math.isinf(err):
        return -math.inf
    return 10.0 * math.log10(sig / err)


def max_rel_err(x, q, where=None) -> float:
    """max |x - q| / |x| over the nonzero ``x`` selected by ``where``; ``nan`` if there are none.

    A value flushed to zero counts with relative error 1; callers that want the error of the
    values a format is meant to hold select them with ``where`` (e.g. ``|x| >= t * block_max``,
    or ``q != 0`` when the flushed ones are counted by :func:`flush_fraction`).
    """
    x, q = pair(x, q, where)
    nz = x != 0
    if not np.any(nz):
        return math.nan
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.max(np.abs(x[nz] - q[nz]) / np.abs(x[nz])))


def flush_fraction(x, q, where=None) -> float:
    """Fraction of the nonzero ``x`` (selected by ``where``) whose quantized value is zero;
    ``nan`` if there are none."""
    x, q = pair(x, q, where)
    nz = x != 0
    if not np.any(nz):
        return math.nan
    return float(np.mean(q[nz] == 0))
