"""MX-SAFE numerics study: ``make study-mxsf`` (``python -m studies.mxsf``).

How well does the MX-SAFE element (MXSF: FP8 E2M5 for scaled magnitudes >= 1, an FP5 E3M2
"subnormal mode" with bias ``sub_bias`` below; docs/numerics.md §6) hold typical tensors, compared
with the other 8-bit MX elements and BF16, and what do MX-SAFE's 2-D tiles buy in training, where
the backward pass reads a tensor transposed?

Method
------
Inputs: float32 tensors of ``--rows`` x ``--cols`` (default 256 x 1024), seeded
(:func:`studies.common.make_tensor`): Gaussian, Laplace, Student-t (ν = 3) and a gradient-like
mixture in which every 32-element block along a row has one or two large values (the block
maximum M, and M·U(1/4, 1)) while the others have magnitudes log-uniform in 2^-10 … 2^-6 of M;
block maxima vary over 2^-2 … 2^2.

Every quantized value comes from the golden models: ``golden.mx.quantize``/``dequantize`` with
k = 32 blocks along the last axis, "rne" element rounding and the OCP "floor" scale for the MX
formats (MXSF with each ``--sub-bias``, MXFP8 E4M3, MXFP8 E2M5, MXINT8), and
``golden.formats.encode``/``decode`` element-wise for BF16 (no block scale). Dequantized values
are exact float64; errors are summed in float64.

1. Quantization error, per format and distribution:

   - SQNR = 10 log10(Σx² / Σ(x − q)²) over the whole tensor;
   - max relative error |x − q| / |x| over the elements with |x| ≥ 2^-10 · (the maximum of
     their 1×32 block along the row). A value flushed to zero has relative error 1, so over all
     nonzero x the maximum would be 1 for nearly every 8-bit format and say nothing; the floor
     2^-10 is the bottom of the mixture's small values, i.e. the question is "does the format
     keep relative precision over a 2^10 range inside a block?". The same element selection
     (from the FP32 data, independent of the format) is used for every format, BF16 included;
   - SQNR of the small elements only (|x| < 2^-4 · block maximum), where the formats differ
     most and which the whole-tensor SQNR hides (it is dominated by the large values);
   - the fraction of nonzero values that quantize to zero (flushed).

2. Transposed use in training. A weight/activation matrix W (the same tensors) is used forward
   with blocks along its rows and backward as Wᵀ with blocks along Wᵀ's rows (W's columns). The
   backward operand is scored against the FP32 Wᵀ for three schemes:

   (a) 1-D, re-quantized: the forward copy Q(W) (rows) is dequantized, transposed and quantized
       again along its new rows (double quantization; no FP32 master copy needed);
   (b) 1-D, from FP32: Wᵀ quantized directly along its rows (needs the FP32 copy and a second
       quantization pass; the best a 1-D block can do);
   (c) 2-D tiles: ``quantize_tiled(W, (8, 4))`` once; the backward operand is its transpose,
       which the script checks is exactly ``quantize_tiled(Wᵀ, (4, 8))`` (scales and codes).

   Reported: forward SQNR (of the forward operand vs W), backward SQNR, and the forward/backward
   inconsistency = the fraction of elements whose forward and backward quantized values differ
   (0 for (c) by construction; the weight update then sees the same W both ways).

Outputs in ``--out`` (default ``build/reports``): ``study_mxsf.md`` (the tables, also printed),
``study_mxsf.png`` (SQNR per format per distribution; backward SQNR per scheme) and
``study_mxsf.json`` (every number). The default run takes about 5 s of CPU.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from golden import mx
from golden.formats import MxsfFormat, decode, encode

from . import common
from .common import (BLOCK, DISTRIBUTIONS, block_max, flush_fraction, fmt_db, fmt_pct,
                     fmt_rel, markdown_table, max_rel_err, mismatch_fraction, sqnr_db)

#: element rounding and scale rounding of every MX format in the study
ROUNDING, SCALE_ROUNDING = "rne", "floor"
#: MX-SAFE's 2-D tile (rows, cols), one scale per tile
TILE = (8, 4)
#: max relative error is taken over |x| >= REL_FLOOR * block max
REL_FLOOR = 2.0**-10
#: "small" elements: |x| < SMALL * block max
SMALL = 2.0**-4
DEFAULT_SUB_BIASES = (6, 8, 10)
DEFAULT_ROWS, DEFAULT_COLS = 256, 1024
#: the non-MXSF formats: (name, label); "bf16" is element-wise, the others MX elements
BASELINES = (("e4m3", "MXFP8 E4M3"), ("e2m5", "MXFP8 E2M5"), ("mxint8", "MXINT8"),
             ("bf16", "BF16 (no block scale)"))
SCHEMES = {
    "requant": "(a) 1-D, re-quantized after transpose",
    "fp32": "(b) 1-D, from FP32 along columns",
    "tiles": f"(c) 2-D tiles {TILE[0]}×{TILE[1]}, reused",
}
SCHEME_SHORT = {"requant": "(a) 1-D re-quantized", "fp32": "(b) 1-D from FP32",
                "tiles": "(c) 2-D tiles reused"}


def study_formats(sub_biases):
    """[(name, label)] of the formats in the study: MXSF per sub_bias, then the baselines."""
    rows = []
    for b in sub_biases:
        f = MxsfFormat(sub_bias=b)
        rows.append((f.name, f"MXSF b={b}"))
    return rows + list(BASELINES)


def fake_quant(x, fmt):
    """The golden quantized values of ``x`` (float64): MX blocks of 32 along the last axis, or
    element-wise BF16."""
    if fmt == "bf16":
        return decode(encode(x, "bf16", "rne", "saturate"), "bf16")
    s, c = mx.quantize(x, fmt, BLOCK, -1, ROUNDING, SCALE_ROUNDING)
    return mx.dequantize(s, c, fmt, BLOCK, -1)


def error_metrics(x, q):
    """Item 1's metrics of quantized ``q`` against ``x`` (see the module docstring)."""
    bm = block_max(x)
    ax = np.abs(x.astype(np.float64))
    return {
        "sqnr_db": sqnr_db(x, q),
        "max_rel_err": max_rel_err(x, q, ax >= REL_FLOOR * bm),
        "small_sqnr_db": sqnr_db(x, q, ax < SMALL * bm),
        "flushed": flush_fraction(x, q),
    }


