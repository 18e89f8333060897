"""FlexBlock PE throughput measured in RTL simulation: ``python -m mxforge.bench_pe``.

For every mode pair of ``bfp_pe`` (and of the single-mode PEs, for the record) it streams
``--groups`` groups of FlexBlock's 54 beats (an 864-bit group line per operand in every mode) of
random BFP data through the RTL with the output always ready, checks every output bit-exact
against the golden model, and reports MACs per cycle *measured from the run*:

- MACs: the multiply-accumulates the PE delivered, counted from its output stream: each output
  beat is one accumulator of one group, worth that group's beats in MACs.
- steady-state cycles: the input window, from the first to the last beat accepted
  (beats + cycles the PE held its input back + idle cycles of the producer, which is 0 here).
- end-to-end cycles: from reset to the last output (adds the pipeline fill and the last
  group's conversions).

Peak is the mode pair's products per beat; "100 %" means the PE took a beat every cycle. The
table goes to ``build/reports/bench_pe.md``.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from hw.lib.export import build_root
from sim import harness, tools

from .catalogue import BLOCKS

GROUP_BEATS = 54


def stream(rng, modes, ia, ib, groups, lane_bits=16):
    """``groups`` groups of GROUP_BEATS beats in mode pair (ia, ib), random data; the first
    group clears the FP32 accumulators."""
    ns = lane_bits // min(modes)
    n = groups * GROUP_BEATS
    t = np.arange(n)
    return {
        "a": rng.integers(0, 1 << lane_bits, n), "sa": rng.integers(0, 2, (n, ns)),
        "mode_a": np.full(n, ia), "exp_a": rng.integers(110, 140, n),
        "b": rng.integers(0, 1 << lane_bits, n), "sb": rng.integers(0, 2, (n, ns)),
        "mode_b": np.full(n, ib), "exp_b": rng.integers(110, 140, n),
        "last": (t % GROUP_BEATS == GROUP_BEATS - 1).astype(np.int64),
        "clear": (t < GROUP_BEATS).astype(np.int64),
    }


def measure(block, params, ia, ib, groups, backend, seed=0):
    modes = params["modes"]
    v = stream(np.random.default_rng(seed), modes, ia, ib, groups, params["lane_bits"])
    r = harness.check(block, params, v, backend=backend, stalls=False)
    beats = r.stats["vectors"]
    macs = r.stats["outputs"] * GROUP_BEATS  # each output: one accumulator of one group
    window = beats + r.stats["in_stall"] + r.stats["in_idle"]
    peak = (params["lane_bits"] // modes[ia]) * (params["lane_bits"] // modes[ib])
    return {"config": block.config_name(**params), "pair": f"{modes[ia]}x{modes[ib]}",
            "peak": peak, "macs": macs, "beats": beats, "in_stall": r.stats["in_stall"],
            "window": window, "cycles": r.stats["cycles"], "steady": macs / window,
            "end_to_end": macs / r.stats["cycles"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mxforge.bench_pe",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default=None, choices=tools.BACKENDS,
                    help="simulator (default: verilator if available, else amaranth)")
    ap.add_argument("--groups", type=int, default=40, help="groups per mode pair (default 40)")
    args = ap.parse_args(argv)
    backend = args.backend or ("verilator" if tools.available("verilator")[0] else "amaranth")
    ok, reason = tools.available(backend)
    if not ok:
        print(f"sim.bench_pe: the {backend} backend is unavailable: {reason}", file=sys.stderr)
        return 2

    block = BLOCKS["bfp_pe"]
    rows = []
    for config, params in block.configurations().items():
        if params["stages"] != block.defaults["stages"]:
            continue
        n = len(params["modes"])
        for ia in range(n):
            for ib in range(n):
                print(f"{config} {params['modes'][ia]}x{params['modes'][ib]} on {backend} ...",
                      file=sys.stderr)
                rows.append(measure(block, params, ia, ib, args.groups, backend))
    lines = [
        f"## bfp_pe throughput in RTL simulation ({backend})",
        "",
        f"{args.groups} groups of {GROUP_BEATS} beats per mode pair, random BFP data, output "
        f"always ready, every output bit-exact against the golden model. MACs are counted from "
        f"the output stream; steady state = the input window (first to last beat accepted); "
        f"end to end = reset to the last output.",
        "",
        "| configuration | modes (a x b) | peak MACs/cycle | MACs | input stalls "
        "| steady-state MACs/cycle | of peak | end-to-end MACs/cycle |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['config']} | {r['pair']} | {r['peak']} | {r['macs']:,} "
                     f"| {r['in_stall']} | {r['steady']:.3f} "
                     f"| {100 * r['steady'] / r['peak']:.1f} % "
                     f"| {r['end_to_end']:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = build_root() / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_pe.md").write_text(text)
    return 0 if all(r["in_stall"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
