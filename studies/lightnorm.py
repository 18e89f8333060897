"""LightNorm numerics study: ``make study-lightnorm`` (``python -m studies.lightnorm``).

How far is LightNorm's range batch normalization in FP10 (``golden.rangebn``: fp10_e5m4
values and fp18_e5m12 accumulators forward, fp10_e6m3 / fp17_e6m11 backward) from exact
conventional batch normalization, for the outputs and for the gradients, over the batch size,
the activation distribution and the rounding ("rtz", the lab's bit masking, or "rne")? And which
part of the difference is the range approximation of the standard deviation, which part the
FP10 arithmetic?

Method
------
Inputs. For each values-per-channel ``n`` (default 64, 256, 1024, 4096; a multiple of
K · lanes = 8 · 4, so the K = 8 chunks of m = n / 8 values are whole beats) and each
distribution, ``--channels`` C (default 16) channels of float64 activations, seeded with
(``seed``, CRC-32 of the distribution's name, n): reproducible and independent of the other
cells. Each channel c has a scale σ_c = 2^U(-3, 3) and an offset δ_c = U(-2, 2) (a channel mean
up to two of its standard deviations away from 0, which costs FP10 precision in x − μ):

- normal: σ_c (δ_c + N(0, 1));
- relu: σ_c max(δ_c / 2 + N(0, 1), 0), a ReLU'd normal (16 % … 84 % zeros);
- lognormal: σ_c · ±exp(N(0, 1)), a random sign (signed log-normal, mean ≈ 0, heavy tails);
- uniform: σ_c (δ_c + U(-√3, √3));
- student_t: σ_c (δ_c + t₃) (Student-t, ν = 3: finite variance, outliers).

The channel means (|mean| ≤ 2σ_c ≤ 16) keep the running sums far below the accumulators'
saturation at these n (fp18_e5m12's 131056 > 4096 · 16); the golden models' own tests cover
saturation and the corner channels. The upstream gradients g are
N(0, 1) per element (a floating-point error does not depend on a common scale inside the
formats' range), drawn from the same generator after the activations.

Every low-precision value comes from the golden models; the study only generates, measures and
reports. γ = 1 and β = 0 throughout (as codes, exact in every format).

- x = ``encode(values, FWD_VALUE, "rne")`` (fp10_e5m4) and x̄ = its decoded float64 values.
  Every reference is computed on x̄, so the input quantization (the same for all methods) is not
  part of any error below.
- BN(x̄) = ``bn_reference`` (float64, biased variance, ε = 1e-5): the exact target.
- RBN(x̄) = ``forward_reference`` (float64 range BN: s = 1 / (C(m) · range + 2^-14) with
  range = mean of the chunk maxima − mean of the chunk minima, C(m) = 1 / √(2 ln m)).
- RBN_fp10 = ``forward(x, rounding=…)`` decoded (lanes = 4).

Metric. Per channel the relative RMS error ‖ŷ − y‖ / ‖y‖ of a result ŷ against a reference y
(float64 over the channel's n values), reported as the mean and the maximum over the C
channels. Range BN's output is BN's times the per-channel scale ratio ρ = σ / (C(m) · range)
(exactly, in float64: ρ = s_RBN / s_BN with each s including its ε), so a raw comparison with BN
measures mostly |ρ − 1|, which a network absorbs into γ. To compare *shapes*, the **fitted**
error is the relative RMS error after the best per-channel scale,
min_a ‖a ŷ − y‖ / ‖y‖ = sin∠(ŷ, y) (a = ŷ·y / ŷ·ŷ; 1 if ŷ = 0). It is the error that remains
after the network rescales each channel; raw errors are reported as well.

1. Forward, for each rounding:

   - total: RBN_fp10 against BN, raw and fitted;
   - source (a), the range approximation: RBN against BN in float64. Its fitted error is 0 up
     to float64 rounding (RBN = ρ · BN exactly), so the table reports ρ (mean ± standard
     deviation over the channels; the deviation is what the network cannot absorb into a
     fixed γ) and the raw error (≈ |ρ − 1|);
   - source (b), the FP10 arithmetic: RBN_fp10 against RBN, raw (same mathematics: no scale to
     fit). For scale, the floor of (b): RBN's output rounded once to fp10_e5m4 with the same
     rounding (``encode``), i.e. the error of a perfect unit with an FP10 output. And the
     error of the unit's mean, |μ_fp10 − μ| / σ (σ = 1 / s_BN), where rtz's running sum drifts.

2. Baseline: ``bn_forward`` (FP16 values, FP32 arithmetic) on x16 = ``encode(values, FP16,
   "rne")`` against ``bn_reference`` of x16's decoded values; same metric (raw).

3. Backward, for each rounding: dx of ``backward(x, g, γ, μ, s, amax, amin, rounding=…)`` with
   the forward's μ, s and chunk indices (same rounding) and g = ``encode(N(0, 1), BWD_VALUE,
   "rne")`` (fp10_e6m3), decoded, against

   (a) ``backward_reference(x̄, ḡ, γ)``, the exact range-BN (sub)gradient: raw, and its floor
       (the reference rounded once to fp10_e6m3 with the same rounding);
   (b) the exact conventional BN gradient in float64 (:func:`bn_backward_reference`:
       dx = s / n · (n h − Σh − x̂ Σ h x̂), h = γ g, x̂ = (x̄ − μ) s, s = 1 / √(var + ε)): raw and
       fitted. For scale, the float64 range-BN gradient against the same BN gradient (fitted),
       the part of (b) that is the range approximation, not the arithmetic.

Outputs in ``--out`` (default ``build/reports``): ``study_lightnorm.md`` (the tables and the
findings, also printed), ``study_lightnorm.json`` (every number) and ``study_lightnorm.png``
(errors against n, one panel per distribution, forward and backward, rtz and rne). Run with the
default parameters (``make study-lightnorm``) it also rewrites the ``lightnorm-*`` sections of
docs/lightnorm.md (:mod:`studies.docs`); with any other parameters it never touches docs/. The
default run takes about 20 s.
"""
from __future__ import annotations

