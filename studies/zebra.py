"""ZeBRA study: how many stored-bit flips destroy a network whose weights are kept in each
block-scaled format, under random flips, BFA and ZeBRA, with and without SECDED on the block
scales: ``make study-zebra`` (``python -m studies.zebra``).

Method
------
Victims (:mod:`studies.zebra_nets`): a CNN with batch norm and the same CNN without it (the
control: ZeBRA distills its data from BN statistics and cannot run on it), trained on the CPU on
scikit-learn's bundled digits, one victim per seed. Each is quantized (weights of every Conv2d
and Linear layer; :class:`mxforge.nn.QuantizedWeights`) to per-layer INT8 (ZeBRA's victims), BFP
with FlexBlock's 864-bit groups (m = 16/8/4 in groups of 54/108/216), MXINT8, MXFP8 E4M3/E5M2,
MXFP6 E3M2/E2M3, MXFP4 E2M1, MXSF and OPAL (3-bit inliers, 4 BF16 outliers per 128), and
its held-out accuracy stated. Then, on the bit images
(:mod:`mxforge.bitimage`), the three attacks of :mod:`mxforge.attacks`:

- random: uniformly random flips in one seeded order (flips to collapse: the first crossing
  found by doubling and bisection on the prefix length);
- BFA: the progressive bit search on 64 real training images labelled by the model's own
  predictions;
- ZeBRA: the same search on 64 images distilled from the BN statistics with random target
  labels (BN victim only).

Collapse = held-out accuracy at or below chance + 1 % (11 %); the search stops there or after
``--max-flips`` flips ("> N" in the tables: not collapsed within N in some seed). ZeBRA's
data-free rule (accuracy on the distilled batch itself at or below 11 %) is reported beside it.
Block formats are attacked again with SECDED on every block scale (``scale_guard``, policy
"zero"): the attacker knows the code, so a move is two flips (a detected block: zeroed) or
three (a miscorrection to another scale). Every number is a mean over the seeds, with the range.

Outputs in ``--out`` (default ``build/reports``): ``study_zebra.md``, ``.json``, ``.png``; a
default run also rewrites the ``zebra-*`` sections of docs/zebra.md.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from . import common, docs
from .common import markdown_table

MODULE = "studies.zebra"
PAGE = "docs/zebra.md"
SECTIONS = ("zebra-victims", "zebra-flips", "zebra-bits", "zebra-protect", "zebra-findings")
DEFAULTS = {"seeds": 3, "max_flips": 100, "quick": False}
#: (label, bit-image format, options)
FORMATS = (("int8", "int8", {}), ("bfp16", "bfp", {"m": 16, "block": 54}),
           ("bfp8", "bfp", {"m": 8, "block": 108}), ("bfp4", "bfp", {"m": 4, "block": 216}),
           ("mxint8", "mxint8", {}), ("e4m3", "e4m3", {}), ("e5m2", "e5m2", {}),
           ("e3m2", "e3m2", {}), ("e2m3", "e2m3", {}), ("e2m1", "e2m1", {}),
           ("mxsf", "mxsf", {}), ("opal", "opal", {}))
ATTACKS = ("random", "bfa", "zebra")
#: the paper's ZeBRA-over-BFA flip ratios
CLAIM = {"CIFAR-10": 2.0, "ImageNet": 1.6}
TARGET = 0.11


def _attack_all(model, fmt, opts, data, seed, max_flips, kind, xd, yd):
    import torch

    from mxforge import attacks
    from mxforge.nn import QuantizedWeights

    from .zebra_nets import accuracy

    xtr, ytr, xte, yte = data
    q = QuantizedWeights(model, fmt, **opts)
    out = {"acc": accuracy(model, xte, yte)}
    try:
        out["random"] = attacks.random_flips(q, xte, yte, accuracy, seed=seed, target=TARGET)
        rng = np.random.default_rng(seed)
        pick = torch.from_numpy(rng.choice(len(xtr), 64, replace=False))
        with torch.no_grad():
            yb = model(xtr[pick]).argmax(1)
        r = attacks.bit_search(q, xtr[pick], yb, xte, yte, accuracy, target=TARGET,
                               max_flips=max_flips)
        out["bfa"] = r.collapsed_at
        out["bfa_bits"] = [f[2:] for f in r.flips]
        q.reset()
        if kind == "bn":
            r = attacks.bit_search(q, xd, yd, xte, yte, accuracy, target=TARGET,
                                   max_flips=max_flips)
            out["zebra"], out["zebra_datafree"] = r.collapsed_at, r.datafree_at
            out["zebra_bits"] = [f[2:] for f in r.flips]
    finally:
        q.restore()
    return out


def run(seeds=3, max_flips=100, quick=False):
    """Compute the study; returns a JSON-able dict."""
    import torch

    from mxforge import attacks

    from . import zebra_nets as zn

    torch.set_num_threads(2)
    # quick: BFP-8 and E4M3 (both collapse in one flip), a narrow victim
    formats = (FORMATS[2], FORMATS[5]) if quick else FORMATS
    data = zn.digits(0)
    xtr, ytr, xte, yte = data
    res = {"params": {"seeds": seeds, "max_flips": max_flips, "quick": quick},
           "formats": [f[0] for f in formats], "victims": {}, "cells": {}, "protected": {}}
    for kind in zn.KINDS:
        res["victims"][kind] = {"float": [], "quant": {f[0]: [] for f in formats}}
        for seed in range(seeds):
            model = zn.train(zn.victim(kind, width=8 if quick else 16, seed=seed), xtr, ytr,
                             epochs=5 if quick else 30, seed=seed)
            res["victims"][kind]["float"].append(zn.accuracy(model, xte, yte))
            xd = yd = None
            if kind == "bn":
                xd, yd = attacks.distill(model, seed=seed, steps=30 if quick else 500)
            for label, fmt, opts in formats:
                c = _attack_all(model, fmt, opts, data, seed, max_flips, kind, xd, yd)
                res["victims"][kind]["quant"][label].append(c.pop("acc"))
                res["cells"].setdefault(kind, {}).setdefault(label, []).append(c)
                if fmt != "int8":
                    p = _attack_all(model, fmt, {**opts, "protect": "secded"}, data, seed,
                                    max_flips, kind, xd, yd)
                    p.pop("acc")
                    res["protected"].setdefault(kind, {}).setdefault(label, []).append(p)
    if not quick:
        res["guard"] = guard_cost()
    return res


#: the dot products whose operands the guard's area is set beside (catalogue names)
CONSUMERS = ("mx_dot_e4m3_e4m3", "mx_dot_mxint8_mxint8")


def guard_cost():
    """The flow's area and delay of ``scale_guard`` (both policies) and the storage overhead of
    its 5 check bits per block for each format's block."""
    from golden import secded
    from mxforge import cost, tensors

    out = {"logic": {}, "storage": {}}
    for name in ("scale_guard", "scale_guard_hold"):
        r = cost.synth_row(name)
        out["logic"][name] = {"area_um2": r["area_um2"], "delay_ns": r["delay_ns"],
                              "stamp": r["stamp"]}
    # the unprotected path is a wire from storage to the decoder: the guard is all of the
    # overhead; set beside the dot product it would feed, one guard per operand
    for name in CONSUMERS:
        r = cost.synth_row(name)
        out.setdefault("consumers", {})[name] = {"area_um2": r["area_um2"],
                                                 "stamp": r["stamp"]}
    check = secded.check_bits() + 1
    for label, fmt, opts in FORMATS:
        if fmt == "int8":
            continue
        if fmt == "bfp":
            block_bits = 8 + opts["block"] * (1 + opts["m"])
        elif fmt == "opal":
            from golden import opal
            n, k, b = tensors.default_block("opal"), opal.DEFAULT_K, opal.DEFAULT_BITS
            block_bits = 8 + (n - k) * b + k * (16 + (n - 1).bit_length())
        else:
            block_bits = 8 + tensors.default_block(fmt) * tensors.element_bits(fmt)
        out["storage"][label] = check / block_bits
    return out


