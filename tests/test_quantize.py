"""The tensor API and ``mxforge quantize`` (docs/quantize.md).

- Bit-exact "as the hardware does": the codes and scales of a tensor equal the catalogued
  quantizer block's golden function on the same values cut into that block's input payload,
  and for one small configuration per family the RTL itself (Amaranth simulator).
- Values against independent references: ml_dtypes float8 casts (MX e4m3/e5m2), exact
  ``Fraction`` arithmetic (BFP elements, the summary metrics).
- The CLI: the documented npz keys, and one line, exit status 2 and no file for bad input.
"""
import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from golden.formats import MX_ELEMENTS, MXSF_NAMES
from golden.mx import random_blocks
from mxforge import dequantize, formats, quantize
from mxforge.catalogue import BLOCKS
from mxforge.cli import main
from mxforge.tensors import QuantizeError, Quantized

REPO = Path(__file__).resolve().parents[1]


def _f32(bits):
    return np.asarray(bits, dtype=np.int64).astype(np.uint32).view(np.float32)


def _bits(x):
    return np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.int64)


def _tensor(seed, shape, axis, block):
    """float32 tensor whose blocks along ``axis`` are golden.mx.random_blocks' FP32 mix (every
    binade, subnormals, zeros, ties, NaN/Inf blocks)."""
    rng = np.random.default_rng(seed)
    moved = list(shape)
    moved.append(moved.pop(axis))
    rows = int(np.prod(moved)) // block
    x = _f32(random_blocks(rng, rows, block)).reshape(moved)
    return np.moveaxis(x, -1, axis)


def _payload_rows(a, axis, block):
    """An element field of x's shape as the block's payload rows (n_blocks, block)."""
    return np.moveaxis(np.asarray(a), axis, -1).reshape(-1, block)


def _block_rows(a, axis):
    """A per-block field as one entry per block, in payload order."""
    return np.moveaxis(np.asarray(a), axis, -1).reshape(-1)


# -- bit-exact against the catalogued blocks' golden functions --------------------------------

# (format, API keywords, catalogued block, its parameters that fix the numbers)
CASES = [(e, {"block": 32}, "mx_quantize", {"elem": e, "k": 32, "rounding": "rne",
                                            "scale_rounding": "floor"})
         for e in MX_ELEMENTS if e != "mxsf"] + [
    ("e4m3", {"block": 8, "rounding": "rna", "scale_rounding": "ceil", "axis": 1},
     "mx_quantize", {"elem": "e4m3", "k": 8, "rounding": "rna", "scale_rounding": "ceil"}),
    ("mxint8", {"block": 16, "rounding": "rtz", "axis": 0},
     "mx_quantize", {"elem": "mxint8", "k": 16, "rounding": "rtz", "scale_rounding": "floor"}),
    ("mxsf", {"block": 32}, "mxsf_quantize",
     {"k": 32, "rounding": "rne", "scale_rounding": "floor", "sub_ebits": 3, "sub_mbits": 2,
      "sub_bias": 8}),
    ("mxsf_b6", {"block": 4, "rounding": "rtz"}, "mxsf_quantize",
     {"k": 4, "rounding": "rtz", "scale_rounding": "floor", "sub_ebits": 3, "sub_mbits": 2,
      "sub_bias": 6}),
    ("mxsf", {"block": 8, "sub_bias": 10, "axis": 1, "scale_rounding": "ceil"}, "mxsf_quantize",
     {"k": 8, "rounding": "rne", "scale_rounding": "ceil", "sub_ebits": 3, "sub_mbits": 2,
      "sub_bias": 10}),
    ("mxsf_e2m3_b4", {"block": 8, "rounding": "rna"}, "mxsf_quantize",
     {"k": 8, "rounding": "rna", "scale_rounding": "floor", "sub_ebits": 2, "sub_mbits": 3,
      "sub_bias": 4}),
    ("bfp", {}, "bfp_quantize", {"G": 54, "m": 16, "rounding": "rtz"}),
    ("bfp", {"block": 16, "m": 8, "rounding": "rne", "axis": 0}, "bfp_quantize",
     {"G": 16, "m": 8, "rounding": "rne"}),
    ("bfp", {"block": 24, "m": 4}, "bfp_quantize", {"G": 24, "m": 4, "rounding": "rtz"}),
    ("bfp", {"block": 16, "m": 8, "rounding": "stochastic", "rbits": 5}, "bfp_quantize",
     {"G": 16, "m": 8, "rounding": "stochastic", "rbits": 5}),
    ("opal", {}, "opal_quantize", {"n": 128, "k": 4, "bits": 3, "rounding": "rne"}),
    ("opal", {"block": 32, "k": 3, "bits": 5, "rounding": "rna", "axis": 1}, "opal_quantize",
     {"n": 32, "k": 3, "bits": 5, "rounding": "rna"}),
    ("opal", {"block": 16, "k": 1, "bits": 8, "rounding": "rtz", "axis": 0}, "opal_quantize",
     {"n": 16, "k": 1, "bits": 8, "rounding": "rtz"}),
]


