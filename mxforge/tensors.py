"""Quantizing tensors: NumPy arrays in; element codes, block scales, values and error metrics out
(docs/quantize.md).

Public names (stable): :func:`quantize`, :func:`dequantize`, :func:`formats`, :class:`Quantized`,
:class:`QuantizeError`. ``mxforge quantize`` (``mxforge.cli``) runs :func:`run_cli`.

Every number comes from the golden models (``golden.mx``, ``golden.bfp``, ``golden.opal``) that
the catalogued quantizer blocks match bit for bit: the codes and scales of a tensor are the
hardware's outputs for the same values cut into blocks along ``axis``. Format names and option
spellings are the catalogue's parameters; their defaults are read from the signatures of the
blocks' golden functions (one definition). This module imports neither amaranth nor the
catalogue, so quantizing needs only NumPy.
"""
from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from golden import bfp, mx, opal
from golden.checks import check_choice, check_int
from golden.formats import MX_ELEMENTS, MXSF_NAMES, MxsfFormat, get_format, mxsf_format
from golden.metrics import flush_fraction, max_rel_err, sqnr_db

from .files import write_atomic

__all__ = ["quantize", "dequantize", "formats", "Quantized", "QuantizeError", "DTYPES",
           "NONFINITE", "run_cli", "default_block", "element_bits"]

#: the input dtypes: FP32 and the formats FP32 holds exactly; float64 only with FP32 values
DTYPES = ("float16", "bfloat16", "float32", "float64")
#: what a NaN/Inf the format cannot hold element-wise does: refuse it, or the hardware's rule
NONFINITE = ("error", "nan_block")


class QuantizeError(ValueError):
    """Bad input to the tensor API: one line naming the parameter and what is allowed."""


@dataclass(frozen=True)
class _Family:
    """A quantizer family: its catalogued block and the golden function that block matches."""

    name: str
    block: str                # the catalogue's block
    golden: Callable          # that block's golden function: defaults come from its signature
    size: str                 # the golden function's block-size parameter (block= here)
    options: tuple            # format options, catalogue spellings (``seed``/``rand``: API only)
    roundings: tuple
    element: tuple            # output fields with one entry per element of x
    per_block: tuple          # output fields with one entry per block
    nan_rule: str             # what a NaN/Inf does to its block in the hardware

    @property
    def defaults(self) -> dict:
        return {k: p.default for k, p in inspect.signature(self.golden).parameters.items()
                if p.default is not inspect.Parameter.empty}


_MX = _Family("mx", "mx_quantize", mx.quantize_block, "k", ("scale_rounding",),
              mx.QUANT_ROUNDINGS, ("codes",), ("scale",),
              "scale 0xFF and every code 0: the whole block decodes as NaN")
_MXSF = _Family("mxsf", "mxsf_quantize", mx.mxsf_quantize_block, "k",
                ("scale_rounding", "sub_ebits", "sub_mbits", "sub_bias"), mx.QUANT_ROUNDINGS,
                ("codes",), ("scale",),
                "scale 0xFF and every code 0: the whole block decodes as NaN")
_BFP = _Family("bfp", "bfp_quantize", bfp.quantize_block, "G", ("m", "rbits", "seed", "rand"),
               bfp.ROUNDINGS, ("signs", "mags"), ("exp", "zse"),
               "exp 255 and every magnitude 0: the whole group decodes as NaN")
_OPAL = _Family("opal", "opal_quantize", opal.quantize_block, "n", ("k", "bits"),
                opal.ROUNDINGS, ("codes",), ("scale", "outliers", "idx"),
                "the k largest stay BF16 outliers, the next one makes the inlier scale 0xFF: "
                "the block's inliers decode as NaN")
#: options of the golden block functions that only set latency or streaming width
_LATENCY = ("stages", "lanes")


def formats() -> list[str]:
    """The format names :func:`quantize` takes.

    The MX elements in catalogue order (``golden.formats.MX_ELEMENTS``, the ``elem`` choices of
    ``mx_quantize``; "mxsf" is MX-SAFE's element), then ``"bfp"`` and ``"opal"``. MXSF variants
    (``mxsf_b<bias>``, ``mxsf_e<E>m<M>_b<bias>``) are accepted too; they are a family, not
    listed.
    """
    return [*MX_ELEMENTS, "bfp", "opal"]


