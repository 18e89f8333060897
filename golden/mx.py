"""OCP MX block numerics (numerics §4): element + scale decode.

Block quantization and the dot product join this module with the MX issue.
"""
from __future__ import annotations

import numpy as np

from .formats import E8M0, fields, get_format

__all__ = ["decode_fields", "decode_stimulus", "decode_space"]


def decode_fields(inputs, elem="e4m3", pipeline=False):
    """Golden ``mx_decode``: exact fields of scale * element.

    Exact by construction: integer arithmetic only. ``exp`` is the element exponent of
    ``golden.formats.fields`` plus the unbiased scale; a NaN scale makes the whole output the
    canonical NaN. ``pipeline`` changes latency only.
    """
    fmt = get_format(elem)
    scale = np.asarray(inputs["scale"], dtype=np.int64)
    f = fields(inputs["code"], fmt)
    scale_nan = scale == E8M0.nan_code
    nan = (f["nan"] != 0) | scale_nan
    special = nan | (f["inf"] != 0) | (f["sig"] == 0)
    return {
        "sign": np.where(nan, 0, f["sign"]),
        "sig": np.where(special, 0, f["sig"]),
        "exp": np.where(special, 0, f["exp"] + scale - E8M0.bias),
        "inf": np.where(nan, 0, f["inf"]),
        "nan": nan.astype(np.int64),
    }


def decode_space(elem="e4m3", pipeline=False):
    """Size of the input space of ``mx_decode``: every scale x every code."""
    return (1 << E8M0.width) << get_format(elem).width


def decode_stimulus(rng, n, exhaustive=False, elem="e4m3", pipeline=False):
    """Inputs of ``mx_decode``: the whole (scale, code) space, or ``n`` random pairs."""
    width = get_format(elem).width
    if exhaustive:
        allv = np.arange(decode_space(elem), dtype=np.int64)
        return {"scale": allv >> width, "code": allv & ((1 << width) - 1)}
    return {
        "scale": rng.integers(0, 1 << E8M0.width, n, dtype=np.int64),
        "code": rng.integers(0, 1 << width, n, dtype=np.int64),
    }
