"""Helpers shared by the numerics studies (MX-SAFE, LightNorm; OPAL later).

- error metrics in float64: :func:`sqnr_db`, :func:`max_rel_err`, :func:`flush_fraction`,
  :func:`mismatch_fraction`, and :func:`block_max` to select elements relative to their block;
- seeded tensor generators (:data:`DISTRIBUTIONS`, :func:`make_tensor`): Gaussian, Laplace,
  Student-t and a gradient-like block mixture, as float32 (the golden quantizers' input type);
- report writing: :func:`markdown_table`, number formatting (:func:`span`, :func:`percent` for
  the findings sentences), :func:`write_json`,
  :func:`new_figure` / :func:`grouped_bars` / :func:`save_figure` (matplotlib's Agg canvas, no
  pyplot state), :func:`report_dir`;
- :class:`ArgumentParser`, whose errors are one line.

The studies never quantize here: every quantized value comes from ``golden``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from pathlib import Path

import numpy as np

__all__ = ["BLOCK", "sqnr_db", "max_rel_err", "flush_fraction", "mismatch_fraction",
           "block_max", "DISTRIBUTIONS", "make_tensor", "gaussian", "laplace", "student_t",
           "gradient_mixture", "markdown_table", "fmt_db", "fmt_rel", "fmt_pct", "span",
           "percent", "write_json",
           "new_figure", "grouped_bars", "save_figure", "report_dir", "ArgumentParser"]

#: the OCP MX block size the studies use by default
BLOCK = 32


# -- error metrics -------------------------------------------------------------------------------

# one definition, shared with the tensor API's summary (docs/quantize.md)
from golden.metrics import flush_fraction, max_rel_err, pair as _pair, sqnr_db  # noqa: E402,F401


def mismatch_fraction(a, b) -> float:
    """Fraction of positions where two arrays of quantized values differ (NaN equals NaN)."""
    a, b = _pair(a, b, None)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return float(np.mean(~same)) if a.size else math.nan


def block_max(x, block=BLOCK, axis=-1):
    """Each element's block maximum max |V| over its ``block``-element block along ``axis``
    (the last block may be shorter), broadcast to the shape of ``x`` (float64)."""
    a = np.moveaxis(np.abs(np.asarray(x, dtype=np.float64)), axis, -1)
    n = a.shape[-1]
    nb = -(-n // block)
    padded = np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, nb * block - n)])
    m = padded.reshape(a.shape[:-1] + (nb, block)).max(axis=-1)
    return np.moveaxis(np.repeat(m, block, axis=-1)[..., :n], -1, axis)


# -- seeded tensor generators --------------------------------------------------------------------

def gaussian(rng, shape):
    """Standard normal values."""
    return rng.standard_normal(shape)


def laplace(rng, shape):
    """Laplace(0, 1) values (heavier tails than Gaussian)."""
    return rng.laplace(0.0, 1.0, shape)


def student_t(rng, shape, df=3):
    """Student-t values with ``df`` degrees of freedom (df = 3: heavy tails, outliers)."""
    return rng.standard_t(df, shape)


def gradient_mixture(rng, shape, block=BLOCK, small=(-10, -6), large=(1, 2), spread=(-2, 2)):
    """A gradient-like mixture, block by block along the last axis.

    Each ``block``-element block has a maximum M = 2**u, u uniform in ``spread`` (blocks of
    different magnitude, as gradients of different tokens). One or two elements per block
    (uniform in ``large``) are large: one is exactly M, the other M * U(1/4, 1); the rest have
    magnitudes log-uniform in M * 2**small, i.e. 2**-10 .. 2**-6 of the block maximum by default.
    Positions and signs are random. A last block shorter than ``block`` is cut from a full one.
    """
    *lead, n = shape
    nb = -(-n // block)
    bshape = (*lead, nb, block)
    m = np.exp2(rng.uniform(spread[0], spread[1], (*lead, nb, 1)))
    mag = m * np.exp2(rng.uniform(small[0], small[1], bshape))
    nlarge = rng.integers(large[0], large[1] + 1, (*lead, nb, 1))
    rank = np.argsort(np.argsort(rng.random(bshape), axis=-1), axis=-1)  # random permutation
    second = m * rng.uniform(0.25, 1.0, bshape)
    mag = np.where(rank == 0, m, np.where(rank < nlarge, second, mag))
    sign = np.where(rng.random(bshape) < 0.5, -1.0, 1.0)
    return (sign * mag).reshape(*lead, nb * block)[..., :n]


#: name -> (label, generator(rng, shape)); the studies' default set of input distributions
DISTRIBUTIONS = {
    "gaussian": ("Gaussian", gaussian),
    "laplace": ("Laplace", laplace),
    "student_t3": ("Student-t ν=3", student_t),
    "grad_mix": ("gradient-like mixture", gradient_mixture),
}


def make_tensor(name, shape, seed=0):
    """A float32 tensor of distribution ``name`` (a key of :data:`DISTRIBUTIONS`).

    Reproducible and independent of which other tensors are made: the generator is seeded with
    (``seed``, CRC-32 of the name). float64 samples are rounded to FP32 once (NumPy's RNE cast).
    """
    if name not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, not {name!r}")
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode())])
    return np.asarray(DISTRIBUTIONS[name][1](rng, tuple(shape)), dtype=np.float64).astype(
        np.float32)


# -- reports -------------------------------------------------------------------------------------

def report_dir() -> Path:
    """The project's report directory: ``$MXFORGE_BUILD/reports`` or ``<repo>/build/reports``."""
    from synth.flow import build_dir
    return build_dir() / "reports"


def markdown_table(header, rows, align=None) -> str:
    """A GitHub Markdown table; ``align`` is one "l"/"r"/"c" per column (default: first column
    left, the others right). Cells are converted with ``str`` and "|" is escaped."""
    ncol = len(header)
    if any(len(r) != ncol for r in rows):
        raise ValueError(f"every row must have {ncol} cells")
    align = align or "l" + "r" * (ncol - 1)
    rule = {"l": ":---", "r": "---:", "c": ":---:"}

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", r"\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "|".join(rule[a] for a in align) + "|"]
                     + [line(r) for r in rows]) + "\n"