def default_block(format) -> int:
    """The block size :func:`quantize` uses for ``format`` when none is given (the catalogued
    quantizer's)."""
    family, _ = _resolve(format)
    return int(family.defaults[family.size])


def element_bits(format) -> int:
    """The width of one element code of an MX or MXSF ``format``."""
    family, fmt = _resolve(format)
    if fmt is None:
        raise QuantizeError(f"format {format!r} has no single element code (BFP: a sign and "
                            f"m magnitude bits; OPAL: inliers and outliers)")
    return int(fmt.width)


def _format_error(value):
    return QuantizeError(f"format must be one of {', '.join(formats())} (or an MXSF variant "
                         f"{MXSF_NAMES}), not {value!r}")


def _resolve(format):
    """(family, element descriptor or None) of a format name."""
    if not isinstance(format, str):
        raise _format_error(format)
    if format == "bfp":
        return _BFP, None
    if format == "opal":
        return _OPAL, None
    if format == "mxsf" or format.startswith("mxsf_"):
        try:
            return _MXSF, mxsf_format(format)
        except ValueError as e:
            raise QuantizeError(f"format: {e}") from None
    if format in MX_ELEMENTS:
        return _MX, get_format(format, MX_ELEMENTS)
    raise _format_error(format)


# -- input checks ---------------------------------------------------------------------------------

def _dtype_error(name, dtype):
    hint = ""
    if dtype.kind == "V" and dtype.itemsize == 2:
        hint = " (bfloat16 saved with np.save reads back as void 'V2': save it as float32, exact)"
    elif dtype.kind in "iub":
        hint = " (integers are not taken as values or as FP32 bit patterns: convert explicitly)"
    return QuantizeError(f"{name} must have dtype {', '.join(DTYPES)} (float64 only with values "
                         f"that are FP32 numbers), not {dtype}{hint}")


