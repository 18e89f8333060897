"""OPAL numerics study: ``make study-opal`` (``python -m studies.opal``).

How much does OPAL's outlier preservation (docs/numerics.md §7: the k = 4 largest of every n = 128
activations kept in BF16 with a 7-bit index, the other 124 in MXINT-3 or MXINT-5) buy over
plain block formats of the same or more bits, on activation-like data with channel outliers;
what does that mean for the dot products the OPAL lane computes; and how far are OPAL's
shift-and-subtract log2 softmax and the conventional exp/divide unit from the exact softmax?

Method
------
Every quantized value comes from the golden models: ``golden.opal.quantize`` /
``dequantize`` / ``dot`` (OPAL), ``golden.mx.quantize`` / ``dequantize`` (MXINT8, MXFP8 E4M3
and plain MXINT-3 / MXINT-5, the latter with the ``golden.formats.mxint`` descriptors),
``golden.mx_dot.dot_blocks`` (the MX lanes) and ``golden.softmax`` (both softmax units). The
study only generates inputs, measures and reports. Every rounding is "rne"; MX scales are OCP
"floor".

Data kinds. Rows of n = 128 float32 activations (one OPAL block per row), ``--rows`` rows per
kind (default 2048), seeded with (``seed``, CRC-32 of the kind's name): reproducible and
independent of the other kinds.

- Student-t rows (ν = 3, 4, 5) from ``golden.opal.activations``: ``channels`` fixed positions
  (the same in every row, as the outlier channels of transformer hidden states) multiplied by
  ``gain``, each row at a random scale 2^U(-8, 8). ν = 3 is swept over channels 0, 2, 4, 8
  (per 128-element block) and gains 10, 50, 100; ν = 4 and 5 with 0 and 4 channels × 50.
- Gaussian rows: N(0, 1) at the same random row scale (no outliers at all).

The outlier channels are found without relying on ``activations``' internals: the same
generator state is drawn once with the kind's gain and once with gain 1; the columns that differ
are the scaled ones. The other columns are the *bulk*.

1. Quantization error, per data kind and format. Formats: OPAL-3 and OPAL-5 (n = 128, k = 4);
   plain MXINT-3 and MXINT-5 at block 128 (the same element grid, no outliers); OCP MXINT8 and
   MXFP8 E4M3 at block 32 (the OCP block) and at block 128 (OPAL's block, one scale per 128).
   Metrics:

   - SQNR (dB) over whole rows. The rows have random scales 2^U(-8, 8) and every format here is
     invariant under power-of-two scaling at these magnitudes, so each row is divided by its own
     RMS (float64, after quantization, the same factor for x and its quantized value) before
     ``sqnr_db``: every row weighs the same, SQNR = -10 log10(mean over rows of the row's
     noise-to-signal ratio). In rows with outlier channels most of the energy is in those few
     channels, so this SQNR mostly scores the outliers;
   - bulk SQNR (dB): the same over the bulk columns only (each row divided by the RMS of its bulk
     values), the error the ~120 ordinary channels see; and the share of nonzero bulk values
     that quantize to 0 (flushed).

   Average storage bits per element (scale and index bits included), at n = 128, k = 4:
   OPAL-b = ((n − k) b + k (16 + log2 n) + 8) / n (the outlier slots need no inlier code);
   an MX format with w-bit elements and block B = w + 8 / B.

2. Dot products. Weights: N(0, 1) rows (another stream of the same seed) quantized to MXINT8
   with one scale per 128 (the OPAL lane's X_w); the block-32 lanes get the same weight codes
   with that scale repeated for each 32-block, i.e. exactly the same weight values. One dot
   product per row (128 terms), accumulator +0. Reference: the float64 dot product of the
   *unquantized* float32 activations with those weight values. Lanes:

   - OPAL-3 / OPAL-5: ``golden.opal.dot`` on ``golden.opal.quantize`` (the hardware lane: exact
     inlier sum, FP32 outlier products, FP32 adds);
   - MXINT8 and MXFP8 E4M3 activations at block 32: ``golden.mx_dot.dot_blocks`` (the MX lane:
     each 32-block's sum exact, FP32 accumulation between blocks);
   - plain MXINT-3 / MXINT-5 at block 128: ``golden.mx.dequantize`` and a float64 dot (no lane
     exists for them; float64 adds no error that matters at these error levels).

   Metric: per row |ŷ − y| / |y|; reported as the median, 90th and 99th percentile over the rows
   (the top percentiles include rows where y nearly cancels).

3. Softmax. Attention-score rows s = q·K^T / √d / T (``golden.softmax.attention_scores``:
   d = 64, q and the n keys N(0, 1), so q·k / √d ≈ N(0, 1)) for n = 64 and 256 keys and
   temperatures T = 2, 1, 1/2, 1/4 (scores of standard deviation 0.5 … 4: flat to peaked
   rows), plus T = 1 with 2 positions per row raised by U(4, 12) (a row attending to a few
   keys); ``--softmax-rows`` rows per cell (default 256), seeded with (``seed``, "softmax", n,
   cell). The scores are rounded once to the units' signed fixed-point input
   (``golden.softmax.to_codes``: Q8.8 by default, RNE, saturating). This input rounding is
   shared by both units (the study checks that their defaults agree on in_bits, frac_bits and
   out_bits), and the reference p is the exact float64 softmax of the *rounded* scores
   (``golden.softmax.exact_softmax``), so the input rounding is in none of the errors. Both
   units run with their default parameters (``LOG2_DEFAULTS`` / ``EXP_DEFAULTS``) at each n.
   Also scored: the units' float64 approximation chains without truncation
   (``log2_reference``, ``exp_reference``; unit − chain is the fixed-point arithmetic's share)
   and the floor, p rounded once (RNE) to the output grid, the best any unit with this output
   format can do. Metrics, with p̂ the output values (codes / 2^out_bits):

   - max |p̂ − p| over every element of every row;
   - KL(p̂' ‖ p) in bits, p̂' = p̂ / Σ p̂, averaged over the rows: the output read as a
     distribution against the exact one. This direction needs no floor for the outputs the
     unit flushes to 0 (p > 0 always); they count through the renormalization (flushed mass m
     alone gives log2(1 / (1 − m))). It does not see a common scale error;
   - the mean |Σ p̂ − 1|, which does (the log2 unit's Mitchell log2 D scales a whole row).

Outputs in ``--out`` (default ``build/reports``): ``study_opal.md`` (the tables and the
findings, also printed), ``study_opal.json`` (every number) and ``study_opal.png`` (SQNR and bulk
SQNR per format per data kind; dot-product errors; softmax errors). Run with the default
parameters (``make study-opal``) it also rewrites the ``opal-*`` sections of docs/opal.md
(:mod:`studies.docs`); with any other parameters it never touches docs/. The default run takes
about 10 s.
"""
from __future__ import annotations