def _shape(kw, block):
    """A 3-D tensor with two or three blocks along the axis under test."""
    axis = kw.get("axis", -1)
    shape = [3, 2, 5]
    shape[axis] = 2 * block if block >= 32 else 3 * block
    return tuple(shape), axis


@pytest.mark.parametrize("fmt, kw, block_name, hw", CASES,
                         ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_codes_and_scales_are_the_catalogued_blocks_golden(fmt, kw, block_name, hw):
    """The API on a 3-D tensor (random FP32 mix with NaN/Inf blocks, the hardware's rule for
    them) equals ``BLOCKS[name].golden`` on the same values as payload rows."""
    kw = dict(kw)
    size = hw["n"] if "n" in hw else hw.get("G", hw.get("k"))
    shape, axis = _shape(kw, size)
    x = _tensor(size, shape, axis, size)
    rand = None
    if kw.get("rounding") == "stochastic":
        rand = np.random.default_rng(7).integers(0, 1 << hw["rbits"], shape)
        kw["rand"] = rand
    q = quantize(x, fmt, nonfinite="nan_block", **kw)
    assert q.hardware == (block_name, hw)
    block = BLOCKS[block_name]
    rows = _payload_rows(_bits(x), axis, size)
    if block_name == "opal_quantize":
        payload = {"x": rows.reshape(-1, 16 if size >= 16 else size)}
    else:
        payload = {"x": rows}
    if rand is not None:
        payload["rand"] = _payload_rows(rand, axis, size)
        assert np.array_equal(q.rand, rand)           # the hardware's rand input, kept
    golden = block.golden(payload, **block.params(**hw))
    assert set(golden) == set(q.codes) | set(q.scales)
    for name, want in golden.items():
        want = np.asarray(want)
        if name in q.codes:
            got = _payload_rows(q.codes[name], axis, size)
        elif want.ndim == 2:              # OPAL's outliers/idx: (blocks, k)
            got = np.moveaxis(q.scales[name], axis, -2).reshape(-1, want.shape[1])
        else:
            got = _block_rows(q.scales[name], axis)
        assert np.array_equal(got.astype(np.int64), want), name
    assert q.values.shape == x.shape and q.values.dtype == np.float64
    assert np.array_equal(dequantize(q), q.values, equal_nan=True)


# the RTL: one small configuration per family, a handful of blocks each
RTL = [
    ("e4m3", {"block": 8}, {"stages": 0}, (2, 24)),
    ("mxsf_b10", {"block": 4}, {"stages": 1}, (3, 8)),
    ("bfp", {"block": 16, "m": 8, "rounding": "rne"}, {"stages": 1}, (5, 16)),
    ("opal", {"block": 16, "k": 1, "bits": 8, "rounding": "rtz"}, {"lanes": 4, "stages": 1},
     (2, 48)),
]


@pytest.mark.parametrize("fmt, kw, latency, shape", RTL, ids=[r[0] for r in RTL])
def test_codes_and_scales_are_the_rtl(fmt, kw, latency, shape):
    """The RTL of ``q.hardware`` (Amaranth simulator, with stalls) gives the API's codes and
    scales on the same blocks."""
    from sim.harness import simulate

    x = _tensor(11, shape, -1, kw["block"])
    q = quantize(x, fmt, nonfinite="nan_block", **kw)
    name, hw = q.hardware
    size = kw["block"]
    rows = _payload_rows(_bits(x), -1, size)
    lanes = latency.get("lanes", size)
    out = simulate(BLOCKS[name], {**hw, **latency}, {"x": rows.reshape(-1, lanes)},
                   backend="amaranth", n_out=len(rows))
    for field, got in out.items():
        got = np.asarray(got)
        if field in q.codes:
            want = _payload_rows(q.codes[field], -1, size)
        elif got.ndim == 2:
            want = q.scales[field].reshape(-1, got.shape[1])
        else:
            want = _block_rows(q.scales[field], -1)
        assert np.array_equal(got, want.astype(np.int64)), field


# -- values against independent references ----------------------------------------------------

@pytest.mark.parametrize("elem, dtype", [("e4m3", ml_dtypes.float8_e4m3fn),
                                         ("e5m2", ml_dtypes.float8_e5m2)])
def test_mx_values_are_ml_dtypes_casts(elem, dtype):
    """Scale E = clamp(floor(log2 amax) - emax, -127, 127) (emax from ml_dtypes' max); each
    element not saturated is the RNE cast of x / 2**E to the float8 type (codes and values);
    a saturated one is +-max * 2**E."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((6, 64)) * np.exp2(rng.integers(-14, 6, (6, 64)))
         * np.exp2(rng.integers(-130, 110, (6, 1)))).astype(np.float32)
    x[0, :32] = 0.0
    x[0, 3] = -0.0
    q = quantize(x, elem, block=32)
    top = float(ml_dtypes.finfo(dtype).max)
    emax = math.frexp(top)[1] - 1
    xb = x.astype(np.float64).reshape(6, 2, 32)
    amax = np.abs(xb).max(axis=-1)
    floor_log2 = np.array([[math.frexp(a)[1] - 1 if a else -1000 for a in r] for r in amax])
    E = np.clip(floor_log2 - emax, -127, 127)
    assert np.array_equal(q.scales["scale"], (E + 127).astype(np.uint8))
    scaled = np.ldexp(xb, -E[..., None])
    fits = np.abs(scaled) <= top
    cast = scaled.astype(dtype)
    want = np.ldexp(cast.astype(np.float64), E[..., None])
    got = q.values.reshape(6, 2, 32)
    codes = q.codes["codes"].reshape(6, 2, 32)
    assert np.array_equal(got[fits], want[fits])
    assert np.array_equal(codes[fits], cast.view(np.uint8)[fits])
    assert np.array_equal(np.signbit(got[fits]), np.signbit(want[fits]))
    sat = np.ldexp(np.sign(xb) * top, E[..., None])
    assert np.array_equal(got[~fits], sat[~fits])
    assert (~fits).any() and (cast.astype(np.float64)[fits] == 0).any()  # both cases met


def _bfp_ref(xs, m, rounding):
    """Exact BFP of one group (docs/numerics.md §5): Fractions, no golden code."""
    normal = [v for v in xs if v != 0 and abs(v) >= 2.0**-126]
    M = max((math.frexp(abs(v))[1] - 1 + 127 for v in normal), default=0)
    unit = Fraction(2) ** (M - 127 - (m - 1))
    out = []
    for v in xs:
        if abs(v) < 2.0**-126:            # zero or FP32 subnormal: flushed
            q = 0
        else:
            r = Fraction(abs(v)) / unit
            q = math.floor(r)
            if rounding == "rne" and (r - q > Fraction(1, 2)
                                      or (r - q == Fraction(1, 2) and q % 2 == 1)):
                q += 1
            q = min(q, 2**m - 1)
        out.append((-1 if math.copysign(1, v) < 0 else 1) * q * unit)
    return M, out


@pytest.mark.parametrize("m, rounding", [(16, "rtz"), (8, "rne"), (4, "rne"), (4, "rtz")])
def test_bfp_values_are_exact_fractions(m, rounding):
    rng = np.random.default_rng(m)
    x = (rng.standard_normal((2, 16)) * np.exp2(rng.integers(-12, 3, (2, 16)))).astype(
        np.float32)
    x[0, 5] = 0.75 * 2.0**-10 * np.abs(x[0]).max()          # far below the top: zero-set
    x[1, 2] = np.float32(1e-40)                             # FP32 subnormal: flushed
    x[1, 7] = -x[1, 7]
    q = quantize(x, "bfp", block=8, m=m, rounding=rounding)
    for r in range(2):
        for g in range(2):
            xs = [float(v) for v in x[r, 8 * g:8 * g + 8]]
            M, vals = _bfp_ref(xs, m, rounding)
            assert int(q.scales["exp"][r, g]) == M
            got = q.values[r, 8 * g:8 * g + 8]
            assert [Fraction(float(v)) for v in got] == vals
            nonzero_flushed = sum(1 for v, w in zip(xs, vals) if v != 0 and w == 0)
            assert int(q.scales["zse"][r, g]) == nonzero_flushed


def _exact_summary(x, v):
    """sqnr_db (float64 of the exact ratio), max_rel_err and flushed as exact Fractions over S
    (finite x, v not NaN), from Python floats."""
    S = [(Fraction(a), b) for a, b in zip(x, v) if math.isfinite(a) and not math.isnan(b)]
    if any(math.isinf(b) for _, b in S):
        return {"sqnr_db": -math.inf, "max_rel_err": math.inf}
    S = [(a, Fraction(b)) for a, b in S]
    sig = sum(a * a for a, _ in S)
    err = sum((a - b) ** 2 for a, b in S)
    rel = [abs(a - b) / abs(a) for a, b in S if a != 0 and b != 0]
    nz = [b for a, b in S if a != 0]
    return {"sqnr_db": 10 * math.log10(sig / err), "max_rel_err": float(max(rel)),
            "flushed": Fraction(sum(1 for b in nz if b == 0), len(nz)),
            "excluded": len(x) - len(S)}


def test_summary_metrics_are_exact():
    """e2m1 blocks of 4 with flushes, saturation, an exact element and a NaN block (three finite
    elements excluded with the NaN)."""
    x = np.array([6.0, 0.25, -0.1, 3.3, 1.0, 0.011, -7.9, 2.6, 0.5, np.nan, 1.0, 2.0],
                 dtype=np.float32)
    q = quantize(x, "e2m1", block=4, nonfinite="nan_block")
    want = _exact_summary([float(a) for a in x], [float(b) for b in q.values])
    s = q.summary
    assert math.isclose(s["sqnr_db"], want["sqnr_db"], rel_tol=1e-13)
    assert s["max_rel_err"] == want["max_rel_err"]
    assert s["flushed"] == float(want["flushed"]) and want["flushed"] > 0
    assert s["excluded"] == want["excluded"] == 4


def test_summary_of_an_overflowing_outlier():
    """OPAL: FP32's largest finite rounds to BF16 +Inf (docs/numerics.md §7.1): infinite noise,
    infinite relative error; the NaN kept as an outlier is excluded."""
    x = np.linspace(-1, 1, 16).astype(np.float32)
    x[3] = np.finfo(np.float32).max
    x[9] = np.nan
    q = quantize(x, "opal", block=16, k=2, bits=5)      # two specials per block: no error
    assert q.values[3] == np.inf and np.isnan(q.values[9])
    want = _exact_summary([float(a) for a in x], [float(b) for b in q.values])
    assert q.summary["sqnr_db"] == want["sqnr_db"] == -math.inf
    assert q.summary["max_rel_err"] == want["max_rel_err"] == math.inf
    assert q.summary["excluded"] == 1


# -- inputs, names, defaults -------------------------------------------------------------------

def test_dtypes_that_hold_fp32_values_are_the_same_tensor():
    x = np.array([[1.5, -0.375, 2.0**-20, 96.0, -0.0, 3.0, 0.09375, 7.0]], dtype=np.float32)
    ref = quantize(x, "e3m2", block=8)
    for a in (x.astype(np.float16), x.astype(ml_dtypes.bfloat16), x.astype(np.float64),
              x.tolist()):
        q = quantize(a, "e3m2", block=8)
        assert np.array_equal(q.codes["codes"], ref.codes["codes"])
        assert np.array_equal(q.values, ref.values)


def test_formats_and_defaults_are_the_catalogues():
    choices = BLOCKS["mx_quantize"].choices["elem"]
    assert formats() == [c for c in choices if c != MXSF_NAMES] + ["bfp", "opal"]
    x = np.ones((1, 3456), np.float32)       # divisible by 32, 54 and 128
    for fmt, name, size in (("e2m1", "mx_quantize", "k"), ("mxsf", "mxsf_quantize", "k"),
                            ("bfp", "bfp_quantize", "G"), ("opal", "opal_quantize", "n")):
        q = quantize(x, fmt)
        d = BLOCKS[name].defaults
        assert q.params["block"] == d[size] and q.params["rounding"] == d["rounding"]
        assert {k: v for k, v in q.hardware[1].items() if k != "elem"} == {
            k: d[k] for k in q.hardware[1] if k != "elem"}


def test_nonfinite_rule():
    x = np.arange(64, dtype=np.float32).reshape(2, 32)
    x[1, 4] = np.inf
    with pytest.raises(QuantizeError, match=r"x holds NaN/Inf .*index \(1, 4\).*nan_block"):
        quantize(x, "e4m3")
    q = quantize(x, "e4m3", nonfinite="nan_block")
    assert q.scales["scale"][1, 0] == 255 and q.scales["scale"][0, 0] != 255
    assert np.isnan(q.values[1]).all() and not np.isnan(q.values[0]).any()
    assert q.summary["excluded"] == 32
    # OPAL keeps up to k specials per block as BF16 outliers, more is an error
    x[1, 6] = -np.inf
    assert quantize(x, "opal", block=32, k=2).values[1, 6] == -np.inf
    with pytest.raises(QuantizeError, match=r"more than k=1 NaN/Inf values in a block of 32"):
        quantize(x, "opal", block=32, k=1)


@pytest.mark.parametrize("args, kw, needle", [
    (("fp7",), {}, "format must be one of e5m2, e4m3"),
    (("mxsf_b3",), {}, "sub_bias must be an integer in 5..16"),
    (("e4m3",), {"block": 24}, "block=24 must divide x's length 64 along axis -1"),
    (("bfp",), {}, "block=54 (bfp_quantize's default G) must divide"),
    (("e4m3",), {"block": 0}, "block must be an integer >= 1, not 0"),
    (("e4m3",), {"block": 2.0}, "block must be an integer >= 1, not 2.0"),
    (("opal",), {"block": 48}, "block must be a power of two in 2..1024"),
    (("e4m3",), {"rounding": "stochastic"}, "rounding must be one of rne, rna, rtz for e4m3"),
    (("bfp",), {"block": 16, "rounding": "rna"}, "rounding must be one of rtz, rne, stochastic"),
    (("e4m3",), {"axis": 2}, "axis must be an integer in -2..1"),
    (("e4m3",), {"k": 16}, "e4m3 has no option 'k'; its options are: scale_rounding (the "
                           "block size is block"),
    (("opal",), {"block": 32, "stages": 1}, "stages sets the hardware's latency"),
    (("e4m3",), {"scale_rounding": "up"}, "scale_rounding must be one of floor, ceil"),
    (("mxsf_b6",), {"sub_bias": 8}, "sub_bias=8 contradicts format 'mxsf_b6'"),
    (("bfp",), {"block": 16, "m": 30}, "m must be an integer in 2..24"),
    (("bfp",), {"block": 16, "seed": 1}, "seed is used only with rounding='stochastic'"),
    (("bfp",), {"block": 16, "rounding": "stochastic"}, "needs exactly one of seed"),
    (("bfp",), {"block": 16, "rounding": "stochastic", "rand": np.full((2, 64), 256)},
     "rand must hold integers in [0, 2**rbits) = [0, 256)"),
    (("opal",), {"block": 32, "k": 32}, "k must be an integer in 1..31"),
    (("opal",), {"block": 32, "bits": 9}, "bits must be an integer in 2..8"),
    (("e4m3",), {"nonfinite": "keep"}, "nonfinite must be one of error, nan_block"),
])
def test_bad_arguments_name_the_parameter(args, kw, needle):
    x = np.ones((2, 64), np.float32)
    with pytest.raises(QuantizeError) as info:
        quantize(x, *args, **kw)
    assert needle in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("x, needle", [
    (np.arange(4), "x must have dtype float16, bfloat16, float32, float64"),
    (np.array([0.1, 1.0]), "x: float64 values must be FP32 numbers"),
    (np.float32(1.0), "x must be an array with at least one element and one dimension"),
    (np.zeros((2, 0), np.float32), "at least one element"),
])
def test_bad_tensors(x, needle):
    with pytest.raises(QuantizeError) as info:
        quantize(x, "e4m3", block=1)
    assert needle in str(info.value)


def test_import_is_light_and_the_package_reexports_the_api():
    code = ("import sys, mxforge\n"
            "assert 'numpy' not in sys.modules and 'amaranth' not in sys.modules\n"
            "import mxforge.tensors\n"
            "from mxforge.tensors import Quantized\n"
            "from mxforge import quantize, dequantize\n"
            "assert quantize.__name__ == 'quantize' and callable(dequantize)\n"
            "assert mxforge.quantize is mxforge.tensors.quantize is quantize\n"
            "assert 'amaranth' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# -- the CLI -----------------------------------------------------------------------------------

#: npz keys per family (docs/quantize.md "The .npz file")
COMMON = {"format", "params", "values", "sqnr_db", "max_rel_err", "flushed", "excluded"}
KEYS = {"e4m3": {"codes", "scale"}, "mxsf_b6": {"codes", "scale"}, "bfp": {"signs", "mags",
        "exp", "zse"}, "opal": {"codes", "scale", "outliers", "idx"}}


@pytest.mark.parametrize("fmt, flags, kw", [
    ("e4m3", ["--axis", "0", "--set", "scale_rounding=ceil"],
     {"axis": 0, "scale_rounding": "ceil"}),
    ("mxsf_b6", ["--block", "8", "--rounding", "rtz"], {"block": 8, "rounding": "rtz"}),
    ("bfp", ["--block", "16", "--set", "m=8", "--rounding", "stochastic", "--set", "seed=3"],
     {"block": 16, "m": 8, "rounding": "stochastic", "seed": 3}),
    ("opal", ["--block", "32", "--set", "k=2", "--set", "bits=5"],
     {"block": 32, "k": 2, "bits": 5}),
])
def test_cli_writes_the_documented_npz(tmp_path, capsys, fmt, flags, kw):
    x = _tensor(3, (32, 64), -1, 32)
    x = np.where(np.isfinite(x), x, np.float32(1.0))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "q.npz"
    assert main(["quantize", str(tmp_path / "x.npy"), "--format", fmt, *flags,
                 "-o", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{fmt}: 2048 values") and "SQNR" in line and str(out) in line
    with np.load(out, allow_pickle=False) as z:
        stored = {k: z[k] for k in z.files}
    keys = COMMON | KEYS[fmt] | ({"rand"} if "stochastic" in flags else set())
    assert set(stored) == keys
    q = quantize(x, fmt, **kw)
    assert isinstance(q, Quantized) and str(stored["format"]) == q.format
    assert json.loads(str(stored["params"])) == q.params
    arrays = {**q.codes, **q.scales, "values": q.values}
    if q.rand is not None:
        arrays["rand"] = q.rand
    for k, v in arrays.items():
        assert np.array_equal(stored[k], v) and stored[k].dtype == v.dtype, k
    for k, v in q.summary.items():
        assert stored[k] == v or (math.isnan(v) and math.isnan(stored[k])), k
    assert np.array_equal(dequantize(np.load(out)), q.values)


def test_stochastic_seed_is_numpys_default_rng():
    x = _tensor(4, (4, 16), -1, 16)
    x = np.where(np.isfinite(x), x, np.float32(0))
    rand = np.random.default_rng(9).integers(0, 16, x.shape)
    a = quantize(x, "bfp", block=16, rounding="stochastic", seed=9, rbits=4)
    b = quantize(x, "bfp", block=16, rounding="stochastic", rbits=4, rand=rand)
    assert np.array_equal(a.rand, rand) and np.array_equal(b.rand, rand)
    assert np.array_equal(a.codes["mags"], b.codes["mags"])
    assert a.params["seed"] == 9 and "seed" not in b.params


def _bad_inputs(d):
    np.save(d / "x.npy", np.ones((4, 64), np.float32))
    np.save(d / "i.npy", np.arange(64))
    np.save(d / "f64.npy", np.full((4, 64), 0.1))
    np.save(d / "obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    nan = np.ones((4, 64), np.float32)
    nan[2, 7] = np.nan
    np.save(d / "nan.npy", nan)
    (d / "text.npy").write_text("not numpy\n")
    np.savez(d / "arch.npz", x=np.ones(4))
    (d / "dir.npz").mkdir()


BAD = [
    (["missing.npy", "--format", "e4m3"], "FILE: cannot read"),
    (["text.npy", "--format", "e4m3"], "FILE: 'text.npy' is not a .npy file"),
    (["arch.npz", "--format", "e4m3"], "FILE: 'arch.npz' is a .npz archive"),
    (["obj.npy", "--format", "e4m3"], "FILE: cannot read 'obj.npy' as .npy"),
    (["i.npy", "--format", "e4m3"], "FILE must have dtype float16, bfloat16, float32, float64"),
    (["f64.npy", "--format", "e4m3"], "x: float64 values must be FP32 numbers"),
    (["nan.npy", "--format", "bfp", "--block", "16"], "x holds NaN/Inf values (1, the first "
                                                      "at index (2, 7))"),
    (["x.npy", "--format", "e4m3", "--block", "48"], "block=48 must divide"),
    (["x.npy", "--format", "e4m3", "--block", "four"], "block must be an integer >= 1"),
    (["x.npy", "--format", "fp7"], "format must be one of"),
    (["x.npy"], "--format is required: one of e5m2"),
    (["x.npy", "--format", "e4m3", "--rounding", "up"], "rounding must be one of rne, rna, rtz"),
    (["x.npy", "--format", "e4m3", "--set", "m=8"], "e4m3 has no option 'm'"),
    (["x.npy", "--format", "e4m3", "--set", "scale_rounding"], "--set expects key=value"),
    (["x.npy", "--format", "opal", "--block", "32", "--set", "k=two"],
     "k must be an integer, not 'two'"),
    (["x.npy", "--format", "bfp", "--block", "16", "--rounding", "stochastic", "--set",
      "rand=1"], "rand cannot be given on the command line"),
    (["x.npy", "--format", "e4m3", "--axis", "x"], "axis must be an integer"),
    (["x.npy", "--format", "e4m3", "--nonfinite", "skip"], "nonfinite must be one of"),
]


def test_cli_bad_input_is_one_line_exit_2_and_no_file(tmp_path, capsys, monkeypatch):
    _bad_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    cases = BAD + [(["x.npy", "--format", "e4m3", "-o", "q.npy"], "-o must name a .npz file"),
                   (["x.npy", "--format", "e4m3", "-o", "no/q.npz"], "-o: the directory 'no'"),
                   (["x.npy", "--format", "e4m3", "-o", "dir.npz"], "-o: cannot write"),
                   (["x.npy", "--format", "e4m3", "-o"], None)]
    for args, needle in cases:
        argv = ["quantize", *args] + ([] if "-o" in args else ["-o", "q.npz"])
        try:
            status = main(argv)
        except SystemExit as e:         # argparse: -o without its value
            status = e.code
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2, args
        if needle is not None:
            assert len(err) == 1 and err[0].startswith("mxforge: error: "), (args, err)
            assert needle in err[0], (args, err[0])
        assert sorted(p.name for p in tmp_path.iterdir()) == before, args   # nothing written


def test_cli_process_bad_input_has_no_traceback(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((4, 64), np.float32))
    r = subprocess.run([sys.executable, "-m", "mxforge.cli", "quantize", str(tmp_path / "x.npy"),
                        "--format", "e4m3", "--block", "48", "-o", str(tmp_path / "q.npz")],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        "mxforge: error: block=48 must divide x's length 64 along axis -1 (x has shape "
        "(4, 64)): pad x, or choose another block or axis"]
    assert not (tmp_path / "q.npz").exists()