def guard_table(res):
    g = res.get("guard")
    if not g:
        return "Not measured (--quick).\n"
    logic = markdown_table(["guard", "µm²", "delay ns", "stamp"],
                           [[f"`{n}`", f"{v['area_um2']:,.0f}", f"{v['delay_ns']:.2f}",
                             v["stamp"]] for n, v in g["logic"].items()])
    storage = markdown_table(["format", "check bits per stored bit"],
                             [[f, f"{100 * v:.2f} %"] for f, v in g["storage"].items()])
    zero = g["logic"]["scale_guard"]["area_um2"]
    hold = g["logic"]["scale_guard_hold"]["area_um2"]
    beside = markdown_table(
        ["dot product it feeds", "µm²", "+ two guards, zero policy", "+ two guards, hold policy",
         "stamp"],
        [[f"`{n}`", f"{v['area_um2']:,.0f}", f"+{100 * 2 * zero / v['area_um2']:.1f} %",
          f"+{100 * 2 * hold / v['area_um2']:.1f} %", v["stamp"]]
         for n, v in g.get("consumers", {}).items()])
    return (logic + "\nThe unprotected path is a wire from storage to the decoder (0 µm², 0 ns): "
            "the guard's area and delay are the whole overhead. Beside the dot product it "
            "would feed, one guard per operand:\n\n" + beside + "\n" + storage)