import sys
import time
import zlib
from pathlib import Path

import numpy as np

from golden import mx, mx_dot
from golden import opal as O
from golden import softmax as S
from golden.formats import E8M0, get_format, mxint

from . import common, docs
from .common import (flush_fraction, fmt_db, fmt_pct, fmt_rel, markdown_table, percent, span,
                     sqnr_db)

N, K = O.DEFAULT_N, O.DEFAULT_K
#: the OCP MX block
MX_BLOCK = common.BLOCK
ROUNDING = "rne"
#: bits of one stored outlier: a BF16 value and its log2(n)-bit index
OUTLIER_BITS = get_format("bf16").width + (N - 1).bit_length()
SCALE_BITS = E8M0.width
W_BITS = O.DEFAULT_W
DEFAULT_ROWS = 2048
DEFAULT_SOFTMAX_ROWS = 256
MAX_ROWS = 1 << 16
ROW_SCALE = (-8, 8)

#: name -> (label, kind, element, block); kind "opal" (element = inlier bits) or "mx"
FORMATS = {
    "opal3": ("OPAL-3", "opal", 3, N),
    "opal5": ("OPAL-5", "opal", 5, N),
    "mxint3_128": ("MXINT-3 /128", "mx", mxint(3), N),
    "mxint5_128": ("MXINT-5 /128", "mx", mxint(5), N),
    "mxint8_32": ("MXINT8 /32", "mx", "mxint8", MX_BLOCK),
    "e4m3_32": ("MXFP8 E4M3 /32", "mx", "e4m3", MX_BLOCK),
    "mxint8_128": ("MXINT8 /128", "mx", "mxint8", N),
    "e4m3_128": ("MXFP8 E4M3 /128", "mx", "e4m3", N),
}
#: OPAL format -> the plain MXINT format with the same inlier element
PLAIN = {"opal3": "mxint3_128", "opal5": "mxint5_128"}


def _kinds():
    kinds = {"gaussian": ("Gaussian", None, 0, 1.0)}
    for df, sweep in ((3, [(2, 10), (2, 50), (2, 100), (4, 10), (4, 50), (4, 100), (8, 10),
                          (8, 50), (8, 100)]), (4, [(4, 50)]), (5, [(4, 50)])):
        kinds[f"t{df}"] = (f"t{df} 0ch", df, 0, 1.0)
        for ch, gain in sweep:
            kinds[f"t{df}_c{ch}_g{gain}"] = (f"t{df} {ch}ch×{gain}", df, ch, float(gain))
    return kinds


#: data kind -> (label, Student-t ν (None: Gaussian), outlier channels, gain)
KINDS = _kinds()

#: dot-product lanes: name -> (label, format of FORMATS)
#: (in :data:`FORMATS`' order, so that the figure's colours match)
LANES = {
    "opal3": ("OPAL-3 lane", "opal3"),
    "opal5": ("OPAL-5 lane", "opal5"),
    "mxint3_128": ("MXINT-3 /128, float64 dot", "mxint3_128"),
    "mxint5_128": ("MXINT-5 /128, float64 dot", "mxint5_128"),
    "mxint8_32": ("MXINT8 /32 lane", "mxint8_32"),
    "e4m3_32": ("MXFP8 E4M3 /32 lane", "e4m3_32"),
}
PERCENTILES = (50, 90, 99)

