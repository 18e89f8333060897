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

Outputs in ``--out`` (default ``build/reports``): ``study_mxsf.md`` (the tables and the
findings, also printed), ``study_mxsf.png`` (SQNR per format per distribution; backward SQNR per
scheme) and ``study_mxsf.json`` (every number). Run with the default parameters (``make
study-mxsf``) it also rewrites the ``mxsf-*`` sections of docs/mx-safe.md (:mod:`studies.docs`);
with any other parameters it never touches docs/. The default run takes about 10 s.
"""
from __future__ import annotations

import inspect
import sys
import time
from pathlib import Path

import numpy as np

from golden import mx
from golden.formats import MxsfFormat, decode, encode

from . import common, docs
from .common import (BLOCK, DISTRIBUTIONS, block_max, flush_fraction, fmt_db, fmt_pct,
                     fmt_rel, markdown_table, max_rel_err, mismatch_fraction, percent, span,
                     sqnr_db)

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

def _quant_tables(res) -> list[str]:
    """Item 1: the SQNR / max relative error table and the small-element table, each with its
    caption (Markdown lines)."""
    p = res["params"]
    dists = res["distributions"]
    head = ["format"] + list(dists.values())
    t1 = [[lab] + [f"{fmt_db(res['quant'][n][d]['sqnr_db'])} / "
                   f"{fmt_rel(res['quant'][n][d]['max_rel_err'])}" for d in dists]
          for n, lab in res["formats"].items()]
    t2 = [[lab] + [f"{fmt_db(res['quant'][n][d]['small_sqnr_db'])} / "
                   f"{fmt_pct(res['quant'][n][d]['flushed'])}" for d in dists]
          for n, lab in res["formats"].items()]
    return [
        "Cells: SQNR (dB) / max relative error over the elements with "
        f"|x| ≥ 2^{int(np.log2(p['rel_floor']))} · their 1×{p['block']} block's maximum "
        "(a value flushed to zero counts 1).",
        "",
        markdown_table(head, t1),
        f"Small elements (|x| < 2^{int(np.log2(p['small']))} · block maximum): SQNR (dB) over "
        "them / share of all nonzero values flushed to zero.",
        "",
        markdown_table(head, t2),
    ]


def _transposed_table(res, formats=None) -> list[str]:
    """Item 2's caption and table, for the MX ``formats`` (default all; Markdown lines)."""
    p = res["params"]
    dists = res["distributions"]
    formats = list(res["transposed"]) if formats is None else formats
    t3 = []
    for n in formats:
        per = res["transposed"][n]
        for key, scheme in res["schemes"].items():
            t3.append([res["formats"][n], scheme] + [
                f"{fmt_db(per[d][key]['fwd_sqnr_db'])} / {fmt_db(per[d][key]['bwd_sqnr_db'])} / "
                f"{fmt_pct(per[d][key]['inconsistency'], 1)}" for d in dists])
    tile = "×".join(map(str, p["tile"]))
    return [
        "W is each tensor above; the forward operand is W with blocks along its rows, the "
        "backward operand Wᵀ with blocks along Wᵀ's rows. Cells: forward SQNR (dB) / backward "
        "SQNR vs the FP32 Wᵀ (dB) / share of elements whose forward and backward quantized "
        f"values differ. (c) quantizes W once in {tile} tiles; its backward operand is the "
        f"transpose, checked equal to `quantize_tiled(Wᵀ, ({p['tile'][1]}, {p['tile'][0]}))`.",
        "",
        markdown_table(["format", "scheme"] + list(dists.values()), t3, "ll" + "r" * len(dists)),
    ]


def _setup(res) -> str:
    p = res["params"]
    return (f"{p['rows']}×{p['cols']} float32 tensors, seed {p['seed']}; MX formats with "
            f"k = {p['block']} blocks along the last axis, {p['rounding']} elements, "
            f"{p['scale_rounding']} scale; BF16 element-wise")


def render_markdown(res) -> str:
    return "\n".join([
        "# MX-SAFE numerics study",
        "",
        f"`python -m studies.mxsf`: {_setup(res)}. All quantization by the golden models "
        "(`golden.mx`, `golden.formats`); errors summed in float64. Method: the docstring of "
        "`studies/mxsf.py`.",
        "",
        "## 1. Quantization error",
        "",
        *_quant_tables(res),
        "## 2. Transposed use (training)",
        "",
        *_transposed_table(res),
        "## Findings",
        "",
        *(f"- {f}" for f in findings(res)),
        "",
    ])