# -- reports ---------------------------------------------------------------------------------------

def _stat(vals, cap):
    """'mean [min–max]' of flips over seeds; '> cap (n/N)' when some seed did not collapse."""
    done = [v for v in vals if v is not None]
    if not vals or not any(v is not None for v in vals):
        return f"> {cap}" if vals else "—"
    s = f"{np.mean(done):.1f} [{min(done)}–{max(done)}]"
    if len(done) < len(vals):
        s += f" ({len(done)}/{len(vals)} collapsed; others > {cap})"
    return s


def _mean(vals):
    done = [v for v in vals if v is not None]
    return float(np.mean(done)) if done else None


def victims_table(res):
    rows = []
    for kind, v in res["victims"].items():
        rows.append([kind, f"{100 * np.mean(v['float']):.1f} %"]
                    + [f"{100 * np.mean(v['quant'][f]):.1f} %" for f in res["formats"]])
    return markdown_table(["victim", "float"] + res["formats"], rows)


def flips_table(res, cells):
    cap = res["params"]["max_flips"]
    rows = []
    for kind, per in cells.items():
        for f in res["formats"]:
            if f not in per:
                continue
            c = per[f]
            rows.append([kind, f, _stat([x["random"] for x in c], "cap"),
                         _stat([x["bfa"] for x in c], cap),
                         _stat([x.get("zebra") for x in c], cap) if kind == "bn" else "n/a (no BN)",
                         _stat([x.get("zebra_datafree") for x in c], cap) if kind == "bn"
                         else "n/a"])
    return markdown_table(["victim", "format", "random", "BFA", "ZeBRA", "ZeBRA, data-free rule"],
                          rows)


def bits_table(res):
    counts = {}
    for kind, per in res["cells"].items():
        for f, cs in per.items():
            for c in cs:
                for attack in ("bfa", "zebra"):
                    for k, b in c.get(f"{attack}_bits", []):
                        counts.setdefault((f, k), {}).setdefault(b, 0)
                        counts[(f, k)][b] += 1
    rows = [[f, k, ", ".join(f"bit {b}: {n}" for b, n in sorted(v.items()))]
            for (f, k), v in sorted(counts.items(), key=lambda t: (res["formats"].index(t[0][0]),
                                                                    t[0][1]))]
    return markdown_table(["format", "stored field", "flips the searches committed, by bit "
                           "index (0 = LSB)"], rows)


def ratio(res):
    """ZeBRA / BFA flips on the BN victim for int8 (the paper's victims' format): BFA's mean
    over ZeBRA's mean, as the paper states 'fewer flips'."""
    c = res["cells"].get("bn", {}).get("int8", [])
    b, z = _mean([x["bfa"] for x in c]), _mean([x.get("zebra") for x in c])
    return None if not b or not z else b / z


def findings(res):
    out = []
    r = ratio(res)
    cap = res["params"]["max_flips"]
    c8 = res["cells"].get("bn", {}).get("int8", [])
    out.append(
        "INT8 (ZeBRA's victims' format), BN victim: BFA needs "
        f"{_stat([x['bfa'] for x in c8], cap)} flips, ZeBRA "
        f"{_stat([x.get('zebra') for x in c8], cap)}"
        + (f": BFA's mean over ZeBRA's is {r:.2f} (the paper: ZeBRA needs {CLAIM['CIFAR-10']}× "
           f"fewer flips than BFA on CIFAR-10, {CLAIM['ImageNet']}× on ImageNet)" if r else
           " (no ratio: a search did not collapse within the budget)")
        + ". The victims here are tiny (8 × 8 digits, four quantized layers), so every attack "
          "needs far fewer flips than on ResNet-20 or ImageNet models, and data distilled from "
          "three BN layers of a 10-class digits model is a weaker proxy than ZeBRA's; the "
          "comparison that carries over is the formats' and the protection's order, not the "
          "paper's counts or ratio.")
    one = [f for f in res["formats"] if f != "int8" and all(
        x["bfa"] == 1 for x in res["cells"].get("bn", {}).get(f, [{"bfa": 0}]))]
    if one:
        out.append("One flip collapses the BN victim in every seed under BFA for: "
                   + ", ".join(one) + " — a shared scale or exponent bit that multiplies a "
                   "block by 2^(2^k) (overflow, or 0xFF: NaN), or an element bit that makes a "
                   "NaN code (E4M3's S.1111.111), or an exponent bit of an OPAL outlier's "
                   "BF16 value.")
    prot = []
    for f, cs in res["protected"].get("bn", {}).items():
        plain = _mean([x["bfa"] for x in res["cells"]["bn"][f]])
        p = _mean([x["bfa"] for x in cs])
        prot.append(f"{f} {plain:.1f} → {p:.1f}" if plain and p else
                    f"{f} {plain} → {_stat([x['bfa'] for x in cs], cap)}")
    if prot:
        out.append("SECDED on the block scales (policy zero), BFA flips to collapse, BN victim: "
                   + "; ".join(prot) + ". It stops the one-flip scale attacks (the attacker now "
                   "needs three flips to miscorrect a scale), not element-code attacks.")
    return out