#: softmax: head dimension, keys per row, and the cells: name -> (label, temperature T, peaks)
HEAD_DIM = 64
SOFTMAX_NS = (64, 256)
SOFTMAX_CELLS = {
    "T2": ("T = 2", 2.0, 0),
    "T1": ("T = 1", 1.0, 0),
    "T0.5": ("T = 1/2", 0.5, 0),
    "T0.25": ("T = 1/4", 0.25, 0),
    "T1_peaks2": ("T = 1, 2 peaks", 1.0, 2),
}
#: what item 3 scores: the two units, their float64 approximation chains, and the floor
SOFTMAX_UNITS = {"log2": "OPAL log2 softmax", "exp": "exp/divide softmax",
                 "log2_ref": "log2 chain, float64", "exp_ref": "exp chain, float64",
                 "floor": "exact, rounded to the output"}


def bits_per_element(fmt):
    """Average storage bits per element of ``fmt`` (a key of :data:`FORMATS`), scale and
    outlier indices included (module docstring)."""
    _, kind, elem, block = FORMATS[fmt]
    if kind == "opal":
        return ((N - K) * elem + K * OUTLIER_BITS + SCALE_BITS) / N
    return get_format(elem).width + SCALE_BITS / block


# -- inputs --------------------------------------------------------------------------------------

def _rng(seed, *names):
    return np.random.default_rng([int(seed)] + [zlib.crc32(s.encode()) for s in names])


def make_rows(kind, rows, seed=0):
    """float32 activations (rows, 128) of data kind ``kind`` and the bool mask (128,) of its
    outlier channels (module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    _, df, ch, gain = KINDS[kind]
    if df is None:
        rng = _rng(seed, kind)
        x = rng.standard_normal((rows, N)) * np.exp2(rng.uniform(*ROW_SCALE, (rows, 1)))
        return x.astype(np.float32), np.zeros(N, dtype=bool)
    x = O.activations(_rng(seed, kind), rows, N, df, ch, gain)
    # the same draws with gain 1: the scaled channels are the columns that differ
    plain = O.activations(_rng(seed, kind), rows, N, df, ch, 1.0)
    mask = np.any(x != plain, axis=0)
    if mask.sum() != ch:
        raise AssertionError(f"{kind}: found {mask.sum()} outlier channels, expected {ch}")
    return x, mask


def make_weights(kind, rows, seed=0):
    """MXINT8 weights for the dot products of ``kind``: (scale (rows, 1), codes (rows, 128))
    with one E8M0 scale per 128 elements."""
    w = _rng(seed, kind, "weights").standard_normal((rows, N)).astype(np.float32)
    return mx.quantize(w, "mxint8", N, -1, ROUNDING)


# -- 1. quantization -----------------------------------------------------------------------------

def quantize(x, fmt):
    """Golden quantization of rows ``x`` in format ``fmt``: dict with the float64 values
    ``"v"`` and the codes the dot-product lanes need."""
    _, kind, elem, block = FORMATS[fmt]
    if kind == "opal":
        q = O.quantize(x, N, K, elem, ROUNDING)
        return {"v": O.dequantize(q, elem), "q": q}
    s, c = mx.quantize(x, elem, block, -1, ROUNDING)
    return {"v": mx.dequantize(s, c, elem, block, -1), "scale": s, "codes": c}


def _row_normalized(x, v, where):
    """x and v divided by the RMS of each row of x over ``where`` (float64)."""
    x = x.astype(np.float64)
    r = np.sqrt(np.sum(np.where(where, x * x, 0.0), axis=1, keepdims=True) / np.sum(where))
    return x / r, v / r


def quant_metrics(x, v, mask):
    """Item 1's metrics of golden values ``v`` for activations ``x`` with outlier-channel mask
    ``mask`` (128,)."""
    everywhere = np.ones(N, dtype=bool)
    bulk = np.broadcast_to(~mask, x.shape)
    return {"sqnr_db": sqnr_db(*_row_normalized(x, v, everywhere)),
            "bulk_sqnr_db": sqnr_db(*_row_normalized(x, v, ~mask), where=bulk),
            "bulk_flushed": flush_fraction(x, v, where=bulk)}


# -- 2. dot products -----------------------------------------------------------------------------

def lane_dot(fmt, quant, w_scale, w_codes):
    """Item 2: the lane's dot product of each row (float64), activations ``quant`` (from
    :func:`quantize`) against MXINT8 weights with one scale per row."""
    _, kind, elem, block = FORMATS[fmt]
    rows = w_codes.shape[0]
    if kind == "opal":
        q = quant["q"]
        bits = O.dot(q["scale"][:, 0], q["codes"][:, 0], q["outliers"][:, 0], q["idx"][:, 0],
                     w_scale[:, 0], w_codes, np.zeros(rows, dtype=np.int64), elem, W_BITS)
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)
    if isinstance(elem, str):
        ws = np.repeat(w_scale, N // block, axis=1)   # the same weight values, per 32-block
        bits = mx_dot.dot_blocks(quant["scale"], quant["codes"], ws, w_codes, elem, "mxint8")
        return bits.view(np.float32).astype(np.float64)
    wv = mx.dequantize(w_scale, w_codes, "mxint8", N, -1)
    return np.sum(quant["v"] * wv, axis=1)


def rel_err_summary(ref, got):
    """Percentiles (:data:`PERCENTILES`) of |got − ref| / |ref| over the rows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.abs(got - ref) / np.abs(ref)
    return {f"p{p}": float(np.percentile(e, p)) for p in PERCENTILES}