def transposed_use(w, fmt):
    """Item 2 for one matrix ``w`` (float32) and MX element ``fmt``: per scheme the forward
    and backward SQNR and the forward/backward inconsistency."""
    wt = w.T
    # 1-D: the forward copy, blocks along W's rows
    fwd = fake_quant(w, fmt)
    # (a) dequantize, transpose, quantize again (fwd.T holds FP32 numbers; quantize checks that)
    bwd_a = fake_quant(fwd.T, fmt)
    # (b) Wᵀ from FP32
    bwd_b = fake_quant(wt, fmt)
    # (c) tiles, quantized once; the transposed read is quantize_tiled(Wᵀ, (c, r)) exactly
    s, c = mx.quantize_tiled(w, fmt, TILE, ROUNDING, SCALE_ROUNDING)
    st, ct = mx.quantize_tiled(wt, fmt, TILE[::-1], ROUNDING, SCALE_ROUNDING)
    if not (np.array_equal(st, s.T) and np.array_equal(ct, c.T)):
        raise AssertionError(f"{fmt}: quantize_tiled(W.T, {TILE[::-1]}) is not the transpose of "
                             f"quantize_tiled(W, {TILE})")
    fwd_c = mx.dequantize_tiled(s, c, fmt, TILE)
    bwd_c = mx.dequantize_tiled(st, ct, fmt, TILE[::-1])
    out = {}
    for key, f, b in (("requant", fwd, bwd_a), ("fp32", fwd, bwd_b), ("tiles", fwd_c, bwd_c)):
        out[key] = {"fwd_sqnr_db": sqnr_db(w, f), "bwd_sqnr_db": sqnr_db(wt, b),
                    "inconsistency": mismatch_fraction(f.T, b)}
    if out["tiles"]["inconsistency"] != 0:
        raise AssertionError(f"{fmt}: reused tiles differ between forward and backward")
    return out