# -- findings and the docs page ------------------------------------------------------------------

#: the bell-shaped distributions (of :data:`studies.common.DISTRIBUTIONS`)
BELL = ("gaussian", "laplace", "student_t3")
#: the gradient-like one
GRAD = "grad_mix"
#: the page's comparison: the default MXSF against the other 8-bit MX elements
COMPARED = (MxsfFormat().name, "e4m3", "e2m5", "mxint8")
MODULE = "studies.mxsf"
#: the docs page whose ``mxsf-*`` sections a run with :data:`DEFAULTS` rewrites
PAGE = "docs/mx-safe.md"
#: the page's sections, in page order
SECTIONS = ("mxsf-sqnr", "mxsf-transposed", "mxsf-findings")
#: the default parameters (what ``make study-mxsf`` runs), as parse_args normalizes them
DEFAULTS = {"rows": DEFAULT_ROWS, "cols": DEFAULT_COLS, "seed": 0,
            "sub_bias": list(DEFAULT_SUB_BIASES)}
#: the formats of the page's transposed-use table (the report has them all)
PAGE_TRANSPOSED = (MxsfFormat().name, "e4m3", "e2m5")


def _db(v) -> str:
    return f"{fmt_db(v)} dB"


def _pct(v, digits=2) -> str:
    """A share as the tables print it; "nothing" for exactly 0."""
    return "nothing" if v == 0 else fmt_pct(v, digits)


