"""Verilog export time of the FlexBlock array against its size: ``python -m mxforge.bench_export``.

Issue 19's scale target is a 16 x 16 ``bfp_array`` in under 60 s. This converts the array at
its catalogued default (2 x 2), the sizes of ``catalogue.SIZES`` (4 x 4, 8 x 8) and 16 x 16 with
8 units per column with :func:`hw.lib.export.to_verilog`, bypassing the Verilog cache,
and prints the wall time and the text's size as a Markdown table (also written to
``build/reports/bench_export.md``; a default run also rewrites the stamped table of
docs/verification.md). One process, one size after the other.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from hw.lib.export import build_root, to_verilog

from .catalogue import BLOCKS, SIZES

DOCS_PAGE = "docs/verification.md"
#: the issue's target size (R = C = 16, 8 units per column) and its time limit
TARGET = {"R": 16, "C": 16, "units": 8}
TARGET_S = 60.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mxforge.bench_export",
                                 description=__doc__.splitlines()[0])
    ap.parse_args(argv)
    block = BLOCKS["bfp_array"]
    rows = []
    sizes = [{}, *(o for b, overrides in SIZES if b == "bfp_array" for o in overrides), TARGET]
    for overrides in sizes:               # the catalogue's default, its SIZES, the target
        params = block.params(**overrides)
        name = block.config_name(**params)
        print(f"converting {name} ...", file=sys.stderr)
        t0 = time.perf_counter()
        text = to_verilog(block.build(**params), name)
        rows.append((name, params["R"] * params["C"], time.perf_counter() - t0, len(text)))
    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}; target: the 16 × 16 array in under {TARGET_S:.0f} s.",
             "", "| configuration | PEs | Verilog export (s) | Verilog (MB) |",
             "|---|---:|---:|---:|"]
    lines += [f"| `{name}` | {pes} | {sec:.1f} | {size / 1e6:.2f} |"
              for name, pes, sec, size in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    out = build_root() / "reports"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_export.md").write_text(text)
    from .bench import write_docs_section
    write_docs_section("export", lines, "mxforge.bench_export")
    return 0 if rows[-1][2] < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