def _as_fp32(x, name="x"):
    """``x`` as a float32 array, exactly (module docs: float64 must hold FP32 values)."""
    a = np.asarray(x)
    if a.dtype.name not in DTYPES:
        raise _dtype_error(name, a.dtype)
    if a.ndim == 0 or a.size == 0:
        raise QuantizeError(f"{name} must be an array with at least one element and one "
                            f"dimension, not shape {a.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        x32 = a.astype(np.float32)
    if a.dtype == np.float64:
        bad = ~((x32.astype(np.float64) == a) | (np.isnan(a) & np.isnan(x32)))
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise QuantizeError(
                f"{name}: float64 values must be FP32 numbers (the quantizers take FP32); "
                f"{int(bad.sum())} are not, the first at index {first} = "
                f"{float(a[first])!r}: round them first, e.g. x.astype(np.float32) (RNE)")
    return x32


def _int(name, value, lo=None, note=""):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or (lo is not None and value < lo):
        what = "an integer" if lo is None else f"an integer >= {lo}"
        raise QuantizeError(f"{name} must be {what}{note}, not {value!r}")
    return int(value)


def _checked(fn, *args, **kw):
    """Call a golden parameter check; its ValueError/TypeError (one sentence naming the
    parameter) becomes a QuantizeError."""
    try:
        return fn(*args, **kw)
    except (ValueError, TypeError) as e:
        raise QuantizeError(str(e)) from None


def _params(family, fmt, format, shape, block, rounding, axis, nonfinite, options):
    """Every parameter checked and resolved: (params dict, element descriptor)."""
    defaults = family.defaults
    for key in options:
        if key not in family.options:
            note = ""
            if key == family.size:
                note = f" (the block size is block, {family.block}'s {key})"
            elif key in _LATENCY:
                note = f" ({key} sets the hardware's latency, not the numbers)"
            raise QuantizeError(f"{format} has no option {key!r}; its options are: "
                                f"{', '.join(o for o in family.options if o != 'rand')}{note}")
    ndim = len(shape)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) \
            or not -ndim <= axis < ndim:
        raise QuantizeError(f"axis must be an integer in {-ndim}..{ndim - 1} for x of shape "
                            f"{shape}, not {axis!r}")
    axis = int(axis)
    given = block is not None
    block = _int("block", block if given else defaults[family.size], 1)
    if family is _OPAL and (block & (block - 1) or not 2 <= block <= opal.MAX_N):
        raise QuantizeError(f"block must be a power of two in 2..{opal.MAX_N} for opal (the "
                            f"outlier index has log2(block) bits), not {block}")
    if family is _BFP:
        _checked(bfp.check_group, "block", block)
    rounding = defaults["rounding"] if rounding is None else rounding
    if not isinstance(rounding, str) or rounding not in family.roundings:
        raise QuantizeError(f"rounding must be one of {', '.join(family.roundings)} for "
                            f"{format}, not {rounding!r}")
    if not isinstance(nonfinite, str) or nonfinite not in NONFINITE:
        raise QuantizeError(f"nonfinite must be one of {', '.join(NONFINITE)}, not "
                            f"{nonfinite!r}")
    params = {"block": block, "axis": axis, "rounding": rounding, "nonfinite": nonfinite}
    if family in (_MX, _MXSF):
        sr = options.get("scale_rounding", defaults["scale_rounding"])
        params["scale_rounding"] = _checked(check_choice, "scale_rounding", sr,
                                            mx.SCALE_ROUNDINGS)
    if family is _MXSF:
        sub = {}
        for key in ("sub_ebits", "sub_mbits", "sub_bias"):
            named = getattr(fmt, key)
            if key in options and format != "mxsf" and options[key] != named:
                raise QuantizeError(f"{key}={options[key]!r} contradicts format {format!r} "
                                    f"({key} {named}): give format 'mxsf' with the options, "
                                    f"or the variant's name alone")
            sub[key] = options.get(key, named)
        fmt = _checked(MxsfFormat, **sub)
        params.update(sub)
    if family is _BFP:
        params["m"] = _checked(bfp.check_m, "m", options.get("m", defaults["m"]))
        stochastic = rounding == "stochastic"
        for key in ("rbits", "seed", "rand"):
            if key in options and not stochastic:
                raise QuantizeError(f"{key} is used only with rounding='stochastic', not "
                                    f"with rounding={rounding!r}")
        if stochastic:
            params["rbits"] = _checked(check_int, "rbits",
                                       options.get("rbits", defaults["rbits"]), 1, 32)
            if ("seed" in options) == ("rand" in options):
                raise QuantizeError("rounding='stochastic' needs exactly one of seed (an "
                                    "integer >= 0: rand drawn from numpy's default_rng(seed)) "
                                    "and rand (integers in [0, 2**rbits), x's shape)")
            if "seed" in options:
                params["seed"] = _int("seed", options["seed"], 0)
    if family is _OPAL:
        k = options.get("k", defaults["k"])
        bits = options.get("bits", defaults["bits"])
        _checked(opal.check_params, block, k, bits)
        params.update(k=k, bits=bits)
    n = shape[axis]          # the data last: a bad parameter is named first
    if n % block:
        default = "" if given else f" ({family.block}'s default {family.size})"
        raise QuantizeError(f"block={block}{default} must divide x's length {n} along axis "
                            f"{axis} (x has shape {shape}): pad x, or choose another block or "
                            f"axis")
    return params, fmt


def _rand(params, options, shape):
    """The stochastic-rounding random integers of a BFP tensor, x's shape."""
    if "seed" in params:
        rng = np.random.default_rng(params["seed"])
        return rng.integers(0, 1 << params["rbits"], shape, dtype=np.int64)
    r = np.asarray(options["rand"])
    if r.dtype.kind not in "iu":
        raise QuantizeError(f"rand must be an integer array, not dtype {r.dtype}")
    try:
        r = np.broadcast_to(r, shape).astype(np.int64)
    except ValueError:
        raise QuantizeError(f"rand must have x's shape {shape}, not {r.shape}") from None
    if r.min() < 0 or r.max() >= 1 << params["rbits"]:
        raise QuantizeError(f"rand must hold integers in [0, 2**rbits) = "
                            f"[0, {1 << params['rbits']})")
    return r


