"""Simulation throughput per backend: ``python -m mxforge.bench``.

Runs the exhaustive ``mx_decode_e4m3`` sweep (65,536 vectors) on every available backend, without
and with random stalls, and prints vectors per second as a Markdown table (also written to
``build/reports/bench.md``; a default run also rewrites the stamped table of
docs/verification.md). cocotb backends are built first in a fresh build directory so the
build time is measured on its own (``--cached`` reuses the normal build cache instead).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np

from hw.lib.export import build_root
from sim import harness, tools

from .catalogue import BLOCKS

#: the page whose throughput section a default run rewrites
DOCS_PAGE = "docs/verification.md"


def _bench(block, params, backend, cached):
    vectors = block.vectors(exhaustive=True, **params)
    expected = block.golden(vectors, **params)
    row = {"backend": backend, "build": 0.0}
    if backend != "amaranth":
        t0 = time.perf_counter()
        b = harness.build(block, params, backend)
        row["build"] = b.seconds if b.seconds else (0.0 if cached else time.perf_counter() - t0)
    ok = True
    for stalls in (False, True):
        r = harness.run(block, params, vectors, backend=backend, stalls=stalls)
        ok &= all(np.array_equal(r.outputs[k], expected[k]) for k in expected)
        key = "stalls" if stalls else "nostall"
        row[key] = r.stats["vectors"] / r.stats["seconds"]
        row[key + "_s"] = r.stats["seconds"]
        row[key + "_cycles"] = r.stats["cycles"]
    row["golden"] = "match" if ok else "MISMATCH"
    row["n"] = len(next(iter(vectors.values())))
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mxforge.bench",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--backend", action="append", choices=tools.BACKENDS,
                    help="backend to measure (repeatable; default: every available one)")
    ap.add_argument("--cached", action="store_true",
                    help="reuse the normal build cache instead of building afresh")
    args = ap.parse_args(argv)

    block = BLOCKS["mx_decode"]
    params = block.params(elem="e4m3")
    config = block.config_name(**params)
    report_dir = build_root() / "reports"
    backends = args.backend or list(tools.BACKENDS)

    rows, skipped = [], []
    with tempfile.TemporaryDirectory(prefix="mxforge-bench-") as tmp:
        saved = os.environ.get("MXFORGE_BUILD")
        if not args.cached:
            os.environ["MXFORGE_BUILD"] = tmp
        try:
            for backend in backends:
                ok, reason = tools.available(backend)
                if not ok:
                    skipped.append(f"{backend}: {reason}")
                    continue
                print(f"{backend}: running {config} ...", file=sys.stderr)
                rows.append(_bench(block, params, backend, args.cached))
        finally:
            if saved is None:
                os.environ.pop("MXFORGE_BUILD", None)
            else:
                os.environ["MXFORGE_BUILD"] = saved

    lines = [
        f"## Simulation throughput: {config}, exhaustive ({rows[0]['n'] if rows else 0} vectors)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}. Stalls: p = {harness.DEFAULT_STALL} per cycle on input "
        f"and output. Run time includes simulator start-up; build time is separate"
        f"{' (cached builds)' if args.cached else ' (fresh build directory)'}.",
        "",
        "| backend | build (s) | no stalls (vectors/s) | with stalls (vectors/s) "
        "| cycles with stalls | golden |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['build']:.1f} | {r['nostall']:,.0f} "
                     f"| {r['stalls']:,.0f} | {r['stalls_cycles']:,} | {r['golden']} |")
    for s in skipped:
        lines.append(f"\nSkipped {s}")
    text = "\n".join(lines) + "\n"
    print(text)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "bench.md").write_text(text)
    if not args.backend and not args.cached and not skipped:   # the default run: make bench
        write_docs_section("throughput", lines[2:], "mxforge.bench")
    return 0


def write_docs_section(section, lines, module) -> None:
    """A benchmark table of docs/verification.md (``<!-- bench: SECTION -->``), stamped with
    the command (``make bench``, ``python -m MODULE``), the date and the commit it measured;
    only in a source checkout. The callers write it from a default run only."""
    import datetime
    import subprocess

    from . import markers
    from .docs import REPO
    from .files import write_atomic

    page = REPO / DOCS_PAGE
    if not page.is_file():
        return
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO,
                                capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    stamp = (f"<!-- written by `make bench` (python -m {module}) on "
             f"{datetime.date.today().isoformat()}{' at commit ' + commit if commit else ''}; "
             f"rerun it, do not edit this section -->\n")
    text = page.read_text()
    new, _ = markers.replace(text, "bench", {section: stamp + "\n".join(lines) + "\n"},
                             exactly_once=True)
    write_atomic(page, new)
    print(f"wrote {DOCS_PAGE}: {section}")


if __name__ == "__main__":
    sys.exit(main())