def fmt_db(v, digits=1) -> str:
    """A dB value: fixed decimals, "∞" for a lossless result, "—" for undefined."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return "∞" if math.isinf(v) else f"{v:.{digits}f}"


def fmt_rel(v) -> str:
    """A relative error with three significant digits ("—" undefined)."""
    if v is None or math.isnan(v):
        return "—"
    return f"{v:.3g}"


def fmt_pct(v, digits=2) -> str:
    """A fraction as a percentage ("—" undefined)."""
    if v is None or math.isnan(v):
        return "—"
    return f"{100 * v:.{digits}f} %"


def span(values, fmt=fmt_rel, unit="") -> str:
    """The range of ``values`` for a findings sentence: "lo–hi" + ``unit``, each end formatted
    by ``fmt`` (the tables' formatter, so the sentence quotes what the tables print); one value
    when both ends print alike; "lo to hi" when the ends carry signs."""
    lo, hi = fmt(min(values)), fmt(max(values))
    if lo == hi:
        return lo + unit
    return f"{lo} to {hi}{unit}" if "+" in lo + hi else f"{lo}–{hi}{unit}"


def percent(digits=1):
    """A formatter of shares as bare percentages (for :func:`span` with ``unit=" %"``)."""
    return lambda v: f"{100 * v:.{digits}f}"


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else str(v)   # strict JSON: "inf", "nan"
    if isinstance(v, np.integer):
        return int(v)
    return v


def write_json(path, data) -> Path:
    """Strict JSON (non-finite floats become the strings "inf", "-inf", "nan")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(data), indent=1, ensure_ascii=False) + "\n")
    return path


def new_figure(figsize=(10, 5)):
    """A matplotlib Figure on an Agg canvas (no pyplot, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def grouped_bars(ax, categories, series, ylabel=None, title=None, legend=True, label_fmt=None,
                 headroom=0.15):
    """Grouped bar chart: one group per category, one bar per series.

    ``series`` maps a series label to one value per category; non-finite values (a lossless
    ∞ dB, an undefined metric) are left out of the plot. ``label_fmt`` (e.g. "%.0f") writes
    each bar's value above it; ``headroom`` (a fraction of the largest bar) leaves room above
    the bars for the labels and the legend.
    """
    names = list(series)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(categories))
    top = 0.0
    for i, name in enumerate(names):
        vals = np.array([v if v is not None and math.isfinite(v) else np.nan
                         for v in series[name]], dtype=float)
        bars = ax.bar(x - 0.4 + width * (i + 0.5), vals, width, label=name)
        top = max([top] + [v for v in vals if np.isfinite(v)])
        if label_fmt:
            ax.bar_label(bars, fmt=label_fmt, fontsize=6, padding=1)
    ax.set_xticks(x, categories, fontsize=8)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    if top > 0:
        ax.set_ylim(0, top * (1 + headroom))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if legend:
        ax.legend(fontsize=7, ncols=min(len(names), 4))
    return ax


def save_figure(fig, path, dpi=120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


# -- command line --------------------------------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``prog: error: message`` on stderr, exit status 2."""

    def error(self, message):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def write_reports(name, out, md, res, plot, t0) -> int:
    """Write a study's ``study_<name>.md``, ``.json`` and ``.png`` (``plot(res, path)``) into
    ``out``, print the Markdown and a one-line summary; returns the exit status (1 with one
    error line when the directory cannot be written)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"study_{name}.md").write_text(md)
        write_json(out / f"study_{name}.json", res)
        plot(res, out / f"study_{name}.png")
    except OSError as e:
        print(f"python -m studies.{name}: error: cannot write the reports to {out}: "
              f"{e.strerror or e}", file=sys.stderr)
        return 1
    print(md)
    print(f"wrote {out / f'study_{name}.md'}, .png, .json in {time.perf_counter() - t0:.1f} s")
    return 0


def finish(study, args, res, t0) -> int:
    """The end of every study's ``main``: its reports (:func:`write_reports`), then, for a run
    with the default parameters, its docs sections (:func:`studies.docs.publish`). ``study`` is
    the study module (its ``MODULE``, ``PAGE``, ``DEFAULTS``, ``render_markdown``, ``plot`` and
    ``doc_sections``, read at call time), ``args`` the parsed options (``args.out``: the report
    directory, default :func:`report_dir`); returns the exit status."""
    from . import docs

    name = study.MODULE.rpartition(".")[2]
    out = args.out if args.out is not None else report_dir()
    status = write_reports(name, out, study.render_markdown(res), res, study.plot, t0)
    if status:
        return status
    return docs.publish(study.MODULE, study.PAGE, {k: getattr(args, k) for k in study.DEFAULTS},
                        study.DEFAULTS, lambda: study.doc_sections(res))