def _check_nonfinite(family, format, params, x32):
    """Refuse a NaN/Inf the format cannot hold as that element (docs/quantize.md)."""
    special = ~np.isfinite(x32)
    if params["nonfinite"] != "error" or not special.any():
        return
    block, axis = params["block"], params["axis"]
    if family is _OPAL:
        per = np.moveaxis(special, axis, -1)
        per = per.reshape(per.shape[:-1] + (-1, block)).sum(axis=-1)
        if not (per > params["k"]).any():
            return           # at most k per block: BF16 outliers hold them exactly
        special = np.repeat(np.moveaxis(per > params["k"], -1, axis), block, axis=axis) \
            & special
        what = f"more than k={params['k']} NaN/Inf values in a block of {block}"
    else:
        what = "NaN/Inf values"
    first = tuple(int(i) for i in np.argwhere(special)[0])
    raise QuantizeError(
        f"x holds {what} ({int(special.sum())}, the first at index {first}); {format} cannot "
        f"hold them as elements: the hardware gives {family.nan_rule}; set nonfinite to "
        f"nan_block for that, or remove them from x")


# -- the tensor API --------------------------------------------------------------------------------

def _uint(bits):
    """The smallest unsigned dtype of ``bits`` bits."""
    return next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64)
                if np.iinfo(t).bits >= bits)


@dataclass(frozen=True, eq=False)
class Quantized:
    """A quantized tensor (docs/quantize.md "The result").

    Attributes
    ----------
    format : str
        The canonical format name ("e4m3", "mxsf_b6", "bfp", "opal").
    params : dict
        Every parameter that fixed the numbers: ``block``, ``axis``, ``rounding``,
        ``nonfinite`` and the format options (catalogue spellings), defaults filled in.
    codes : dict of ndarray, each the shape of x
        The element fields of the catalogued block's output: ``codes`` (MX, MXSF: element
        codes; OPAL: b-bit two's complement inlier codes, 0 in outlier slots), or ``signs`` and
        ``mags`` (BFP: sign bits and m-bit magnitudes).
    scales : dict of ndarray, each the shape of x with ``axis`` replaced by the block count
        The per-block fields: ``scale`` (MX, MXSF, OPAL: E8M0 codes), ``exp`` and ``zse``
        (BFP: shared biased exponent M, 255 for a NaN group, and the zero-setting-error
        count), ``outliers`` and ``idx`` (OPAL, with a trailing axis of k: BF16 codes in rank
        order and their in-block indices).
    values : ndarray of float64, the shape of x
        The dequantized tensor (exact: every value of every format is a float64 number).
    summary : dict
        ``sqnr_db``, ``max_rel_err``, ``flushed`` and ``excluded``, defined under
        :func:`quantize`.
    rand : ndarray or None
        BFP stochastic rounding only: the random integers used, x's shape (the hardware's
        ``rand`` input).
    """

    format: str
    params: dict
    codes: dict
    scales: dict
    values: np.ndarray
    summary: dict
    rand: np.ndarray | None = None

    @property
    def hardware(self) -> tuple[str, dict]:
        """The catalogued block that computes these codes and scales, and its parameters that
        fix the numbers (latency parameters such as ``stages`` and ``lanes`` are free):
        ``("mx_quantize", {"elem": "e4m3", "k": 32, ...})``; ``mxforge verilog NAME --set
        k=v ...`` writes its Verilog."""
        family, _ = _resolve(self.format)
        hw = {"elem": self.format} if family is _MX else {}
        hw[family.size] = self.params["block"]
        hw["rounding"] = self.params["rounding"]
        golden_params = family.defaults
        hw.update({o: self.params[o] for o in family.options
                   if o in golden_params and o in self.params})
        return family.block, hw

    def arrays(self) -> dict:
        """The npz content (docs/quantize.md "The .npz file"): ``format``, ``params`` (JSON),
        the fields of :attr:`codes` and :attr:`scales`, ``rand`` (if any), ``values`` and the
        summary's keys."""
        out = {"format": np.array(self.format), "params": np.array(json.dumps(self.params)),
               **self.codes, **self.scales}
        if self.rand is not None:
            out["rand"] = self.rand
        out["values"] = self.values
        out.update({k: np.array(v) for k, v in self.summary.items()})
        return out

    def save(self, path) -> Path:
        """Write :meth:`arrays` to ``path`` (a ``.npz`` name) through a temporary file in the
        same directory and a rename: ``path`` is either the whole file or untouched."""
        path = Path(path)
        if path.suffix != ".npz":
            raise QuantizeError(f"output must be a .npz file name, not {str(path)!r}")
        arrays = self.arrays()
        return write_atomic(path, lambda f: np.savez(f, **arrays))

    def __repr__(self):
        def shapes(d):
            return "{" + ", ".join(f"{k!r}: {v.dtype}{v.shape}" for k, v in d.items()) + "}"
        return (f"Quantized(format={self.format!r}, params={self.params!r}, codes="
                f"{shapes(self.codes)}, scales={shapes(self.scales)}, values=float64"
                f"{self.values.shape}, summary={self.summary!r})")