def render_markdown(res):
    return "\n".join([
        "# ZeBRA study: bit flips to collapse per storage format",
        "",
        f"`python -m studies.zebra` with {res['params']}. Method: the docstring of "
        "`studies/zebra.py`.",
        "",
        "## Victims: held-out accuracy", "", victims_table(res),
        "## Flips to collapse (mean [range] over seeds)", "", flips_table(res, res["cells"]),
        "## Which bits the searches flip", "", bits_table(res),
        "## With SECDED on the block scales", "", flips_table(res, res["protected"]),
        "## The guard's cost", "", guard_table(res),
        "## Findings", "", *(f"- {f}" for f in findings(res)), ""])


def doc_sections(res):
    return {"zebra-victims": victims_table(res),
            "zebra-flips": flips_table(res, res["cells"]),
            "zebra-bits": bits_table(res),
            "zebra-protect": flips_table(res, res["protected"]) + "\n" + guard_table(res),
            "zebra-findings": "".join(f"- {f}\n" for f in findings(res))}


def plot(res, path):
    """Two panels: flips to collapse per format on the BN victim (log scale; random, BFA,
    ZeBRA; the paper's ZeBRA/BFA claim against this run's INT8 ratio in the title), and the bit
    positions the searches committed, per stored field."""
    fig = common.new_figure((12, 9))
    ax1, ax2 = fig.subplots(2, 1)
    fm = res["formats"]
    bn = res["cells"]["bn"]
    series = {a: [(_mean([x.get(a) for x in bn[f]]) or float("nan")) for f in fm]
              for a in ATTACKS}
    r = ratio(res)
    common.grouped_bars(ax1, fm, series, ylabel="flips to collapse (mean over collapsed seeds)",
                        label_fmt="%.0f",
                        title="Flips to collapse (held-out accuracy <= 11 %), BN victim; "
                              f"paper: ZeBRA needs {CLAIM['CIFAR-10']}x / {CLAIM['ImageNet']}x "
                              "fewer flips than BFA (CIFAR-10 / ImageNet), here on INT8: "
                              + (f"{r:.2f}x" if r else "n/a"))
    ax1.set_yscale("log")
    ax1.set_ylim(0.5, None)
    counts = {}
    for per in res["cells"].values():
        for cs in per.values():
            for c in cs:
                for attack in ("bfa", "zebra"):
                    for kind, b in c.get(f"{attack}_bits", []):
                        counts.setdefault(kind, {}).setdefault(b, 0)
                        counts[kind][b] += 1
    bits = list(range(16))
    common.grouped_bars(ax2, [str(b) for b in bits],
                        {k: [v.get(b, 0) for b in bits] for k, v in sorted(counts.items())},
                        ylabel="committed flips (all formats, seeds, victims)",
                        title="Which bit of the stored word the searches flip (0 = LSB)")
    ax2.set_xlabel("bit index in its word")
    common.save_figure(fig, path)
    return Path(path)


def parse_args(argv=None):
    ap = common.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0],
                               epilog=docs.docs_rule(MODULE, PAGE, "--seeds, --max-flips or "
                                                     "--quick"))
    ap.add_argument("--out", type=Path, default=None,
                    help="report directory (default: build/reports)")
    ap.add_argument("--seeds", type=int, default=DEFAULTS["seeds"],
                    help="victims (and attack seeds) per kind (default 3)")
    ap.add_argument("--max-flips", dest="max_flips", type=int, default=DEFAULTS["max_flips"],
                    help="bit-search budget per attack (default 100)")
    ap.add_argument("--quick", action="store_true",
                    help="two formats, a narrow victim, short training and distillation "
                         "(a smoke run)")
    args = ap.parse_args(argv)
    if not 1 <= args.seeds <= 20:
        ap.error(f"--seeds: must be an integer in 1..20, not {args.seeds}")
    if not 1 <= args.max_flips <= 1000:
        ap.error(f"--max-flips: must be an integer in 1..1000, not {args.max_flips}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.seeds, args.max_flips, args.quick)
    return common.finish(sys.modules[__name__], args, res, t0)


if __name__ == "__main__":
    sys.exit(main())
