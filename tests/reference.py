"""Independent references shared by the tests: element values from ml_dtypes where it has the
format, else from the spec's formulas typed here (never from golden/)."""
import re

import ml_dtypes
import numpy as np

ML_DTYPES = {
    "e5m2": ml_dtypes.float8_e5m2,
    "e4m3": ml_dtypes.float8_e4m3fn,
    "e3m2": ml_dtypes.float6_e3m2fn,
    "e2m3": ml_dtypes.float6_e2m3fn,
    "e2m1": ml_dtypes.float4_e2m1fn,
}


def element_value(elem, code):
    """Exact float value of one MX element code (NaN/Inf included)."""
    if elem in ML_DTYPES:
        return float(np.array([code], np.uint8).view(ML_DTYPES[elem])[0])
    if elem == "mxint8":  # numerics §1: two's complement / 64
        return (code - 256 if code >= 128 else code) / 64
    if elem == "e2m5":  # numerics §1: MX-SAFE's wide mode as a format of its own (bias 1)
        s, e, m = code >> 7, (code >> 5) & 3, code & 31
        mag = (1 + m / 32) * 2.0 ** (e - 1) if e else (m / 32) * 2.0 ** (1 - 1)
        return -mag if s else mag
    mxsf = re.fullmatch(r"mxsf(?:_b(\d+))?", elem)
    if mxsf:  # numerics §6: sub_ebits=3, sub_mbits=2, sub_bias 8 unless the name says
        bias = int(mxsf.group(1) or 8)
        s, e2, m5 = code >> 7, (code >> 5) & 3, code & 31
        if e2:
            mag = (1 + m5 / 32) * 2.0 ** (e2 - 1)
        else:
            e3, m2 = m5 >> 2, m5 & 3
            mag = (1 + m2 / 4) * 2.0 ** (e3 - bias) if e3 else (m2 / 4) * 2.0 ** (1 - bias)
        return -mag if s else mag
    raise AssertionError(elem)