def run(rows=DEFAULT_ROWS, cols=DEFAULT_COLS, seed=0, sub_biases=DEFAULT_SUB_BIASES):
    """Compute the study; returns a JSON-able dict (``quant``[fmt][dist], ``transposed``
    [fmt][dist][scheme], and the parameters)."""
    formats = study_formats(sub_biases)
    mx_formats = [(n, lab) for n, lab in formats if n != "bf16"]
    res = {"params": {"rows": rows, "cols": cols, "seed": seed, "block": BLOCK,
                      "rounding": ROUNDING, "scale_rounding": SCALE_ROUNDING, "tile": TILE,
                      "rel_floor": REL_FLOOR, "small": SMALL, "sub_biases": list(sub_biases)},
           "formats": dict(formats), "distributions": {d: v[0] for d, v in DISTRIBUTIONS.items()},
           "schemes": SCHEMES, "quant": {n: {} for n, _ in formats},
           "transposed": {n: {} for n, _ in mx_formats}}
    for dist in DISTRIBUTIONS:
        x = common.make_tensor(dist, (rows, cols), seed)
        for name, _ in formats:
            res["quant"][name][dist] = error_metrics(x, fake_quant(x, name))
        for name, _ in mx_formats:
            res["transposed"][name][dist] = transposed_use(x, name)
    return res


# -- report --------------------------------------------------------------------------------------

def render_markdown(res) -> str:
    p = res["params"]
    dists = res["distributions"]
    head = ["format"] + list(dists.values())
    t1 = [[lab] + [f"{fmt_db(res['quant'][n][d]['sqnr_db'])} / "
                   f"{fmt_rel(res['quant'][n][d]['max_rel_err'])}" for d in dists]
          for n, lab in res["formats"].items()]
    t2 = [[lab] + [f"{fmt_db(res['quant'][n][d]['small_sqnr_db'])} / "
                   f"{fmt_pct(res['quant'][n][d]['flushed'])}" for d in dists]
          for n, lab in res["formats"].items()]
    t3 = []
    for n, per in res["transposed"].items():
        for key, scheme in res["schemes"].items():
            t3.append([res["formats"][n], scheme] + [
                f"{fmt_db(per[d][key]['fwd_sqnr_db'])} / {fmt_db(per[d][key]['bwd_sqnr_db'])} / "
                f"{fmt_pct(per[d][key]['inconsistency'], 1)}" for d in dists])
    tile = "×".join(map(str, p["tile"]))
    return "\n".join([
        "# MX-SAFE numerics study",
        "",
        f"`python -m studies.mxsf`: {p['rows']}×{p['cols']} float32 tensors, seed {p['seed']}; "
        f"MX formats with k = {p['block']} blocks along the last axis, {p['rounding']} elements, "
        f"{p['scale_rounding']} scale; BF16 element-wise. All quantization by the golden models "
        "(`golden.mx`, `golden.formats`); errors summed in float64. Method: the docstring of "
        "`studies/mxsf.py`.",
        "",
        "## 1. Quantization error",
        "",
        "Cells: SQNR (dB) / max relative error over the elements with "
        f"|x| ≥ 2^{int(np.log2(p['rel_floor']))} · their 1×{p['block']} block's maximum "
        "(a value flushed to zero counts 1).",
        "",
        markdown_table(head, t1),
        f"Small elements (|x| < 2^{int(np.log2(p['small']))} · block maximum): SQNR (dB) over "
        "them / share of all nonzero values flushed to zero.",
        "",
        markdown_table(head, t2),
        "## 2. Transposed use (training)",
        "",
        "W is each tensor above; the forward operand is W with blocks along its rows, the "
        "backward operand Wᵀ with blocks along Wᵀ's rows. Cells: forward SQNR (dB) / backward "
        "SQNR vs the FP32 Wᵀ (dB) / share of elements whose forward and backward quantized "
        f"values differ. (c) quantizes W once in {tile} tiles; its backward operand is the "
        f"transpose, checked equal to `quantize_tiled(Wᵀ, ({p['tile'][1]}, {p['tile'][0]}))`.",
        "",
        markdown_table(["format", "scheme"] + list(dists.values()), t3, "ll" + "r" * len(dists)),
    ])