def quantize(x, format, *, block=None, rounding=None, axis=-1, nonfinite="error",
             **options) -> Quantized:
    """Quantize a tensor to a block format, bit-exact with the catalogued quantizer block.

    Parameters
    ----------
    x : array_like
        float16, bfloat16 (ml_dtypes), float32, or float64 holding FP32 numbers only (anything
        else is an error: the hardware's input is FP32; round float64 with
        ``x.astype(np.float32)`` first). At least one dimension.
    format : str
        One of :func:`formats` or an MXSF variant ``mxsf_b<bias>`` /
        ``mxsf_e<E>m<M>_b<bias>``.
    block : int, optional
        Block size along ``axis``; it must divide ``x.shape[axis]``. Default: the catalogued
        block's (MX/MXSF k = 32, BFP G = 54, OPAL n = 128). OPAL: a power of two in 2..1024.
    rounding : str, optional
        MX, MXSF, OPAL: "rne" (default), "rna", "rtz"; BFP: "rtz" (default), "rne",
        "stochastic".
    axis : int
        The axis cut into blocks (every other axis is batch).
    nonfinite : {"error", "nan_block"}
        A NaN/Inf that the format cannot hold as an element (MX, MXSF, BFP: any; OPAL: more
        than k in a block) is an error, or with "nan_block" gets the hardware's rule (its
        block becomes NaN).
    **options
        Format options, catalogue spellings: MX ``scale_rounding`` ("floor"/"ceil"); MXSF
        also ``sub_ebits``, ``sub_mbits``, ``sub_bias``; BFP ``m`` (2..24, 16) and, with
        "stochastic", ``rbits`` (1..32, 8) and ``seed`` (int) or ``rand`` (integers in
        [0, 2**rbits), x's shape); OPAL ``k`` (outliers per block, 4) and ``bits`` (inlier
        width 2..8, 3).

    Returns
    -------
    Quantized
        Codes, scales, values and ``summary``. The metrics are float64 over S, the elements
        whose x is finite and whose value is not NaN (outside a NaN block); ``excluded`` is the
        number of elements outside S:

        - ``sqnr_db`` = 10 log10(sum_S x^2 / sum_S (x - v)^2); inf when v = x on S, -inf when
          some v is infinite (an OPAL outlier past BF16's range), nan when sum_S x^2 = 0;
        - ``max_rel_err`` = max |x - v| / |x| over the i in S with x != 0 and v != 0 (the
          flushed elements are counted by ``flushed`` instead); nan when there are none;
        - ``flushed`` = #{i in S: x != 0, v = 0} / #{i in S: x != 0} (FP32 subnormals count as
          nonzero); nan when S has no nonzero x.

    Raises
    ------
    QuantizeError
        (a ValueError) Bad input, one line naming the parameter and what is allowed.
    """
    family, fmt = _resolve(format)
    x32 = _as_fp32(x)
    params, fmt = _params(family, fmt, format, x32.shape, block, rounding, axis, nonfinite,
                          options)
    _check_nonfinite(family, format, params, x32)
    name = fmt.name if fmt is not None else format
    block, axis, rounding = params["block"], params["axis"], params["rounding"]
    rand = None
    if family in (_MX, _MXSF):
        scale, codes = mx.quantize(x32, fmt, block, axis, rounding, params["scale_rounding"])
        codes, scales = {"codes": codes.astype(_uint(fmt.width))}, {"scale": scale}
    elif family is _BFP:
        extra = {}
        if rounding == "stochastic":
            rand = _rand(params, options, x32.shape)
            extra = {"rbits": params["rbits"], "rand": rand}
            rand = rand.astype(_uint(params["rbits"]))
        exps, signs, mags, zse = bfp.quantize(x32, params["m"], block, axis, rounding, **extra)
        codes = {"signs": signs.astype(np.uint8), "mags": mags.astype(_uint(params["m"]))}
        scales = {"exp": exps.astype(np.uint8), "zse": zse.astype(_uint(block.bit_length()))}
    else:
        xm = np.ascontiguousarray(np.moveaxis(x32, axis, -1))
        q = opal.quantize(xm, block, params["k"], params["bits"], rounding)
        codes = {"codes": np.moveaxis(q["codes"].reshape(xm.shape), -1, axis)
                 .astype(_uint(params["bits"]))}
        scales = {"scale": np.moveaxis(q["scale"], -1, axis).astype(np.uint8),
                  "outliers": np.moveaxis(q["outliers"], -2, axis).astype(np.uint16),
                  "idx": np.moveaxis(q["idx"], -2, axis).astype(np.uint16)}
    values = _values(family, fmt, params, {**codes, **scales})
    return Quantized(name, params, codes, scales, values, _summary(x32, values), rand)


