"""OCP MX block numerics (docs/numerics.md §4): element + scale decode, block quantization.

The dot product joins this module with the MX issue.
"""
from __future__ import annotations

import numpy as np

from .checks import check_choice
from .formats import (E8M0, FP32, MX_ELEMENTS, PLAIN_ROUNDINGS, IntFormat, MxsfFormat, decode,
                      fields, get_format, magnitudes)

__all__ = ["decode_fields", "decode_stimulus", "decode_space",
           "quantize", "dequantize", "shared_exponent", "SCALE_ROUNDINGS", "QUANT_ROUNDINGS",
           "quantize_block", "quantize_stimulus", "quantize_space", "quantize_tiled",
           "dequantize_tiled", "mxsf_quantize_block", "mxsf_quantize_stimulus", "random_blocks"]

#: scale rounding of docs/numerics.md §4 rule 3: OCP "floor" and NVIDIA's "ceil" (RCEIL)
SCALE_ROUNDINGS = ("floor", "ceil")
#: element rounding modes of the block quantizer (stochastic rounding is not an MX option here)
QUANT_ROUNDINGS = PLAIN_ROUNDINGS

_SIGN = np.uint32(0x80000000)
_EXP_ALL = 0x7F800000        # |bits| >= this: Inf or NaN
_FRAC = 0x7FFFFF
_MANT_BITS = FP32.mbits      # 23
_SUB_EXP = FP32.emin - FP32.mbits  # -149: exponent of an FP32 subnormal's frac LSB


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


# ---------------------------------------------------------------------------------------------
# Block quantization (docs/numerics.md §4)
# ---------------------------------------------------------------------------------------------

def _mx_elem(elem):
    """An MX element format by name, or any MXINT-b descriptor (``golden.formats.mxint``)."""
    if isinstance(elem, IntFormat):
        return elem
    return get_format(elem, MX_ELEMENTS)


def _check_block(block):
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive integer, not {block!r}")
    return int(block)