# -- 3. softmax ----------------------------------------------------------------------------------

def softmax_scores(n, cell, rows, seed=0):
    """float64 attention scores (rows, n) of softmax cell ``cell`` (a key of
    :data:`SOFTMAX_CELLS`): ``golden.softmax.attention_scores`` with d = :data:`HEAD_DIM`,
    scale 1 / T and the cell's peaks, seeded with (seed, "softmax", n, cell)."""
    _, temperature, peaks = SOFTMAX_CELLS[cell]
    rng = _rng(seed, "softmax", str(n), cell)
    return S.attention_scores(rng, rows, n, HEAD_DIM, 1.0 / temperature, peaks)


def softmax_metrics(p, got):
    """Item 3's metrics of outputs ``got`` (probability values) against the exact ``p``:
    max |got − p|, the mean over the rows of KL(got' ‖ p) in bits with got' = got / Σ got, and
    the mean |Σ got − 1|."""
    mass = got.sum(axis=-1, keepdims=True)
    g = got / mass
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.sum(np.where(g > 0, g * np.log2(g / p), 0.0), axis=-1)
    return {"max_abs": float(np.max(np.abs(got - p))), "kl_bits": float(np.mean(kl)),
            "mass_err": float(np.mean(np.abs(mass - 1.0)))}


def softmax_params(n):
    """{"log2": ..., "exp": ...}: each unit's default parameters at ``n`` keys; the input
    format (in_bits, frac_bits) and out_bits must be the same for both (they are shared)."""
    params = {"log2": {**S.LOG2_DEFAULTS, "n": n}, "exp": {**S.EXP_DEFAULTS, "n": n}}
    for key in ("in_bits", "frac_bits", "out_bits"):
        if params["log2"][key] != params["exp"][key]:
            raise AssertionError(f"the softmax units' default {key} differ: the study compares "
                                 "them on one shared input and output format")
    return params


def softmax_cell(n, cell, rows, seed=0):
    """Item 3 for one (n, cell): the metrics of each unit, of the units' float64 approximation
    chains and of the floor, and the share of saturated inputs."""
    params = softmax_params(n)
    lg = params["log2"]
    ob, fb = lg["out_bits"], lg["frac_bits"]
    scores = softmax_scores(n, cell, rows, seed)
    codes = S.to_codes(scores, lg["in_bits"], fb)   # the one input rounding, shared
    p = S.exact_softmax(codes, fb)
    lo, hi = -(1 << (lg["in_bits"] - 1)), (1 << (lg["in_bits"] - 1)) - 1
    got = {"log2": np.ldexp(S.log2_softmax(codes, **lg).astype(np.float64), -ob),
           "exp": np.ldexp(S.exp_softmax(codes, **params["exp"]).astype(np.float64), -ob),
           "log2_ref": S.log2_reference(codes, **lg),
           "exp_ref": S.exp_reference(codes, **params["exp"]),
           "floor": np.ldexp(np.rint(np.ldexp(p, ob)), -ob)}
    out = {u: softmax_metrics(p, v) for u, v in got.items()}
    out["input_saturated"] = float(np.mean((codes == lo) | (codes == hi)))
    return out


# -- the study -----------------------------------------------------------------------------------