import math
import sys
import time
import zlib
from functools import partial
from pathlib import Path

import numpy as np

from golden import rangebn as R
from golden.formats import decode, encode

from . import common, docs
from .common import fmt_pct, fmt_rel, markdown_table, percent, span

DEFAULT_NS = (64, 256, 1024, 4096)
DEFAULT_CHANNELS = 16
MAX_CHANNELS = 1024
#: the stream width of the golden units (sets the summation order)
LANES = R.DEFAULT_LANES
CHUNKS = R.CHUNKS
ROUNDINGS = R.ROUNDINGS


# -- inputs --------------------------------------------------------------------------------------

def _normal(rng, shape, sigma, delta):
    return sigma * (delta + rng.standard_normal(shape))


def _relu(rng, shape, sigma, delta):
    return sigma * np.maximum(delta / 2 + rng.standard_normal(shape), 0.0)


def _lognormal(rng, shape, sigma, delta):
    return sigma * rng.choice([-1.0, 1.0], shape) * np.exp(rng.standard_normal(shape))


def _uniform(rng, shape, sigma, delta):
    return sigma * (delta + rng.uniform(-math.sqrt(3), math.sqrt(3), shape))


def _student_t(rng, shape, sigma, delta):
    return sigma * (delta + rng.standard_t(3, shape))


#: name -> (label, generator(rng, shape, sigma (C, 1), delta (C, 1))); the names are
#: golden.rangebn.KINDS
DISTRIBUTIONS = {
    "normal": ("normal", _normal),
    "relu": ("ReLU'd normal", _relu),
    "lognormal": ("signed log-normal", _lognormal),
    "uniform": ("uniform", _uniform),
    "student_t": ("Student-t ν=3", _student_t),
}
assert tuple(DISTRIBUTIONS) == R.KINDS