def _values(family, fmt, params, fields):
    """float64 values of the fields of one family (the golden models' dequantizers)."""
    block, axis = params["block"], params["axis"]
    if family in (_MX, _MXSF):
        return mx.dequantize(fields["scale"], fields["codes"], fmt, block, axis)
    if family is _BFP:
        return bfp.dequantize(fields["exp"], fields["signs"], fields["mags"], params["m"],
                              block, axis).astype(np.float64)
    codes = np.moveaxis(np.asarray(fields["codes"]), axis, -1)
    q = {"codes": codes.reshape(codes.shape[:-1] + (-1, block)),
         "scale": np.moveaxis(np.asarray(fields["scale"]), axis, -1),
         "outliers": np.moveaxis(np.asarray(fields["outliers"]), axis, -2),
         "idx": np.moveaxis(np.asarray(fields["idx"]), axis, -2)}
    return np.moveaxis(opal.dequantize(q, params["bits"]), -1, axis)


def _summary(x32, values):
    """The metrics of :func:`quantize` (golden.metrics, one definition with the studies)."""
    with np.errstate(invalid="ignore"):     # signalling NaNs: quiet in float64
        x = x32.astype(np.float64)
    keep = np.isfinite(x) & ~np.isnan(values)
    return {"sqnr_db": sqnr_db(x, values, keep),
            "max_rel_err": max_rel_err(x, values, keep & (values != 0)),
            "flushed": flush_fraction(x, values, keep),
            "excluded": int(x.size - np.count_nonzero(keep))}


def dequantize(q) -> np.ndarray:
    """float64 values of a quantized tensor, recomputed from its codes and scales.

    Parameters
    ----------
    q : Quantized or mapping
        A :class:`Quantized`, or the content of a ``.npz`` it wrote (``np.load(path)``): the
        keys ``format``, ``params`` and the format's code and scale fields.

    Returns
    -------
    ndarray of float64, the shape of the codes (a NaN block decodes as NaN).
    """
    if isinstance(q, Quantized):
        format, params, fields = q.format, q.params, {**q.codes, **q.scales}
    else:
        try:
            format, params = str(np.asarray(q["format"])), json.loads(str(np.asarray(
                q["params"])))
            family, _ = _resolve(format)
            fields = {f: np.asarray(q[f]) for f in family.element + family.per_block}
        except (KeyError, TypeError, json.JSONDecodeError) as e:
            raise QuantizeError(f"q must be a Quantized or the content of a .npz it wrote "
                                f"(format, params and the code/scale fields): {e}") from None
    family, fmt = _resolve(format)
    if family is _MXSF:
        fmt = _checked(MxsfFormat, params["sub_ebits"], params["sub_mbits"], params["sub_bias"])
    return _checked(_values, family, fmt, params, fields)