def run(rows=DEFAULT_ROWS, seed=0, softmax_rows=DEFAULT_SOFTMAX_ROWS, softmax_ns=SOFTMAX_NS):
    """Compute the study; returns a JSON-able dict: ``quant[fmt][kind]``, ``dot[lane][kind]``,
    ``softmax[str(n)][cell][unit]`` and the parameters."""
    res = {"params": {"rows": rows, "seed": seed, "n": N, "k": K, "mx_block": MX_BLOCK,
                      "rounding": ROUNDING, "w_bits": W_BITS, "row_scale": list(ROW_SCALE),
                      "softmax_rows": softmax_rows, "softmax_n": list(softmax_ns),
                      "head_dim": HEAD_DIM},
           "formats": {f: v[0] for f, v in FORMATS.items()},
           "bits_per_element": {f: bits_per_element(f) for f in FORMATS},
           "kinds": {k: {"label": v[0], "df": v[1], "channels": v[2], "gain": v[3]}
                     for k, v in KINDS.items()},
           "lanes": {ln: v[0] for ln, v in LANES.items()},
           "softmax_cells": {c: {"label": v[0], "temperature": v[1], "peaks": v[2]}
                             for c, v in SOFTMAX_CELLS.items()},
           "softmax_units": dict(SOFTMAX_UNITS),
           "quant": {f: {} for f in FORMATS}, "dot": {ln: {} for ln in LANES}, "softmax": {}}
    for kind in KINDS:
        x, mask = make_rows(kind, rows, seed)
        ws, wc = make_weights(kind, rows, seed)
        # the exact products of FP32 activations and 8-bit weights, summed in float64
        ref = np.sum(x.astype(np.float64) * mx.dequantize(ws, wc, "mxint8", N, -1), axis=1)
        for f in FORMATS:
            quant = quantize(x, f)
            res["quant"][f][kind] = quant_metrics(x, quant["v"], mask)
            for ln, (_, lf) in LANES.items():
                if lf == f:
                    res["dot"][ln][kind] = rel_err_summary(ref, lane_dot(f, quant, ws, wc))
    if softmax_rows:
        res["params"]["softmax_params"] = softmax_params(softmax_ns[0])
        for n in softmax_ns:
            res["softmax"][str(n)] = {c: softmax_cell(n, c, softmax_rows, seed)
                                      for c in SOFTMAX_CELLS}
    return res


# -- report --------------------------------------------------------------------------------------

def _gap(res, f, kind, key="sqnr_db"):
    """SQNR of OPAL format ``f`` minus that of its plain MXINT twin (dB)."""
    return res["quant"][f][kind][key] - res["quant"][PLAIN[f]][kind][key]


def _sm_cells(res):
    """(n, cell label, cell) in table order."""
    for n, per in res["softmax"].items():
        for c, cell in per.items():
            yield n, res["softmax_cells"][c]["label"], cell


def _sqnr_table(res, kinds=None, formats=None, bits=False) -> str:
    """Item 1's SQNR table over ``kinds`` and ``formats`` (default all), with OPAL-b's gain over
    plain MXINT-b; ``bits``: each heading carries the format's bits per element."""
    kinds = list(res["kinds"]) if kinds is None else kinds
    formats = list(res["formats"]) if formats is None else formats
    head = [res["formats"][f] + (f" ({res['bits_per_element'][f]:.4g})" if bits else "")
            for f in formats]
    rows = [[res["kinds"][kd]["label"]] + [fmt_db(res["quant"][f][kd]["sqnr_db"]) for f in formats]
            + [fmt_db(_gap(res, f, kd)) for f in PLAIN] for kd in kinds]
    gaps = [f"{res['formats'][f]} − {res['formats'][m].split(' /')[0]}" for f, m in PLAIN.items()]
    return markdown_table(["data"] + head + gaps, rows)