def make_inputs(kind, channels, n, seed=0):
    """Activations (channels, n) and upstream gradients (channels, n), float64, of distribution
    ``kind`` (module docstring). Seeded with (seed, CRC-32 of the name, n)."""
    if kind not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, not {kind!r}")
    rng = np.random.default_rng([int(seed), zlib.crc32(kind.encode()), int(n)])
    sigma = np.exp2(rng.uniform(-3, 3, (channels, 1)))
    delta = rng.uniform(-2, 2, (channels, 1))
    values = DISTRIBUTIONS[kind][1](rng, (channels, n), sigma, delta)
    grads = rng.standard_normal((channels, n))
    return values, grads


# -- metrics -------------------------------------------------------------------------------------

def _rows(ref, got):
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if ref.shape != got.shape or ref.ndim != 2:
        raise ValueError(f"reference and result must be (channels, n) alike: {ref.shape} vs "
                         f"{got.shape}")
    return ref, got


def rel_rms(ref, got):
    """Per channel (row) ‖got − ref‖ / ‖ref‖ (float64; nan for an all-zero reference row)."""
    ref, got = _rows(ref, got)
    den = np.linalg.norm(ref, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, np.linalg.norm(got - ref, axis=1) / den, np.nan)


def fitted_rel_rms(ref, got):
    """Per channel min_a ‖a · got − ref‖ / ‖ref‖ = sin∠(got, ref), a = got·ref / got·got (the
    error after the best per-channel scale; 1 when ``got`` is all zero)."""
    ref, got = _rows(ref, got)
    gg = np.sum(got * got, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(gg > 0, np.sum(got * ref, axis=1) / gg, 0.0)
    return rel_rms(ref, a[:, None] * got)


def summary(errs):
    """{"mean", "max"} over the channels."""
    errs = np.asarray(errs, dtype=np.float64)
    return {"mean": float(np.mean(errs)), "max": float(np.max(errs))}


def bn_backward_reference(x, g, gamma, eps=R.BN_EPS):
    """Exact conventional BN input gradient in float64: x, g (C, n), gamma (C,).

    dx = s / n · (n h − Σh − x̂ Σ(h x̂)), h = γ g, x̂ = (x − μ) s, s = 1 / √(var + ε), biased
    variance: the derivative of :func:`golden.rangebn.bn_reference`, ε included.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[1]
    h = np.asarray(gamma, dtype=np.float64)[:, None] * np.asarray(g, dtype=np.float64)
    mu = x.mean(axis=1, keepdims=True)
    s = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mu) * s
    return s / n * (n * h - h.sum(axis=1, keepdims=True)
                    - xhat * np.sum(h * xhat, axis=1, keepdims=True))


# -- the study -----------------------------------------------------------------------------------

def measure(kind, channels, n, seed=0):
    """Every number of one (distribution, n) cell: the rounding-independent ones, then one dict
    per rounding (keys of the module docstring's items)."""
    V, G, F16 = R.FWD_VALUE, R.BWD_VALUE, R.FP16
    values, grads = make_inputs(kind, channels, n, seed)
    one, zero = np.ones(channels), np.zeros(channels)
    x = encode(values, V, "rne")
    xd = decode(x, V)
    g = encode(grads, G, "rne")
    gd = decode(g, G)
    gam, bet = encode(one, V, "rne"), encode(zero, V, "rne")

    bn = R.bn_reference(xd, one, zero)
    rbn = R.forward_reference(xd, one, zero, CHUNKS)
    ratio = rbn["s"] / bn["s"]
    dx_rbn = R.backward_reference(xd, gd, one, CHUNKS)["dx"]
    dx_bn = bn_backward_reference(xd, gd, one)

    x16 = encode(values, F16, "rne")
    y16 = decode(R.bn_forward(x16, encode(one, F16), encode(zero, F16), LANES)["y"], F16)
    ref16 = R.bn_reference(decode(x16, F16), one, zero)["y"]

    out = {
        "ratio": {"mean": float(ratio.mean()), "std": float(ratio.std()),
                  "min": float(ratio.min()), "max": float(ratio.max())},
        "fwd_range_vs_bn": {"raw": summary(rel_rms(bn["y"], rbn["y"])),
                            "fitted": summary(fitted_rel_rms(bn["y"], rbn["y"]))},
        "fp16_bn": summary(rel_rms(ref16, y16)),
        "bwd_range_vs_bn": {"raw": summary(rel_rms(dx_bn, dx_rbn)),
                            "fitted": summary(fitted_rel_rms(dx_bn, dx_rbn))},
    }
    for rd in ROUNDINGS:
        f = R.forward(x, gam, bet, LANES, CHUNKS, rd)
        y = decode(f["y"], V)
        b = R.backward(x, g, gam, f["mu"], f["s"], f["amax"], f["amin"], LANES, CHUNKS, rd)
        dx = decode(b["dx"], G)
        out[rd] = {
            "fwd_total": {"raw": summary(rel_rms(bn["y"], y)),
                          "fitted": summary(fitted_rel_rms(bn["y"], y))},
            "fwd_arith": summary(rel_rms(rbn["y"], y)),
            "mu_err": summary(np.abs(decode(f["mu"], R.FWD_ACC) - rbn["mu"]) * bn["s"]),
            "fwd_floor": summary(rel_rms(rbn["y"], decode(encode(rbn["y"], V, rd), V))),
            "bwd_vs_range": summary(rel_rms(dx_rbn, dx)),
            "bwd_floor": summary(rel_rms(dx_rbn, decode(encode(dx_rbn, G, rd), G))),
            "bwd_vs_bn": {"raw": summary(rel_rms(dx_bn, dx)),
                          "fitted": summary(fitted_rel_rms(dx_bn, dx))},
        }
    return out


def _get(d, path):
    """``d[path[0]][path[1]]...``"""
    for k in path:
        d = d[k]
    return d


def _mean_over(cells, *path):
    """The mean of ``_get(cell, path)`` over ``cells``."""
    return float(np.mean([_get(c, path) for c in cells]))


def run(ns=DEFAULT_NS, channels=DEFAULT_CHANNELS, seed=0):
    """Compute the study; returns a JSON-able dict: ``results[str(n)][distribution]`` (see
    :func:`measure`), ``summary[str(n)]`` (means over the distributions) and the parameters."""
    res = {"params": {"n": list(ns), "channels": channels, "seed": seed, "lanes": LANES,
                      "chunks": CHUNKS, "roundings": list(ROUNDINGS),
                      "formats": {"fwd_value": R.FWD_VALUE.name, "fwd_acc": R.FWD_ACC.name,
                                  "bwd_value": R.BWD_VALUE.name, "bwd_acc": R.BWD_ACC.name},
                      "bn_eps": R.BN_EPS, "range_eps": R.FWD_ACC.min_normal},
           "distributions": {d: v[0] for d, v in DISTRIBUTIONS.items()},
           "results": {}, "summary": {}}
    for n in ns:
        res["results"][str(n)] = {d: measure(d, channels, n, seed) for d in DISTRIBUTIONS}
    for n in ns:
        cells = list(res["results"][str(n)].values())
        avg = partial(_mean_over, cells)
        sm = {"ratio": avg("ratio", "mean"), "fp16_bn": avg("fp16_bn", "mean"),
              "bwd_range_vs_bn_fitted": avg("bwd_range_vs_bn", "fitted", "mean")}
        for rd in ROUNDINGS:
            sm[rd] = {"fwd_arith": avg(rd, "fwd_arith", "mean"),
                      "mu_err": avg(rd, "mu_err", "mean"),
                      "fwd_total_fitted": avg(rd, "fwd_total", "fitted", "mean"),
                      "bwd_vs_range": avg(rd, "bwd_vs_range", "mean"),
                      "bwd_vs_bn_fitted": avg(rd, "bwd_vs_bn", "fitted", "mean")}
        res["summary"][str(n)] = sm
    return res


# -- report --------------------------------------------------------------------------------------

def _mm(s) -> str:
    """A {"mean", "max"} summary as "mean / max"."""
    return f"{fmt_rel(s['mean'])} / {fmt_rel(s['max'])}"


def _pair(a, b) -> str:
    return f"{fmt_rel(a)} / {fmt_rel(b)}"


def _cells(res):
    """(label, n, cell) in table order: distribution, then n."""
    for d, lab in res["distributions"].items():
        for n in res["params"]["n"]:
            yield lab, n, res["results"][str(n)][d]


def _summary_table(res) -> str:
    """The summary table: per n, means over the distributions (pairs rtz / rne)."""
    t0 = []
    for n in res["params"]["n"]:
        s = res["summary"][str(n)]
        t0.append([n, f"{s['ratio']:.3f}", _pair(s["rtz"]["fwd_arith"], s["rne"]["fwd_arith"]),
                   _pair(s["rtz"]["mu_err"], s["rne"]["mu_err"]),
                   _pair(s["rtz"]["fwd_total_fitted"], s["rne"]["fwd_total_fitted"]),
                   fmt_rel(s["fp16_bn"]),
                   _pair(s["rtz"]["bwd_vs_range"], s["rne"]["bwd_vs_range"]),
                   _pair(s["rtz"]["bwd_vs_bn_fitted"], s["rne"]["bwd_vs_bn_fitted"]),
                   fmt_rel(s["bwd_range_vs_bn_fitted"])])
    return markdown_table(["n", "ρ", "fwd FP10 arith", "μ err / σ", "fwd vs BN, fitted",
                           "FP16 BN", "bwd vs range-BN grad", "bwd vs BN grad, fitted",
                           "float64 range-BN grad vs BN, fitted"], t0)


def _setup(res) -> str:
    p = res["params"]
    fm = p["formats"]
    return (f"n = {', '.join(map(str, p['n']))} values per channel, {p['channels']} channels "
            f"per cell, seed {p['seed']}; K = {p['chunks']} chunks, {p['lanes']} lanes, γ = 1, "
            f"β = 0. Range BN forward in {fm['fwd_value']} / {fm['fwd_acc']}, backward in "
            f"{fm['bwd_value']} / {fm['bwd_acc']}, roundings {' and '.join(p['roundings'])} "
            "(`golden.rangebn`). Errors are relative RMS per channel (‖ŷ − y‖ / ‖y‖, float64)")


def render_markdown(res) -> str:
    p = res["params"]
    fm = p["formats"]
    t1, t2, t3, t4, t5 = [], [], [], [], []
    for lab, n, c in _cells(res):
        r = c["ratio"]
        t1.append([lab, n, n // p["chunks"], f"{r['mean']:.3f} ± {r['std']:.3f}",
                   _mm(c["fwd_range_vs_bn"]["raw"]), _mm(c["rtz"]["fwd_arith"]),
                   _mm(c["rne"]["fwd_arith"]),
                   _pair(c["rtz"]["fwd_floor"]["mean"], c["rne"]["fwd_floor"]["mean"]),
                   _pair(c["rtz"]["mu_err"]["mean"], c["rne"]["mu_err"]["mean"])])
        t2.append([lab, n] + [_mm(c[rd]["fwd_total"][k]) for k in ("raw", "fitted")
                              for rd in ROUNDINGS])
        t3.append([lab, n, _mm(c["fp16_bn"])])
        t4.append([lab, n, _mm(c["rtz"]["bwd_vs_range"]), _mm(c["rne"]["bwd_vs_range"]),
                   _pair(c["rtz"]["bwd_floor"]["mean"], c["rne"]["bwd_floor"]["mean"])])
        t5.append([lab, n] + [_mm(c[rd]["bwd_vs_bn"][k]) for k in ("raw", "fitted")
                              for rd in ROUNDINGS] + [_mm(c["bwd_range_vs_bn"]["fitted"])])
    dn = ["distribution", "n"]
    return "\n".join([
        "# LightNorm numerics study",
        "",
        f"`python -m studies.lightnorm`: {_setup(res)}; cells give the mean / max over the "
        "channels. *Fitted*: after the best per-channel scale (sin∠(ŷ, y)). "
        "ρ = σ / (C(m)·range) = s_RBN / s_BN, the scale range BN puts on BN's output. Method: "
        "the docstring of `studies/lightnorm.py`.",
        "",
        "## Summary",
        "",
        "Means over the five distributions of the per-channel means; pairs are rtz / rne.",
        "",
        _summary_table(res),
        "## 1. Forward",
        "",
        "Error sources. (a) the range approximation, float64 range BN vs BN: ρ (mean ± std "
        "over the channels) and the raw error (≈ |ρ − 1|; fitted it is 0: RBN = ρ·BN). "
        "(b) the FP10 arithmetic, range BN FP10 vs float64 range BN, per rounding; its floor is "
        f"the float64 output rounded once to {fm['fwd_value']}; μ err is the FP10 unit's "
        "|μ − mean| / σ (means, rtz / rne).",
        "",
        markdown_table(dn + ["m", "ρ", "(a) raw", "(b) rtz", "(b) rne", "(b) floor", "μ err"],
                       t1),
        "Total: range BN FP10 vs exact BN, raw and fitted.",
        "",
        markdown_table(dn + ["raw rtz", "raw rne", "fitted rtz", "fitted rne"], t2),
        "## 2. Baseline: conventional BN in FP16 / FP32",
        "",
        "`bn_forward` (FP16 values, FP32 arithmetic) vs `bn_reference` on the same FP16 values "
        "(raw).",
        "",
        markdown_table(dn + ["FP16 BN"], t3),
        "## 3. Backward",
        "",
        f"(a) dx of range BN in {fm['bwd_value']} / {fm['bwd_acc']} (with the forward's μ, s "
        "and chunk indices, same rounding) vs the exact range-BN gradient (raw); its floor is "
        f"the exact gradient rounded once to {fm['bwd_value']} (means, rtz / rne).",
        "",
        markdown_table(dn + ["(a) rtz", "(a) rne", "(a) floor"], t4),
        "(b) the same dx vs the exact conventional BN gradient (float64), raw and fitted; the "
        "last column is the float64 range-BN gradient vs the BN gradient (fitted): the range "
        "approximation's share.",
        "",
        markdown_table(dn + ["raw rtz", "raw rne", "fitted rtz", "fitted rne",
                             "float64 range-BN"], t5),
        "## Findings",
        "",
        *(f"- {f}" for f in findings(res)),
        "",
    ])


# -- findings and the docs page ------------------------------------------------------------------

MODULE = "studies.lightnorm"
#: the docs page whose ``lightnorm-*`` sections a run with :data:`DEFAULTS` rewrites
PAGE = "docs/lightnorm.md"
#: the page's sections, in page order
SECTIONS = ("lightnorm-summary", "lightnorm-findings")
#: the default parameters (what ``make study-lightnorm`` runs), as parse_args normalizes them
DEFAULTS = {"n": list(DEFAULT_NS), "channels": DEFAULT_CHANNELS, "seed": 0}


def findings(res) -> list[str]:
    """What the tables say, as sentences with the measured numbers filled in (the summary
    table's means; per-distribution extremes where named). Each qualitative claim is decided
    by the numbers."""
    p = res["params"]
    ns = p["n"]
    fm = p["formats"]
    dl = res["distributions"]
    sm = {n: res["summary"][str(n)] for n in ns}
    cells = {n: list(res["results"][str(n)].values()) for n in ns}
    floor = {n: {rd: _mean_over(cells[n], rd, "fwd_floor", "mean") for rd in ROUNDINGS}
             for n in ns}
    out = []

    # 1. the forward's FP10 arithmetic against rounding the exact output once
    near = {rd: [n for n in ns if sm[n][rd]["fwd_arith"] <= 1.1 * floor[n][rd]]
            for rd in ROUNDINGS}
    parts = [f"{span([sm[n][rd]['fwd_arith'] for n in near[rd]])} ({rd}) against a floor of "
             f"{span([floor[n][rd] for n in near[rd]])}" for rd in ROUNDINGS if near[rd]]
    s = (f"The FP10 forward arithmetic costs what rounding the exact range-BN output once to "
         f"{fm['fwd_value']} costs, within 10 %: relative RMS error " + ", ".join(parts))
    far = [(rd, n) for rd in ROUNDINGS for n in ns if n not in near[rd]]
    if far:
        s += (" — except " + ", ".join(f"{rd} at n = {n} ({fmt_rel(sm[n][rd]['fwd_arith'])} "
                                        f"against {fmt_rel(floor[n][rd])})" for rd, n in far))
    mu = {rd: [sm[n][rd]["mu_err"] for n in ns] for rd in ROUNDINGS}
    if "rtz" in mu:
        grows = all(b > a for a, b in zip(mu["rtz"], mu["rtz"][1:]))
        s += (f". rtz's truncated running sums {'drift' if grows else 'move'} the mean "
              f"towards zero by {fmt_rel(mu['rtz'][0])}σ at n = {ns[0]}"
              + (f" to {fmt_rel(mu['rtz'][-1])}σ at n = {ns[-1]}" if len(ns) > 1 else "")
              + (f" (rne: {span(mu['rne'])}σ)" if "rne" in mu else ""))
    out.append(s + ".")

    # 2. the range approximation: a per-channel scale
    rho = [sm[n]["ratio"] for n in ns]
    last = {d: res["results"][str(ns[-1])][d]["ratio"]["mean"] for d in dl}
    lo, hi = min(last, key=last.get), max(last, key=last.get)
    trend = "falling" if all(b < a for a, b in zip(rho, rho[1:])) else "going"
    fitted = {rd: max(sm[n][rd]["fwd_total_fitted"] for n in ns) for rd in ROUNDINGS}
    out.append(
        f"Range BN's output is BN's times a per-channel ρ = σ / (C(m)·range): {rho[0]:.3f} at "
        f"n = {ns[0]}" + (f" {trend} to {rho[-1]:.3f} at n = {ns[-1]}" if len(ns) > 1 else "")
        + f" (means over the distributions); at n = {ns[-1]} from {last[lo]:.3f} ({dl[lo]}) to "
        f"{last[hi]:.3f} ({dl[hi]}). After the best per-channel scale, which a learned γ "
        "absorbs only if ρ is stable, FP10 range BN is within "
        + " / ".join(f"{fmt_pct(fitted[rd], 1)} ({rd})" for rd in ROUNDINGS)
        + " of exact BN (relative RMS, mean over the channels and distributions, worst n).")

    # 3. the backward
    back = {rd: [sm[n][rd]["bwd_vs_range"] for n in ns] for rd in ROUNDINGS}
    total = [sm[n][rd]["bwd_vs_bn_fitted"] for n in ns for rd in ROUNDINGS]
    share = [sm[n]["bwd_range_vs_bn_fitted"] for n in ns]
    frac = min(sm[n]["bwd_range_vs_bn_fitted"] / sm[n][rd]["bwd_vs_bn_fitted"]
               for n in ns for rd in ROUNDINGS)
    out.append(
        f"In {fm['bwd_value']} the backward's relative RMS error against the exact range-BN "
        "gradient is " + " / ".join(f"{span(back[rd])} ({rd})" for rd in ROUNDINGS)
        + ". Against the exact BN gradient it differs by "
        f"{span(total, percent(1), ' %')} after the scale fit, and the float64 range-BN "
        f"gradient alone by {span(share, percent(1), ' %')}: "
        + ("almost all of the difference is the range approximation, not the low precision."
           if frac >= 0.8 else
           f"the range approximation is at least {fmt_pct(frac, 0)} of the difference."))
    return out


def doc_sections(res) -> dict:
    """{section: body} of docs/lightnorm.md (without the stamps)."""
    dl = ", ".join(res["distributions"].values())
    return {
        "lightnorm-summary": "\n".join([
            f"{_setup(res)}. Cells: means over the distributions ({dl}) of the per-channel "
            "means; pairs are rtz / rne. *Fitted*: after the best per-channel scale. "
            "ρ = σ / (C(m)·range), the scale range BN puts on BN's output.",
            "",
            _summary_table(res)]),
        "lightnorm-findings": "".join(f"- {f}\n" for f in findings(res)),
    }


def plot(res, path):
    """Two rows of panels (forward, backward), one per distribution: error (mean over the
    channels) against n, log-log; solid rtz, dashed rne."""
    ns = res["params"]["n"]
    dists = res["distributions"]
    fig = common.new_figure((16, 7))
    axes = fig.subplots(2, len(dists), sharex=True, sharey="row", squeeze=False)
    style = {"rtz": "-", "rne": "--"}

    def line(ax, d, path, ls, color, marker, label):
        ax.plot(ns, [_get(res["results"][str(n)][d], path) for n in ns], ls, color=color,
                marker=marker, ms=3, label=label)

    for j, (d, lab) in enumerate(dists.items()):
        fw, bw = axes[0, j], axes[1, j]
        for rd in ROUNDINGS:
            ls = style[rd]
            line(fw, d, (rd, "fwd_total", "fitted", "mean"), ls, "C0", "o",
                 f"range BN FP10 vs BN, fitted ({rd})")
            line(fw, d, (rd, "fwd_arith", "mean"), ls, "C1", "o",
                 f"FP10 arithmetic vs float64 range BN ({rd})")
            line(bw, d, (rd, "bwd_vs_range", "mean"), ls, "C0", "o",
                 f"dx FP10 vs exact range-BN grad ({rd})")
            line(bw, d, (rd, "bwd_vs_bn", "fitted", "mean"), ls, "C1", "o",
                 f"dx FP10 vs BN grad, fitted ({rd})")
        line(fw, d, ("fwd_range_vs_bn", "raw", "mean"), ":", "C3", "s",
             "float64 range BN vs BN, raw (≈|ρ−1|)")
        line(fw, d, ("fp16_bn", "mean"), "-", "C2", "^", "FP16 BN baseline vs BN")
        line(bw, d, ("bwd_range_vs_bn", "fitted", "mean"), ":", "C3", "s",
             "float64 range-BN grad vs BN grad, fitted")
        fw.set_title(lab, fontsize=10)
        for ax in (fw, bw):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
        bw.set_xlabel("values per channel n")
    axes[0, 0].set_ylabel("forward: relative RMS error")
    axes[1, 0].set_ylabel("backward: relative RMS error")
    for row in axes:
        h, lab = row[0].get_legend_handles_labels()
        row[-1].legend(h, lab, fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("LightNorm range BN in FP10 vs exact BN (mean over "
                 f"{res['params']['channels']} channels; solid rtz, dashed rne)", fontsize=11)
    common.save_figure(fig, path)
    return Path(path)


def parse_args(argv=None):
    ap = common.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0],
                               epilog=docs.docs_rule(MODULE, PAGE,
                                                     "--n, --channels or --seed"))
    ap.add_argument("--out", type=Path, default=None,
                    help="report directory (default: build/reports)")
    ap.add_argument("--n", type=int, nargs="+", default=list(DEFAULT_NS), metavar="N",
                    help=f"values per channel, multiples of {CHUNKS * LANES} (default: "
                         f"{' '.join(map(str, DEFAULT_NS))})")
    ap.add_argument("--channels", type=int, default=DEFAULT_CHANNELS,
                    help=f"channels per (n, distribution) cell, 1..{MAX_CHANNELS} "
                         f"(default {DEFAULT_CHANNELS})")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args(argv)
    ns = sorted(dict.fromkeys(args.n))
    for n in ns:
        try:
            R.check_params(n, LANES, CHUNKS)
        except ValueError as e:
            ap.error(f"--n: {e}")
    args.n = ns
    if not 1 <= args.channels <= MAX_CHANNELS:
        ap.error(f"--channels must be an integer in 1..{MAX_CHANNELS}, not {args.channels}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.n, args.channels, args.seed)
    return common.finish(sys.modules[__name__], args, res, t0)


if __name__ == "__main__":
    sys.exit(main())