# -- the command line ------------------------------------------------------------------------------

def _load_npy(path):
    """One array from a .npy file (no pickles), or a QuantizeError naming FILE."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise QuantizeError(f"FILE: cannot read {str(path)!r}: {e.strerror or e}") from None
    with f:
        magic = f.read(6)
        if magic != b"\x93NUMPY":
            kind = "a .npz archive" if magic[:2] == b"PK" else "not a .npy file"
            raise QuantizeError(f"FILE: {str(path)!r} is {kind}; give one array saved with "
                                f"np.save")
        f.seek(0)
        try:
            arr = np.lib.format.read_array(f, allow_pickle=False)
        except Exception as e:     # a damaged or pickled file: whatever NumPy raises
            msg = " ".join(str(e).split())
            raise QuantizeError(f"FILE: cannot read {str(path)!r} as .npy: {msg}") from None
    if arr.dtype.name not in DTYPES or arr.dtype.name == "bfloat16":
        raise _dtype_error("FILE", arr.dtype)
    return arr


def _parse_int(name, text, lo=None):
    value = text
    for base in (0, 10):          # 0x10, -1 and also 08
        try:
            value = int(str(text), base)
            break
        except ValueError:
            pass
    return _int(name, value, lo)


def _parse_sets(format, sets):
    """``--set key=value`` items as options typed like the family's defaults."""
    family, _ = _resolve(format)
    defaults = family.defaults
    options = {}
    for item in sets:
        if "=" not in item:
            raise QuantizeError(f"--set expects key=value, not {item!r}")
        key, text = (s.strip() for s in item.split("=", 1))
        if key == "rand":
            raise QuantizeError("rand cannot be given on the command line: set seed (rand "
                                "is then drawn from numpy's default_rng(seed))")
        default = defaults.get(key)
        if key == "seed" or (isinstance(default, int) and not isinstance(default, bool)):
            options[key] = _parse_int(key, text)
        else:
            options[key] = text
    return options


def _number(v, spec, unit=""):
    return str(v) if not math.isfinite(v) else f"{v:{spec}}{unit}"


def run_cli(file, format, output, block=None, rounding=None, axis="-1", sets=(),
            nonfinite="error") -> str:
    """``mxforge quantize``: quantize the array of ``file`` (.npy) and write ``output`` (.npz).

    Every check runs before anything is written; the file is written to a temporary name and
    renamed. Returns the summary line to print.

    Raises
    ------
    QuantizeError
        Bad input: one line naming the parameter (FILE, --format, --block, --rounding,
        --axis, --set key, --nonfinite, -o) and what is allowed; nothing is written.
    """
    if file is None:
        raise QuantizeError("FILE is required: a .npy file holding one array (np.save)")
    if format is None:
        raise QuantizeError(f"--format is required: one of {', '.join(formats())} (or an MXSF "
                            f"variant {MXSF_NAMES})")
    if output is None:
        raise QuantizeError("-o is required: the output .npz file")
    out = Path(output)
    if out.suffix != ".npz":
        raise QuantizeError(f"-o must name a .npz file, not {output!r}")
    if not out.parent.is_dir():
        raise QuantizeError(f"-o: the directory {str(out.parent)!r} does not exist")
    options = _parse_sets(format, sets)
    block = None if block is None else _parse_int("block", block, 1)
    axis = _parse_int("axis", axis)
    q = quantize(_load_npy(file), format, block=block, rounding=rounding, axis=axis,
                 nonfinite=nonfinite, **options)
    try:
        q.save(out)
    except OSError as e:
        raise QuantizeError(f"-o: cannot write {output!r}: {e.strerror or e}") from None
    s, p = q.summary, q.params
    nblocks = q.values.size // p["block"]
    return (f"{q.format}: {q.values.size} values, {nblocks} blocks of {p['block']} along axis "
            f"{p['axis']}, rounding {p['rounding']}: SQNR {_number(s['sqnr_db'], '.2f', ' dB')}"
            f", max rel err {_number(s['max_rel_err'], '.3g')}, flushed "
            f"{_number(100 * s['flushed'], '.3g', ' %')}, excluded {s['excluded']} -> {out}")