def render_markdown(res) -> str:
    p = res["params"]
    fl = res["formats"]
    kinds = res["kinds"]
    t0 = []
    for f, lab in fl.items():
        _, kind, elem, block = FORMATS[f]
        if kind == "opal":
            how = (f"({p['n']}−{p['k']})·{elem} + {p['k']}·({OUTLIER_BITS}) + {SCALE_BITS} "
                   f"per {p['n']}")
        else:
            width = round(res["bits_per_element"][f] - SCALE_BITS / block)
            how = f"{width} + {SCALE_BITS}/{block}"
        t0.append([lab, block, how, f"{res['bits_per_element'][f]:.4g}"])
    t2 = []
    for kd, info in kinds.items():
        q = {f: res["quant"][f][kd] for f in fl}
        t2.append([info["label"]] + [f"{fmt_db(q[f]['bulk_sqnr_db'])} / "
                                     f"{fmt_pct(q[f]['bulk_flushed'], 1)}" for f in fl])
    t3 = [[info["label"]] + [" / ".join(fmt_rel(res["dot"][ln][kd][f"p{q}"])
                                        for q in PERCENTILES) for ln in res["lanes"]]
          for kd, info in kinds.items()]
    parts = [
        "# OPAL numerics study",
        "",
        f"`python -m studies.opal`: {p['rows']} rows of {p['n']} float32 activations per data "
        f"kind (one OPAL block per row, each row at a random scale 2^U({p['row_scale'][0]}, "
        f"{p['row_scale'][1]})), seed {p['seed']}. OPAL-b: n = {p['n']}, k = {p['k']} BF16 "
        "outliers with a 7-bit index, MXINT-b inliers (`golden.opal`); OCP MX formats at block "
        f"{p['mx_block']} and {p['n']} and plain MXINT-3/5 at block {p['n']} (`golden.mx`); "
        f"{p['rounding']} rounding, floor scales. Data kinds: Gaussian, and Student-t(ν) rows "
        "from `golden.opal.activations` with *c*ch×*g* = c fixed outlier channels per 128 "
        "scaled by g. Method: the docstring of `studies/opal.py`.",
        "",
        "## Formats",
        "",
        "Average storage bits per element, scales and outlier indices included.",
        "",
        markdown_table(["format", "block", "bits per block", "bits / element"], t0),
        "## 1. Quantization SQNR",
        "",
        "SQNR (dB) over whole rows, each row normalized to unit RMS (every row weighs the same). "
        "The last two columns are OPAL-b's gain over plain MXINT-b at the same block (dB).",
        "",
        _sqnr_table(res),
        "Bulk (the columns that are not outlier channels; all columns for 0ch and Gaussian): "
        "SQNR (dB) / share of nonzero bulk values flushed to 0.",
        "",
        markdown_table(["data"] + list(fl.values()), t2),
        "## 2. Dot products",
        "",
        f"One 128-term dot product per row against MXINT{p['w_bits']} weights (one scale per "
        "128; the /32 lanes get the same weight values), accumulator +0, against the float64 "
        "dot product of the unquantized activations with the same weights. Cells: relative "
        "error |ŷ − y| / |y|, median / 90th / 99th percentile over the rows. OPAL lanes: "
        "`golden.opal.dot`; MXINT8 and E4M3 lanes: `golden.mx_dot.dot_blocks` (exact block "
        "sums, FP32 accumulation); MXINT-3/5: `golden.mx.dequantize` and a float64 dot.",
        "",
        markdown_table(["data"] + list(res["lanes"].values()), t3),
    ]
    if res["softmax"]:
        sp = p["softmax_params"]
        lg = sp["log2"]
        units = res["softmax_units"]
        t4 = [[n, lab, fmt_pct(c["input_saturated"], 2)]
              + [f"{fmt_rel(c[u]['max_abs'])} / {fmt_rel(c[u]['kl_bits'])} / "
                 f"{fmt_rel(c[u]['mass_err'])}" for u in units]
              for n, lab, c in _sm_cells(res)]
        parts += [
            "## 3. Softmax",
            "",
            f"Attention-score rows q·Kᵀ/√{p['head_dim']}/T (q, K N(0, 1); *peaks*: positions "
            "raised by U(4, 12), `golden.softmax.attention_scores`), "
            f"{p['softmax_rows']} rows per cell. The scores are rounded once to the units' "
            f"Q{lg['in_bits'] - lg['frac_bits']}.{lg['frac_bits']} input (`to_codes`: RNE, "
            "saturating; *sat.* = share of saturated inputs); this input rounding is shared by "
            "both units, and the reference is the exact softmax of the rounded scores "
            "(`exact_softmax`), so it is in none of the errors. Units: `golden.softmax` "
            "`log2_softmax` and `exp_softmax` with their default parameters (log2: "
            + ", ".join(f"{k} = {v}" for k, v in lg.items() if k != "n")
            + "; exp: " + ", ".join(f"{k} = {v}" for k, v in sp["exp"].items()
                                    if k not in lg or k == "exp_bits")
            + ") at each n; the *float64 chains* (`log2_reference`, `exp_reference`) are the "
            "units' approximations without any truncation, so unit − chain is the fixed-point "
            "arithmetic's share. *Floor*: the exact softmax rounded once to the "
            f"{lg['out_bits']}-bit output grid. Cells: max |p̂ − p| over all rows / mean "
            "KL(p̂/Σp̂ ‖ p) in bits (the output read as a distribution: its shape, and the "
            "mass it flushes to 0) / mean |Σp̂ − 1| (the scale, which KL does not see).",
            "",
            markdown_table(["n", "rows", "sat."] + list(units.values()), t4),
        ]
    parts += ["## Findings", "", *(f"- {f}" for f in findings(res)), ""]
    return "\n".join(parts)


# -- findings and the docs page ------------------------------------------------------------------

MODULE = "studies.opal"
#: the docs page whose ``opal-*`` sections a run with :data:`DEFAULTS` rewrites
PAGE = "docs/opal.md"
#: the page's sections, in page order
SECTIONS = ("opal-sqnr", "opal-findings")
#: the default parameters (what ``make study-opal`` runs)
DEFAULTS = {"rows": DEFAULT_ROWS, "softmax_rows": DEFAULT_SOFTMAX_ROWS, "seed": 0}
#: the page's SQNR table: a selection of the data kinds and formats (the report has them all)
PAGE_KINDS = ("gaussian", "t3", "t3_c2_g50", "t3_c4_g50", "t3_c4_g100", "t3_c8_g100")
PAGE_FORMATS = ("opal3", "opal5", "mxint3_128", "mxint5_128", "mxint8_32", "e4m3_32")
#: the data kind whose dot-product errors the findings quote
DOT_KIND = "t3_c4_g50"