def findings(res) -> list[str]:
    """What the tables say, as sentences with the measured numbers filled in. Each claim is
    decided by the numbers (a comparison that turns the other way changes the sentence); the
    reasons given (step sizes, code counts) are the formats' definitions (docs/numerics.md §6).
    Empty unless the study ran the default MXSF and the comparison formats."""
    q = res["quant"]
    lab = res["formats"]
    dl = res["distributions"]
    mxsf = COMPARED[0]
    if not set(COMPARED) <= set(q):
        return []
    out = []

    def sq(f, d, key="sqnr_db"):
        return q[f][d][key]

    # 1. bell-shaped data
    best = {d: max(COMPARED, key=lambda f: sq(f, d)) for d in BELL}
    bell = ", ".join(dl[d] for d in BELL)
    if set(best.values()) == {"e2m5"}:
        s = (f"On bell-shaped data ({bell}) MXFP8 E2M5 is the most accurate 8-bit element "
             f"({' / '.join(fmt_db(sq('e2m5', d)) for d in BELL)} dB against {lab[mxsf]}'s "
             f"{' / '.join(fmt_db(sq(mxsf, d)) for d in BELL)} dB): in [0.25, 1)·scale "
             "E2M5's subnormals have a step of 1/32, MXSF's E3M2 sub mode 1/16 and 1/8.")
    else:
        s = (f"On bell-shaped data ({bell}) the most accurate 8-bit element is "
             + ", ".join(f"{lab[best[d]]} on {dl[d]} ({_db(sq(best[d], d))})" for d in BELL)
             + ".")
    gap = [sq(mxsf, d) - sq("e4m3", d) for d in BELL]
    word = "beats" if min(gap) > 0 else "does not always beat"
    out.append(s + f" {lab[mxsf]} {word} MXFP8 E4M3 there by {span(gap, fmt_db, ' dB')} (5 "
               "mantissa bits in the top binades against 3).")

    # 2. gradient-like data
    top = max(COMPARED, key=lambda f: sq(f, GRAD))
    small = inspect.signature(common.gradient_mixture).parameters["small"].default
    fl = {f: q[f][GRAD]["flushed"] for f in COMPARED}
    kept = f"{_pct(fl[top])} flushed"
    out.append(
        f"On the {dl[GRAD]} (most values 2^{small[0]} … 2^{small[1]} of the block maximum) "
        f"{lab[top]} is the most accurate 8-bit element ({_db(sq(top, GRAD))}, {kept}); "
        f"MXFP8 E2M5 flushes {_pct(fl['e2m5'])} of the nonzero values to zero and MXINT8 "
        f"{_pct(fl['mxint8'])}; MXFP8 E4M3 flushes {_pct(fl['e4m3'])}, keeps the small values "
        f"({_db(sq('e4m3', GRAD, 'small_sqnr_db'))} over them) but is "
        f"{fmt_db(sq(top, GRAD) - sq('e4m3', GRAD))} dB below {lab[top]} overall.")

    # 3. the sub-mode bias (when the study ran b = 6, 8, 10)
    names = {MxsfFormat(sub_bias=b).name: b for b in res["params"]["sub_biases"]}
    lo, hi = MxsfFormat(sub_bias=6).name, MxsfFormat(sub_bias=10).name
    if {lo, mxsf, hi} <= set(names):
        base = [q[mxsf][d]["flushed"] for d in BELL]
        more = [q[lo][d]["flushed"] for d in BELL]
        ratio = (f"{span([a / b for a, b in zip(more, base)], lambda v: f'{v:.1f}')}× as many"
                 if min(base) > 0 else "more")
        cost = [sq(mxsf, d) - sq(hi, d) for d in BELL]
        wins = all(sq(mxsf, d) >= max(sq(lo, d), sq(hi, d)) - 0.05 for d in dl)
        out.append(
            "Of sub_bias 6, 8 and 10, 8 (the default) is "
            + ("within 0.05 dB of the best SQNR on every distribution" if wins
               else "not the best on every distribution")
            + f": 6 spends 16 codes on values E2M5 codes already hold and flushes {ratio} "
            f"values to zero on bell-shaped data ({span(more, percent(2), ' %')} against "
            f"{span(base, percent(2), ' %')}); 10 opens a gap between 7/32 and 1.0 that "
            f"costs {span(cost, fmt_db, ' dB')} there.")

    # 4. transposed use
    tr = res["transposed"]
    cells = [(f, d) for f in tr for d in tr[f]]
    tiles = [tr[f][d]["tiles"]["bwd_sqnr_db"] - tr[f][d]["fp32"]["bwd_sqnr_db"] for f, d in cells]
    requant = [tr[f][d]["fp32"]["bwd_sqnr_db"] - tr[f][d]["requant"]["bwd_sqnr_db"]
               for f, d in cells]
    changed = [tr[f][d]["requant"]["inconsistency"] for f, d in cells if f != "e4m3"]
    s = (f"Over the {len(tr)} MX elements and {len(dl)} distributions, 2-D tiles reused for the "
         f"backward pass (c) score {span(tiles, lambda v: f'{v:+.1f}', ' dB')} against the best "
         "1-D case, (b), a second quantization of the FP32 tensor along columns, with no "
         "forward/backward mismatch, no FP32 copy and no second pass; re-quantizing 1-D blocks "
         f"after the transpose, (a), costs up to {fmt_db(max(requant))} dB against (b) and "
         f"changes {span(changed, percent(1), ' %')} of the values")
    if "e4m3" in tr:
        e4 = [tr["e4m3"][d]["requant"]["inconsistency"] for d in tr["e4m3"]]
        why = ": its wide exponent absorbs the new scale" if max(e4) < min(changed) else ""
        s += f" (MXFP8 E4M3 {span(e4, percent(1), ' %')}{why})"
    out.append(s + ".")
    return out


def doc_sections(res) -> dict:
    """{section: body} of docs/mx-safe.md (without the stamps)."""
    mx_only = [n for n in PAGE_TRANSPOSED if n in res["transposed"]]
    rest = [res["formats"][n] for n in res["transposed"] if n not in mx_only]
    return {
        "mxsf-sqnr": "\n".join([f"{_setup(res)}.", ""] + _quant_tables(res)),
        "mxsf-transposed": "\n".join(
            _transposed_table(res, mx_only)
            + ([f"The rows of {', '.join(rest)} are in `build/reports/study_mxsf.md`.", ""]
               if rest else [])),
        "mxsf-findings": "".join(f"- {f}\n" for f in findings(res)),
    }


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
    ap = common.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0],
                               epilog=docs.docs_rule(MODULE, PAGE,
                                                     "--rows, --cols, --seed or --sub-bias"))
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
    return common.finish(sys.modules[__name__], args, res, t0)


if __name__ == "__main__":
    sys.exit(main())