def plot(res, path):
    """Two panels: SQNR per format per distribution; backward SQNR per scheme and format, one
    subplot per distribution."""
    dists = res["distributions"]
    fig = common.new_figure((15, 9))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.1])
    ax = top.subplots()
    common.grouped_bars(ax, list(res["formats"].values()),
                        {lab: [res["quant"][n][d]["sqnr_db"] for n in res["formats"]]
                         for d, lab in dists.items()},
                        ylabel="SQNR (dB)", label_fmt="%.0f",
                        title=f"Quantization SQNR (k = {res['params']['block']}, rne, floor "
                              "scale; BF16 element-wise)")
    axes = bottom.subplots(1, len(dists), sharey=True)
    names = list(res["transposed"])
    short = [res["formats"][n].replace("MXFP8 ", "") for n in names]
    for i, (ax, (d, lab)) in enumerate(zip(np.atleast_1d(axes), dists.items())):
        common.grouped_bars(
            ax, short,
            {SCHEME_SHORT[key]: [res["transposed"][n][d][key]["bwd_sqnr_db"] for n in names]
             for key in res["schemes"]},
            ylabel="backward SQNR (dB)" if i == 0 else None, title=lab, legend=False,
            headroom=0.05)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    bottom.legend(*np.atleast_1d(axes)[0].get_legend_handles_labels(), loc="outside upper right",
                  ncols=len(res["schemes"]), fontsize=8)
    bottom.suptitle("Transposed use: SQNR of the backward operand Wᵀ vs FP32", fontsize=11)
    common.save_figure(fig, path)
    return Path(path)


def parse_args(argv=None):
    ap = common.ArgumentParser(prog="python -m studies.mxsf",
                               description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None,
                    help="report directory (default: build/reports)")
    ap.add_argument("--sub-bias", type=int, nargs="+", default=list(DEFAULT_SUB_BIASES),
                    metavar="B", help="MXSF sub_bias variants (default: 6 8 10)")
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                    help=f"tensor rows, a multiple of {BLOCK} (default {DEFAULT_ROWS})")
    ap.add_argument("--cols", type=int, default=DEFAULT_COLS,
                    help=f"tensor columns, a multiple of {BLOCK} (default {DEFAULT_COLS})")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args(argv)
    for opt in ("rows", "cols"):
        v = getattr(args, opt)
        # whole 1-D blocks along both axes and whole 8x4 / 4x8 tiles
        if v < BLOCK or v % BLOCK:
            ap.error(f"--{opt} must be a positive multiple of {BLOCK}, not {v}")
    biases = list(dict.fromkeys(args.sub_bias))
    for b in biases:
        try:
            MxsfFormat(sub_bias=b)
        except (TypeError, ValueError) as e:
            ap.error(f"--sub-bias: {e}")
    args.sub_bias = biases
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.rows, args.cols, args.seed, args.sub_bias)
    out = args.out if args.out is not None else common.report_dir()
    return common.write_reports("mxsf", out, render_markdown(res), res, plot, t0)


if __name__ == "__main__":
    sys.exit(main())