def findings(res) -> list[str]:
    """What the tables say, as sentences with the measured numbers filled in; each qualitative
    claim is decided by the numbers. The softmax finding needs item 3 (``--softmax-rows`` > 0)."""
    q, fl, kinds = res["quant"], res["formats"], res["kinds"]
    bits = res["bits_per_element"]
    k = res["params"]["k"]
    out = []

    def gap(f, kd):
        return _gap(res, f, kd)

    def labels(kds):
        return ", ".join(kinds[kd]["label"] for kd in kds) or "none"

    # 1. what the outliers buy over plain MXINT-b
    held = [kd for kd, v in kinds.items() if 1 <= v["channels"] <= k and v["gain"] >= 50]
    plain_t = [kd for kd, v in kinds.items() if v["channels"] == 0 and v["df"] is not None]
    extra = {bits[f] - bits[m] for f, m in PLAIN.items()}
    out.append(
        f"Keeping k = {k} outliers per {res['params']['n']} buys OPAL-b "
        f"{span([gap(f, kd) for f in PLAIN for kd in held], fmt_db, ' dB')} of SQNR over plain "
        f"MXINT-b (the same inlier width, one scale per {res['params']['n']}) on Student-t rows "
        f"with 1 to {k} outlier channels ×50 or more, against "
        f"{span([gap(f, 'gaussian') for f in PLAIN], fmt_db, ' dB')} on Gaussian rows and "
        f"{span([gap(f, kd) for f in PLAIN for kd in plain_t], fmt_db, ' dB')} on Student-t "
        f"rows without outlier channels, for {span(extra, lambda v: f'{v:.3g}')} more bits "
        "per element.")

    # 2. more outlier channels than k
    over = [kd for kd, v in kinds.items() if v["channels"] > k]
    if over:
        kd = max(over, key=lambda x: (kinds[x]["channels"], kinds[x]["gain"]))
        out.append(
            f"With more outlier channels than k ({kinds[kd]['label']}) the gain is "
            + " and ".join(f"{fmt_db(gap(f, kd))} dB at b = {FORMATS[f][2]}" for f in PLAIN)
            + ", and " + " / ".join(fmt_pct(q[f][kd]["bulk_flushed"], 1) for f in PLAIN)
            + f" of those rows' other values flush to 0 ({' / '.join(fl[f] for f in PLAIN)}).")

    # 3. OPAL-5 against the 8-bit OCP formats
    o5 = "opal5"
    s = f"In whole-row SQNR {fl[o5]} ({bits[o5]:.4g} bits per element) reaches "
    clauses, bulk = [], []
    for f in ("e4m3_32", "mxint8_32"):
        won = [kd for kd in kinds if q[o5][kd]["sqnr_db"] >= q[f][kd]["sqnr_db"]]
        clauses.append(f"{fl[f]} ({bits[f]:.4g} bits) on {len(won)} of {len(kinds)} data kinds "
                       f"({labels(won)})")
        won_b = [kd for kd in kinds if q[o5][kd]["bulk_sqnr_db"] >= q[f][kd]["bulk_sqnr_db"]]
        bulk.append(f"{fl[f]}'s on {len(won_b)} of {len(kinds)}")
    out.append(s + " and ".join(clauses) + "; in the SQNR of the bulk (the other channels) it "
               "reaches " + " and ".join(bulk) + ".")

    # 4. the dot products
    d = res["dot"]
    out.append(f"Median relative error of one {res['params']['n']}-term dot product on "
               f"{kinds[DOT_KIND]['label']} "
               "rows: " + ", ".join(f"{fl[LANES[ln][1]]} {fmt_rel(d[ln][DOT_KIND]['p50'])}"
                                    for ln in res["lanes"]) + ".")

    # 5. the softmax units
    if res["softmax"]:
        cells = res["softmax_cells"]
        peaked = [c for c, v in cells.items() if v["temperature"] <= 0.25 or v["peaks"]]
        sm = [per[c] for per in res["softmax"].values() for c in peaked]
        every = [c for per in res["softmax"].values() for c in per.values()]
        ob = res["params"]["softmax_params"]["log2"]["out_bits"]
        unit = [c["log2"]["max_abs"] for c in sm]
        chain = [c["log2_ref"]["max_abs"] for c in sm]
        ratio = [c["log2"]["kl_bits"] / c["exp"]["kl_bits"] for c in every]
        mitchell = max(abs(a - b) for a, b in zip(unit, chain)) < 0.25 * min(unit)
        out.append(
            "On the most peaked attention rows ("
            + "; ".join(cells[c]["label"] for c in peaked)
            + f"; n = {' and '.join(res['softmax'])}) the log2 softmax's max |p̂ − p| is "
            f"{span(unit)} against the exp/divide unit's {span([c['exp']['max_abs'] for c in sm])} "
            f"(one output step is 2^-{ob} = {fmt_rel(2.0**-ob)}), and its float64 chain's alone "
            f"{span(chain)}: "
            + ("the error is the Mitchell approximation's, not the fixed point's. "
               if mitchell else "the fixed point adds a visible part. ")
            + "Its outputs' total is off by "
            f"{span([c['log2']['mass_err'] for c in sm], percent(1), ' %')} there on average (a "
            "scale common to the row), while its shape error, the KL divergence of the "
            f"renormalized output, is {span(ratio, lambda v: f'{v:.2f}')}× the exp/divide unit's "
            f"over all {len(every)} softmax cells.")
    return out