def _as_float32(x):
    """``x`` as a float32 array; other real dtypes only if every value is exactly an FP32."""
    x = np.asarray(x)
    if x.dtype == np.float32:
        return x
    if x.dtype.kind not in "fiu":
        raise ValueError(f"x must be a float32 array, not dtype {x.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        x32 = x.astype(np.float32)
        same = (x32.astype(x.dtype) == x) | (np.isnan(x32) & np.isnan(x.astype(np.float64)))
    if not np.all(same):
        raise ValueError(f"x must be a float32 array; this {x.dtype} array holds values that "
                         f"are not FP32 numbers (convert explicitly to choose the rounding)")
    return x32


def _floor_log2(mag_bits):
    """floor(log2 |x|) of nonzero finite FP32 magnitudes given as int64 bit patterns: the
    exponent field minus the bias for normals, the leading-one position for subnormals (exact:
    ``frexp`` of an integer below 2**23 is exact)."""
    biased = mag_bits >> _MANT_BITS
    frac = mag_bits & _FRAC
    lead = np.frexp(frac.astype(np.float64))[1].astype(np.int64) - 1   # bit_length - 1
    return np.where(biased != 0, biased - FP32.bias, lead + _SUB_EXP)


def shared_exponent(amax_bits, elem, scale_rounding="floor"):
    """Unclamped, unspecialised shared exponent E of docs/numerics.md §4 rule 3 from the block
    maxima.

    Parameters
    ----------
    amax_bits : array_like of int
        FP32 bit patterns of the block maxima |V| (finite, sign 0; 0 allowed).
    elem : str or format
    scale_rounding : {"floor", "ceil"}

    Returns
    -------
    ndarray of int64
        E before clamping to [-127, 127] (amax = 0 gives -127 - ``emax_elem``, any value below
        -127 does). "floor": floor(log2 amax) - emax_elem. "ceil": that E plus one when
        amax / 2**E > max finite (then amax / 2**(E+1) < 2**emax_elem <= max finite, so this is
        the smallest E with amax / 2**E <= max finite). The comparison is exact: amax is an
        FP32 value, the power-of-two scaling is exact in float64 and ``max_finite`` is a
        float64 number.
    """
    fmt = _mx_elem(elem)
    check_choice("scale_rounding", scale_rounding, SCALE_ROUNDINGS)
    a = np.asarray(amax_bits, dtype=np.int64)
    zero = a == 0
    lg = _floor_log2(np.where(zero, 1, a))
    e = np.where(zero, E8M0.emin - fmt.emax_elem, lg - fmt.emax_elem)
    if scale_rounding == "ceil":
        amax = a.astype(np.uint32).view(np.float32).astype(np.float64)
        over = np.ldexp(amax, (-e).astype(np.int32)) > fmt.max_finite
        e = e + (over & ~zero)
    return e


def quantize(x, elem, block=32, axis=-1, rounding="rne", scale_rounding="floor",
             flush_subnormals=False):
    """Quantize FP32 values to MX blocks along ``axis`` (docs/numerics.md §4).

    Parameters
    ----------
    x : array_like
        FP32 values (float32; another dtype only if every value is exactly an FP32 number).
    elem : str
        Element format, one of ``golden.formats.MX_ELEMENTS``.
    block : int
        Block size k. The last block along ``axis`` may be shorter (``x.shape[axis] % k``).
    axis : int
    rounding : {"rne", "rna", "rtz"}
        Element rounding (docs/numerics.md §2).
    scale_rounding : {"floor", "ceil"}
        "floor": E = floor(log2 amax) - emax_elem (OCP; the block maximum may saturate);
        "ceil": the smallest E with amax / 2**E <= max finite (nothing saturates unless E is
        clamped at 127).
    flush_subnormals : bool
        Treat FP32 subnormal inputs as zeros of their sign (for amax and as elements).

    Returns
    -------
    scale_codes : ndarray of uint8
        E8M0 codes, the shape of ``x`` with ``axis`` of length ceil(n / k).
    elem_codes : ndarray of uint8
        Element codes (every MX element has at most 8 bits), the shape of ``x``.

    Rules, per block V (docs/numerics.md §4): (1) any NaN or ±Inf: scale 0xFF, every element code 0;
    (2) amax = 0: scale code 0 and signed zeros (falls out of rule 4 with E = -127);
    (3) E from :func:`shared_exponent`, clamped to [-127, 127], scale code E + 127;
    (4) P_i = ``encode(V_i / 2**E, elem, rounding, "saturate")``.

    Exactness: amax is taken as the maximum of the FP32 magnitude bit patterns (ordered like
    the values for finite FP32), floor(log2) is read from its bits; V_i / 2**E is an ``ldexp``
    of a float64 holding the FP32 value exactly, and with |E| <= 127 the result stays inside
    float64's normal range, so it is exact; the only rounding is ``golden.formats.encode``'s.
    """
    fmt = _mx_elem(elem)
    k = _check_block(block)
    check_choice("rounding", rounding, QUANT_ROUNDINGS)
    check_choice("scale_rounding", scale_rounding, SCALE_ROUNDINGS)
    if not isinstance(flush_subnormals, (bool, np.bool_)):
        raise TypeError(f"flush_subnormals must be a bool, not {flush_subnormals!r}")
    x = _as_float32(x)
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension")
    axis = _norm_axis(axis, x.ndim)
    xm = np.moveaxis(x, axis, -1)
    n = xm.shape[-1]
    nb = -(-n // k)
    bits = np.ascontiguousarray(xm).view(np.uint32).astype(np.int64)
    mag = bits & 0x7FFFFFFF
    if flush_subnormals:
        sub = (mag != 0) & (mag < (1 << _MANT_BITS))
        bits = np.where(sub, bits & 0x80000000, bits)
        mag = np.where(sub, 0, mag)
    # pad the tail block with +0: it changes neither amax nor the NaN/Inf test
    pad = nb * k - n
    if pad:
        widths = [(0, 0)] * (bits.ndim - 1) + [(0, pad)]
        bits, mag = np.pad(bits, widths), np.pad(mag, widths)
    bshape = bits.shape[:-1] + (nb, k)
    bits, mag = bits.reshape(bshape), mag.reshape(bshape)
    special = np.any(mag >= _EXP_ALL, axis=-1)
    amax = np.where(special, 0, mag.max(axis=-1, initial=0))
    e = np.clip(shared_exponent(amax, fmt, scale_rounding), E8M0.emin, E8M0.emax)
    vals = np.where(special[..., None], 0, bits).astype(np.uint32).view(np.float32)
    scaled = np.ldexp(vals.astype(np.float64), (-e)[..., None].astype(np.int32))
    codes = _encode(scaled, fmt, rounding)
    codes = np.where(special[..., None], 0, codes)
    scale = np.where(special, E8M0.nan_code, e + E8M0.bias)
    codes = codes.reshape(bshape[:-2] + (nb * k,))[..., :n]
    return (np.moveaxis(scale.astype(np.uint8), -1, axis),
            np.moveaxis(codes.astype(np.uint8), -1, axis))


def _encode(values, fmt, rounding):
    from .formats import encode
    return encode(values, fmt, rounding, "saturate")


def _norm_axis(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -ndim <= axis < ndim:
        raise ValueError(f"axis must be an integer in {-ndim}..{ndim - 1}, not {axis!r}")
    return int(axis) % ndim


def dequantize(scale_codes, elem_codes, elem, block=32, axis=-1):
    """Values of MX blocks: element value * 2**(scale - 127), as float64 (exact).

    Parameters
    ----------
    scale_codes : array_like of int
        E8M0 codes, the shape of ``elem_codes`` with ``axis`` of length ceil(n / k).
    elem_codes : array_like of int
    elem : str
    block : int
    axis : int

    Returns
    -------
    ndarray of float64, the shape of ``elem_codes``
        A NaN scale (0xFF) makes the whole block NaN. Exact: an element has at most 8
        significant bits and |exponent| <= 127 + 17, well inside float64 (FP32 would overflow
        for e5m2 with large scales).
    """
    fmt = _mx_elem(elem)
    k = _check_block(block)
    codes = np.asarray(elem_codes).astype(np.int64)
    scale = np.asarray(scale_codes).astype(np.int64)
    if codes.ndim == 0:
        raise ValueError("elem_codes must have at least one dimension")
    axis = _norm_axis(axis, codes.ndim)
    cm = np.moveaxis(codes, axis, -1)
    n = cm.shape[-1]
    nb = -(-n // k)
    expected = cm.shape[:-1] + (nb,)
    if scale.ndim != codes.ndim or np.moveaxis(scale, axis, -1).shape != expected:
        raise ValueError(f"scale_codes must have shape {_moved(expected, axis)} for elem_codes "
                         f"of shape {codes.shape} with block={k}, axis={axis}; "
                         f"got {scale.shape}")
    if np.any((scale < 0) | (scale > E8M0.nan_code)):
        raise ValueError("scale_codes must be E8M0 codes in 0..255")
    sm = np.repeat(np.moveaxis(scale, axis, -1), k, axis=-1)[..., :n]
    val = np.ldexp(decode(cm, fmt), (sm - E8M0.bias).astype(np.int32))
    val = np.where(sm == E8M0.nan_code, np.nan, val)
    return np.moveaxis(val, -1, axis)


def _tiles(a, tile, fill):
    """(R, C) array -> (nr, nc, r * c) tiles in row-major order inside each tile; the ragged
    right and bottom edges are padded with ``fill``."""
    r, c = tile
    rows, cols = a.shape
    nr, nc = -(-rows // r), -(-cols // c)
    a = np.pad(a, ((0, nr * r - rows), (0, nc * c - cols)), constant_values=fill)
    return a.reshape(nr, r, nc, c).transpose(0, 2, 1, 3).reshape(nr, nc, r * c)


def _untile(t, tile, shape):
    r, c = tile
    nr, nc = t.shape[:2]
    return t.reshape(nr, nc, r, c).transpose(0, 2, 1, 3).reshape(nr * r, nc * c)[
        : shape[0], : shape[1]]


def _check_tile(tile):
    if (not isinstance(tile, (tuple, list)) or len(tile) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
                   for v in tile)):
        raise ValueError(f"tile must be a pair (r, c) of positive integers, not {tile!r}")
    return int(tile[0]), int(tile[1])


def _check_2d(a, what):
    if a.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array, not {a.ndim}-D")
    return a


def quantize_tiled(x, elem="mxsf", tile=(8, 4), rounding="rne", scale_rounding="floor"):
    """Quantize a 2-D FP32 tensor with one E8M0 scale per r x c tile (docs/numerics.md §6).

    Each tile is one MX block of r * c elements: the rules of :func:`quantize` (NaN/Inf tile,
    zero tile, shared exponent, per-element ``encode``) applied to the tile's elements. Tiles
    on the ragged right/bottom edges hold only the elements that exist (the padding is +0,
    which changes neither the tile maximum nor its NaN/Inf test).

    The transpose property holds exactly: ``quantize_tiled(x.T, elem, (c, r))`` equals
    ``quantize_tiled(x, elem, (r, c))`` transposed, scales and codes, because a tile's scale
    depends only on the set of its elements (their maximum magnitude and NaN/Inf) and each
    element's code only on the element and that scale; transposing the tensor maps tile
    (i, j) of (r, c) onto tile (j, i) of (c, r) with the same elements. 1-D blocks lack it:
    a block along a row is not a block along a column.

    Parameters
    ----------
    x : array_like, 2-D
        FP32 values.
    elem : str or format
        Element format (``golden.formats.MX_ELEMENTS`` or an MXSF variant).
    tile : (int, int)
        Tile shape (r, c); default 8 x 4 (32 elements).
    rounding, scale_rounding
        As :func:`quantize`.

    Returns
    -------
    scale_codes : ndarray of uint8, shape (ceil(R / r), ceil(C / c))
    elem_codes : ndarray of uint8, the shape of ``x``
    """
    r, c = _check_tile(tile)
    x = _check_2d(_as_float32(x), "x")
    t = _tiles(x, (r, c), np.float32(0))
    scale, codes = quantize(t, elem, r * c, -1, rounding, scale_rounding)
    return scale[..., 0], _untile(codes, (r, c), x.shape)


def dequantize_tiled(scale_codes, elem_codes, elem="mxsf", tile=(8, 4)):
    """Values of a tiled tensor from :func:`quantize_tiled` (exact float64; a NaN scale makes
    its whole tile NaN)."""
    r, c = _check_tile(tile)
    codes = _check_2d(np.asarray(elem_codes).astype(np.int64), "elem_codes")
    scale = _check_2d(np.asarray(scale_codes).astype(np.int64), "scale_codes")
    expected = (-(-codes.shape[0] // r), -(-codes.shape[1] // c))
    if scale.shape != expected:
        raise ValueError(f"scale_codes must have shape {expected} for elem_codes of shape "
                         f"{codes.shape} with tile={(r, c)}; got {scale.shape}")
    t = _tiles(codes, (r, c), 0)
    val = dequantize(scale[..., None], t, elem, r * c, -1)
    return _untile(val, (r, c), codes.shape)


def _moved(shape, axis):
    return tuple(np.moveaxis(np.empty(shape, dtype=np.bool_), -1, axis).shape)


# -- catalogue-facing ------------------------------------------------------------------------

def quantize_block(inputs, elem="e4m3", k=32, rounding="rne", scale_rounding="floor", stages=2):
    """Golden ``mx_quantize``: one block of k FP32 bit patterns per row.

    Parameters
    ----------
    inputs : dict
        ``{"x": (n, k) int}``, FP32 bit patterns (unsigned 32-bit).
    elem, k, rounding, scale_rounding
        As :func:`quantize` (``block=k``); ``stages`` changes latency only.

    Returns
    -------
    dict of int64 arrays: ``scale`` (n,), ``codes`` (n, k).
    """
    x = np.asarray(inputs["x"], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != k:
        raise ValueError(f"x must have shape (n, {k}), not {x.shape}")
    if np.any((x < 0) | (x >> 32 != 0)):
        raise ValueError("x must hold unsigned 32-bit FP32 bit patterns")
    xf = x.astype(np.uint32).view(np.float32)
    scale, codes = quantize(xf, elem, k, -1, rounding, scale_rounding)
    return {"scale": scale[:, 0].astype(np.int64), "codes": codes.astype(np.int64)}


def quantize_space(elem="e4m3", k=32, rounding="rne", scale_rounding="floor", stages=2):
    """The input space (2**(32 k)) is never exhaustively testable."""
    return None


def mxsf_quantize_block(inputs, k=32, rounding="rne", scale_rounding="floor", stages=2,
                        sub_ebits=3, sub_mbits=2, sub_bias=8):
    """Golden ``mxsf_quantize``: :func:`quantize_block` with the MXSF element of these sub-mode
    parameters."""
    return quantize_block(inputs, MxsfFormat(sub_ebits, sub_mbits, sub_bias), k, rounding,
                          scale_rounding)


def mxsf_quantize_stimulus(rng, n, exhaustive=False, k=32, rounding="rne",
                           scale_rounding="floor", stages=2, sub_ebits=3, sub_mbits=2,
                           sub_bias=8):
    """:func:`quantize_stimulus` for the MXSF element of these sub-mode parameters (its corner
    blocks hold every midpoint of that variant's grid, the gap's midpoint included)."""
    return quantize_stimulus(rng, n, exhaustive, MxsfFormat(sub_ebits, sub_mbits, sub_bias), k)


def mxsf_quantize_space(**params):
    """Never exhaustively testable (2**(32 k) blocks)."""
    return None


def _f32_bits(v, exact=False):
    """float64 values -> int64 FP32 bit patterns (RNE; ``exact``: they must be FP32 numbers)."""
    v = np.asarray(v, dtype=np.float64)
    with np.errstate(over="ignore"):
        v32 = v.astype(np.float32)
    if exact and not np.all((v32.astype(np.float64) == v) | np.isnan(v)):
        raise AssertionError("stimulus value is not an FP32 number")
    return v32.view(np.uint32).astype(np.int64)


def _emax_scale(fmt):
    """Largest E with max_finite * 2**E finite in FP32 (and E <= 127)."""
    lim = FP32.emax - fmt.emax_elem  # max_finite < 2**(emax_elem + 1)
    return min(lim, E8M0.emax)


def random_blocks(rng, n, k):
    """n random blocks of k FP32 bit patterns: a realistic mix, see :func:`quantize_stimulus`."""
    kind = rng.choice(8, n, p=[0.16, 0.16, 0.16, 0.12, 0.10, 0.08, 0.18, 0.04])
    out = np.zeros((n, k), dtype=np.int64)
    sign = rng.integers(0, 2, (n, k)) << 31

    def rows(c):
        return np.flatnonzero(kind == c)

    # 0: gaussian values times a random per-block power of two (all binades, incl. subnormal)
    r = rows(0)
    g = rng.standard_normal((len(r), k))
    e = rng.integers(-150, 126, (len(r), 1))
    with np.errstate(over="ignore", under="ignore"):
        v = (g * np.ldexp(1.0, e)).astype(np.float32)
    v = np.where(np.isfinite(v), v, np.float32(0))
    out[r] = v.view(np.uint32).astype(np.int64)
    # 1: random exponent spread below a random top exponent field, random mantissas
    r = rows(1)
    top = rng.integers(1, 255, (len(r), 1))
    spread = rng.integers(0, 40, (len(r), 1))
    ef = np.clip(top - rng.integers(0, 1 << 16, (len(r), k)) % (spread + 1), 0, 254)
    out[r] = (ef << 23) | rng.integers(0, 1 << 23, (len(r), k))
    # 2: uniformly random finite bit patterns (widest dynamic range)
    r = rows(2)
    out[r] = rng.integers(0, 0x7F800000, (len(r), k))
    # 3: FP32 subnormals, alone or mixed with the smallest normals
    r = rows(3)
    ef = rng.integers(0, 3, (len(r), k)) * (rng.random((len(r), 1)) < 0.5)
    frac = rng.integers(0, 1 << 23, (len(r), k)) >> rng.integers(0, 23, (len(r), k))
    out[r] = (ef << 23) | frac
    # 4: sparse blocks: mostly zeros, a few random values
    r = rows(4)
    vals = rng.integers(0, 0x7F800000, (len(r), k))
    out[r] = np.where(rng.random((len(r), k)) < 0.2, vals, 0)
    # 5: all-equal blocks and one-hot blocks
    r = rows(5)
    v = rng.integers(0, 0x7F800000, (len(r), 1))
    onehot = np.arange(k) == rng.integers(0, k, (len(r), 1))
    out[r] = np.where((rng.random((len(r), 1)) < 0.5) | onehot, v, 0)
    # 6: values with few mantissa bits near a shared binade (many exact ties after scaling)
    r = rows(6)
    top = rng.integers(1, 250, (len(r), 1))
    ef = np.clip(top - rng.integers(0, 12, (len(r), k)), 0, 254)
    keep = rng.integers(0, 10, (len(r), 1))
    mant = rng.integers(0, 1 << 23, (len(r), k)) >> (23 - keep) << (23 - keep)
    out[r] = (ef << 23) | mant
    # 7: blocks with NaN/Inf in random lanes (rare in practice, cheap to test)
    r = rows(7)
    base = rng.integers(0, 0x7F800000, (len(r), k))
    special = rng.choice(np.array([0x7F800000, 0x7FC00000, 0x7F800001, 0x7FFFFFFF]), (len(r), k))
    out[r] = np.where(rng.random((len(r), k)) < 0.1, special, base)
    return out | sign


def _corner_blocks(rng, k, fmt):
    """The corner blocks of docs/numerics.md §4 for block size k and element format fmt."""
    blocks = []

    def add(v, exact=False):
        """one block from float64 values (rounded to FP32), repeated/truncated to k"""
        v = np.resize(np.asarray(v, dtype=np.float64), k)
        blocks.append(_f32_bits(v, exact))

    def add_bits(b):
        blocks.append(np.resize(np.asarray(b, dtype=np.int64), k))

    lanes = np.arange(k)
    # rule 2: all-zero blocks, with negative zeros
    add(np.zeros(k))
    add_bits(np.full(k, 0x80000000))
    add_bits(np.where(lanes % 2 == 1, 0x80000000, 0))
    # rule 1: NaN / +Inf / -Inf in each lane, beside ordinary values and beside zeros
    for special in (0x7FC00000, 0x7F800000, 0xFF800000, 0x7F800001, 0xFFFFFFFF):
        base = _f32_bits(np.resize([1.0, -3.5, 1e-40, 2.0**100], k))
        for j in range(k):
            b = base.copy() if j % 2 == 0 else np.zeros(k, dtype=np.int64)
            b[j] = special
            blocks.append(b)
    add_bits(np.full(k, 0x7FC00000))
    # FP32 subnormals: one max subnormal, one min subnormal, all-subnormal blocks
    add_bits(np.where(lanes == k - 1, 0x007FFFFF, 0))
    add_bits(np.where(lanes == 0, 0x80000001, 0))
    add_bits(np.full(k, 0x00000001))
    add_bits(0x00400000 >> (lanes % 23))
    add_bits(rng.integers(0, 1 << 23, k) | (rng.integers(0, 2, k) << 31))
    add_bits(np.where(lanes == 0, 0x00800000, 0x007FFFFF))    # min normal beside subnormals
    # ±max FP32, FP32 max beside tiny values (E at the top), max in each sign
    fmax = float(np.finfo(np.float32).max)
    add(np.full(k, fmax))
    add(np.where(lanes % 2 == 0, -fmax, 1.0))
    add(np.where(lanes == 0, fmax, 2.0**-149))
    # E clamping at the bottom: amax tiny so floor(log2 amax) - emax < -127
    for top in (2.0**-149, 2.0**-130, 2.0**-127, 2.0**-126, 2.0 ** (-127 + fmt.emax_elem),
                2.0 ** (-126 + fmt.emax_elem)):
        add(np.where(lanes == 0, top, top * np.resize([0.5, 0.75, -1.0, 0.25], k)))
    # binade edges: amax exactly 2**n and the FP32 just below, for n across the range
    f32 = np.float32
    for n_ in (-149, -140, -127, -126, -100, -20, -1, 0, 1, 7, 8, 9, 15, 16, 64, 120, 127):
        edge = 2.0**n_
        below = float(np.nextafter(f32(edge), f32(0)))
        rest = rng.standard_normal(k).astype(np.float32).astype(np.float64) * edge / 4
        rest = np.array([float(f32(r)) for r in rest])
        for top in (edge, below):
            if top == 0:
                continue
            add(np.where(lanes == k // 2, top, rest))
    # the scale's neighbourhood of max finite: amax = max * 2**E, just above, up to just
    # below 2**(emax_elem + 1) * 2**E (saturates under floor; ceil bumps E)
    step = _top_step(fmt)
    for E in (-127, -3, 0, 5, _emax_scale(fmt)):
        s = 2.0**E
        edge = 2.0 ** (fmt.emax_elem + 1) * s
        tops = [fmt.max_finite * s, (fmt.max_finite + step / 2) * s,
                float(np.nextafter(f32(fmt.max_finite * s), f32(np.inf))),
                float(np.nextafter(f32(edge), f32(0))) if edge < fmax else fmax]
        for t in tops:
            t = float(f32(t))
            add(np.where(lanes == 0, t, -t))
            add(np.where(lanes == k - 1, -t, t * 0.5))
    # ties at every element boundary: every midpoint between adjacent magnitudes (and the one
    # above max finite), scaled by 2**E with lane 0 holding max finite * 2**E so that E is the
    # block's exponent under both scale roundings; each midpoint also with its FP32 neighbours
    mags, _ = magnitudes(fmt)
    mids = (mags[:-1] + mags[1:]) / 2
    top_mid = mags[-1] + step / 2
    for E in (-127, -60, 0, 1, _emax_scale(fmt)):
        s = 2.0**E
        v = (mids * s).astype(np.float32)
        if not np.array_equal(v.astype(np.float64), mids * s):
            raise AssertionError(f"a midpoint of {fmt.name} times 2**{E} is not an FP32 number")
        pts = np.stack([v, np.nextafter(v, f32(0)), np.nextafter(v, f32(np.inf))], -1)
        pts = pts.astype(np.float64).ravel()
        pts = np.where(np.arange(len(pts)) % 2 == 1, -pts, pts)
        per = max(k - 1, 1)
        for i in range(0, len(pts), per):
            chunk = pts[i:i + per]
            b = np.resize(np.concatenate([[fmt.max_finite * s], chunk]), k)
            if k == 1:
                b = chunk[:1]
            add(b, exact=True)
        # the tie above max finite saturates (floor): its own block (it is the block max)
        tm = float(f32(top_mid * s))
        add(np.where(lanes % 2 == 0, tm, -fmt.max_finite * s))
        add(np.where(lanes % 2 == 0, -tm, mids[len(mids) // 2] * s))
    return np.array(blocks, dtype=np.int64)


def _top_step(fmt):
    mags, _ = magnitudes(fmt)
    return float(mags[-1] - mags[-2])


def quantize_stimulus(rng, n, exhaustive=False, elem="e4m3", k=32, rounding="rne",
                      scale_rounding="floor", stages=2):
    """Inputs of ``mx_quantize``: ``n`` seeded random blocks plus every corner block.

    Random blocks (:func:`random_blocks`): gaussian values across all binades, random
    exponent spreads under a random top, uniformly random finite bit patterns, FP32
    subnormal blocks, sparse, all-equal and one-hot blocks, few-mantissa-bit values (exact
    ties after scaling), and some blocks with NaN/Inf lanes; random signs.

    Corner blocks (docs/numerics.md §4, appended after the random ones): all-zero blocks with
    negative zeros; NaN, ±Inf and signalling NaN in every lane; FP32 subnormal blocks (max and min
    subnormal alone, all-subnormal); ±max FP32; E clamped at -127; amax exactly at binade edges and
    one FP32 ulp below; amax at max finite * 2**E, above it and just below 2**(emax_elem + 1) * 2**E
    (floor saturates it); every midpoint between adjacent element magnitudes (ties) and its FP32
    neighbours at several scales, and the tie above max finite. E > 127 is reachable only with
    ``scale_rounding="ceil"`` and emax_elem = 0 (mxint8: amax above 127/64 * 2**127); the ±max FP32
    blocks cover it.

    Returns
    -------
    dict: ``x`` (n + corners, k) int64 FP32 bit patterns.
    """
    if exhaustive:
        raise ValueError("mx_quantize has no exhaustive input space (2**(32 k) blocks)")
    fmt = _mx_elem(elem)
    k = _check_block(k)
    rand = random_blocks(rng, n, k)
    corners = _corner_blocks(rng, k, fmt)
    return {"x": np.concatenate([rand, corners]).reshape(-1, k)}


# The fused dot product lives in its own module (golden.mx_dot); it is part of this API.
from .mx_dot import dot, dot_blocks  # noqa: E402,F401