def doc_sections(res) -> dict:
    """{section: body} of docs/opal.md (without the stamps)."""
    p = res["params"]
    return {
        "opal-sqnr": "\n".join([
            f"{p['rows']} rows of {p['n']} float32 activations per data kind, seed {p['seed']}, "
            "each row normalized to unit RMS; *tν c*ch×*g*: Student-t(ν) rows with c outlier "
            f"channels per {p['n']} scaled by g. SQNR in dB over whole rows, bits per element "
            "(scales and outlier indices included) in the headings, and OPAL-b's gain over plain "
            "MXINT-b. "
            "`build/reports/study_opal.md` has every data kind, the bulk-only SQNR, the "
            "dot-product errors and the softmax cells.",
            "",
            _sqnr_table(res, PAGE_KINDS, PAGE_FORMATS, bits=True)]),
        "opal-findings": "".join(f"- {f}\n" for f in findings(res)),
    }


def plot(res, path):
    """SQNR and bulk SQNR per format per data kind; median dot-product error per lane; softmax
    max error and KL per (n, T)."""
    kinds = res["kinds"]
    cats = [v["label"] for v in kinds.values()]
    sm = bool(res["softmax"])
    fig = common.new_figure((17, 18 if sm else 13))
    layout = [["sqnr"] * 2, ["bulk"] * 2, ["dot"] * 2] + ([["max", "kl"]] if sm else [])
    axes = fig.subplot_mosaic(layout)
    for key, metric, title in (("sqnr", "sqnr_db", "SQNR over whole rows"),
                               ("bulk", "bulk_sqnr_db", "SQNR of the bulk (non-outlier channels)")):
        ax = axes[key]
        common.grouped_bars(ax, cats, {lab: [res["quant"][f][k][metric] for k in kinds]
                                       for f, lab in res["formats"].items()},
                            ylabel="SQNR (dB)", title=title, label_fmt="%.0f", headroom=0.25,
                            legend=False)
        ax.legend(fontsize=7, ncols=len(res["formats"]), loc="upper left")
    ax = axes["dot"]
    common.grouped_bars(ax, cats, {lab: [res["dot"][ln][k]["p50"] for k in kinds]
                                   for ln, lab in res["lanes"].items()},
                        ylabel="median relative error", legend=False,
                        title="Dot products vs the float64 dot of the unquantized activations "
                              "(same MXINT8 weights), median over the rows")
    for key in ("sqnr", "bulk", "dot"):
        axes[key].tick_params(axis="x", labelsize=7)
    ax.set_yscale("log")
    ax.autoscale(axis="y")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * 3)      # room for the legend
    ax.legend(fontsize=7, ncols=len(res["lanes"]), loc="upper left")
    if sm:
        cells = list(_sm_cells(res))
        scats = [f"n={n}\n{lab}" for n, lab, _ in cells]
        for key, metric, title in (("max", "max_abs", "max |p̂ − p|"),
                                   ("kl", "kl_bits", "mean KL(p̂/Σp̂ ‖ p) (bits)")):
            ax = axes[key]
            common.grouped_bars(ax, scats, {lab: [c[u][metric] for *_, c in cells]
                                            for u, lab in res["softmax_units"].items()},
                                legend=False, title=f"Softmax: {title} vs the exact softmax "
                                                    "of the fixed-point input")
            ax.set_yscale("log")
            ax.autoscale(axis="y")
            ax.tick_params(axis="x", labelsize=6)
        fig.legend(*axes["max"].get_legend_handles_labels(), loc="outside lower center",
                   ncols=len(res["softmax_units"]), fontsize=8)
    common.save_figure(fig, path)
    return Path(path)


def parse_args(argv=None):
    ap = common.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0],
                               epilog=docs.docs_rule(MODULE, PAGE,
                                                     "--rows, --softmax-rows or --seed"))
    ap.add_argument("--out", type=Path, default=None,
                    help="report directory (default: build/reports)")
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                    help=f"rows of {N} activations per data kind, 1..{MAX_ROWS} "
                         f"(default {DEFAULT_ROWS})")
    ap.add_argument("--softmax-rows", type=int, default=DEFAULT_SOFTMAX_ROWS,
                    help=f"score rows per softmax (n, T) cell, 0..{MAX_ROWS}; 0 skips item 3 "
                         f"(default {DEFAULT_SOFTMAX_ROWS})")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args(argv)
    if not 1 <= args.rows <= MAX_ROWS:
        ap.error(f"--rows must be an integer in 1..{MAX_ROWS}, not {args.rows}")
    if not 0 <= args.softmax_rows <= MAX_ROWS:
        ap.error(f"--softmax-rows must be an integer in 0..{MAX_ROWS}, not {args.softmax_rows}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.rows, args.seed, args.softmax_rows)
    return common.finish(sys.modules[__name__], args, res, t0)


if __name__ == "__main__":
    sys.exit(main())
