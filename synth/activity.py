"""Switching activity of a mapped netlist from simulation, and the power it costs
(docs/cost.md "Energy").

The mapped (hierarchical) netlist of the Liberty tier is simulated in Icarus with the library's
own Verilog cell models (``osu018_stdcells.v`` beside ``osu018_stdcells.lib``, or
``$MXFORGE_CELLS_V``) on a workload (:class:`Stimulus`): input beats offered back to back after
reset, the output always ready. A VPI module (``synth/toggles.c``, built once with
``iverilog-vpi``) counts the transitions of every cell output pin and every payload input bit
over the measured window (:func:`measure`).

The counter samples every probe once per clock cycle (before the edge) and counts the ones that
changed: functional toggles, at most one per cycle. The cell models have no delays, so a
zero-delay simulation's transient transitions would mean nothing; glitches are not counted
(the figure is a lower bound of the switching power, the same bound for every block).

OpenSTA 2.0.17 cannot take the counts as pin activities (``set_power_activity -pins`` calls a
procedure that does not exist and keeps input pins only; ``sta::set_power_pin_activity`` does
not reach the power of internal nets). Instead :data:`POWER_SCRIPT` has it report every cell's
power at activity 0 and at activity 0.5 on every net, and :func:`workload_power` interpolates
each cell at its measured rate.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .liberty import cells

__all__ = ["Stimulus", "cells_verilog", "measure", "workload_power",
           "input_activity", "energy", "source_digest", "missing_tools", "POWER_SCRIPT",
           "ActivityError"]

_VPI_SOURCE = Path(__file__).resolve().parent / "toggles.c"


@dataclass(frozen=True)
class Stimulus:
    """Input beats for the energy measurement (from a block's workload,
    :mod:`golden.workloads`).

    Attributes
    ----------
    words : tuple of int
        Packed input payloads, offered back to back.
    warm : int
        Leading beats not measured.
    ops_per_beat : float
        Operations one beat carries on average.
    op : str
        What one operation is.
    """

    words: tuple
    warm: int
    ops_per_beat: float
    op: str

    def digest(self) -> str:
        blob = json.dumps([[hex(w) for w in self.words], self.warm, self.ops_per_beat,
                           self.op])
        return hashlib.sha256(blob.encode()).hexdigest()


def source_digest() -> str:
    """Hash of the measurement's code (this module and the VPI counter): a change re-measures."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(_VPI_SOURCE.read_bytes())
    return h.hexdigest()


def energy(power: dict, stimulus: Stimulus, cycles: int, clock_ns: float,
           input_rate: float) -> dict:
    """Energy per operation from the workload's power (:func:`workload_power`) over the
    measured window: ``power_mw``, ``pj_per_op`` (power x window / operations), ``op``,
    ``ops`` (operations in the window), ``cycles``, ``input_activity`` (mean toggles per cycle
    of a payload input bit), ``dynamic_mw``, ``leakage_mw``, ``cells``, ``measured``."""
    beats = len(stimulus.words) - stimulus.warm
    ops = beats * stimulus.ops_per_beat
    total = power["total_w"]
    return {
        "op": stimulus.op, "ops": ops, "cycles": cycles,
        "power_mw": float(f"{total * 1e3:.6g}"),
        "dynamic_mw": float(f"{(power['internal_w'] + power['switching_w']) * 1e3:.6g}"),
        "leakage_mw": float(f"{power['leakage_w'] * 1e3:.6g}"),
        "pj_per_op": float(f"{total * cycles * clock_ns * 1e-9 / ops * 1e12:.6g}"),
        "input_activity": round(input_rate, 4),
        "cells": power["cells"], "measured": power["measured"]}


class ActivityError(RuntimeError):
    """The gate-level simulation could not run (tool missing or failing)."""


def cells_verilog(liberty: str | None) -> str | None:
    """The library's Verilog cell models: ``$MXFORGE_CELLS_V``, else the ``.v`` beside the
    Liberty, else None."""
    env = os.environ.get("MXFORGE_CELLS_V")
    if env:
        return env if os.path.isfile(env) else None
    if liberty is None:
        return None
    path = Path(liberty).with_suffix(".v")
    return str(path) if path.is_file() else None


def missing_tools(liberty: str | None) -> list:
    """What the measurement lacks: "iverilog" (Icarus with iverilog-vpi) and/or "cell models"
    (the library's Verilog, :func:`cells_verilog`)."""
    out = []
    if any(shutil.which(t) is None for t in ("iverilog", "vvp", "iverilog-vpi")):
        out.append("iverilog")
    if cells_verilog(liberty) is None:
        out.append("cell models")
    return out


def _vpi(build: Path) -> Path:
    """The toggle-counting VPI module, built once per source (``iverilog-vpi``) in a private
    directory and renamed into place, so that processes building it at once never load a
    half-written one."""
    source = _VPI_SOURCE.read_bytes()
    out = build / f"toggles-{hashlib.sha256(source).hexdigest()[:12]}"
    vpi = out / "toggles.vpi"
    if vpi.is_file():
        return vpi
    if shutil.which("iverilog-vpi") is None:
        raise ActivityError("iverilog-vpi is not installed (Debian package iverilog)")
    build.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="toggles.", dir=build))
    try:
        shutil.copyfile(_VPI_SOURCE, tmp / "toggles.c")
        proc = subprocess.run(["iverilog-vpi", "toggles.c"], cwd=tmp, capture_output=True,
                              text=True)
        if proc.returncode != 0 or not (tmp / "toggles.vpi").is_file():
            raise ActivityError(f"building the toggle counter failed:\n{proc.stdout}"
                                f"{proc.stderr}")
        out.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / "toggles.vpi", vpi)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return vpi


def _ports(mapped: str, top: str) -> dict:
    """{port: (direction, width, split)} of module ``top`` of a Yosys-written netlist; a
    ``split`` port is declared bit by bit (``input \\name[3] ;``, Yosys ``splitnets -ports``)."""
    m = re.search(rf"^module {re.escape(top)}\s*\((.*?)\);(.*?)^endmodule", mapped, re.M | re.S)
    if not m:
        raise ActivityError(f"no module {top} in the mapped netlist")
    out = {}
    for d in re.finditer(r"^\s*(input|output)\s*(?:\[(\d+):(\d+)\])?\s*([\w$\\]+)\s*;", m.group(2),
                         re.M):
        out[d.group(4)] = (d.group(1), abs(int(d.group(2) or 0) - int(d.group(3) or 0)) + 1,
                           False)
    for d in re.finditer(r"^\s*(input|output)\s*\\(\w+)\[(\d+)\]\s*;", m.group(2), re.M):
        width = max(out.get(d.group(2), (None, 0))[1], int(d.group(3)) + 1)
        out[d.group(2)] = (d.group(1), width, True)
    return out


def _connections(ports: dict, names) -> str:
    """The DUT's port connections in the testbench: a split input bit by bit from the
    testbench's vector; a split output (the payload, which nothing reads) left open."""
    out = []
    for p in names:
        direction, width, split = ports[p]
        if not split:
            out.append(f".{p}({p})")
        elif direction == "input":
            out.extend(f".\\{p}[{i}] ({p}[{i}])" for i in range(width))
    return ", ".join(out)


#: Yosys: the mapped netlist with every port and net split into bits, for simulation only
#: (the instance names, and so the pin paths OpenSTA prices, are unchanged)
SIM_NETLIST_SCRIPT = """\
read_liberty -lib cells.lib
read_verilog mapped.v
hierarchy -top {top}
splitnets -ports
write_verilog -noattr -noexpr sim.v
"""

_TESTBENCH = """\
`timescale 1ns/1ps
module mxf_power_tb;
  reg clk = 0, rst = 1;
  reg [{iw}:0] i__payload = 0;
  reg i__valid = 0, o__ready = 1;
  wire i__ready, o__valid;
  wire [{ow}:0] o__payload;
  reg [{iw}:0] words [0:{last}];
  integer sent = 0, cycles = 0, counting = 0, waited = 0;
  {top} dut({connections});
  initial begin
    $readmemh("words.hex", words);
    $mxf_toggles_init("cells.txt", dut{inputs});
    {reset}
    if ({warm} == 0) begin $mxf_toggles_start; counting = 1; end
    while (sent < {n}) begin
      i__valid = 1; i__payload = words[sent];
      #{half} $mxf_toggles_sample;
      if (counting) cycles = cycles + 1;
      clk = 1;
      if (i__ready) begin
        sent = sent + 1;
        if (sent == {warm}) begin $mxf_toggles_start; counting = 1; end
      end
      waited = waited + 1;
      #{half} clk = 0;
      if (waited > {limit}) begin $display("MXF_STUCK %0d", sent); sent = {n}; end
    end
    $mxf_toggles_write("toggles.txt");
    $display("MXF_CYCLES %0d", cycles);
    $finish;
  end
endmodule
"""


def measure(mapped_verilog: str, top: str, words: list, liberty: str, work: Path,
            build: Path, timeout: float, clock_ns: float, warm: int = 0) -> tuple[dict, int]:
    """Simulate the mapped netlist on ``words`` (packed input payloads, offered back to back,
    the output always ready) and count toggles from the acceptance of beat ``warm`` (the
    pipeline full; the beats before it are not measured) to that of the last beat.

    ``mapped_verilog`` should have every port split into bits (Yosys ``splitnets -ports``,
    :data:`SIM_NETLIST_SCRIPT`): Icarus assembles a vector net that cells drive bit by bit
    through a chain of concatenations and re-evaluates it whole for every bit that changes,
    which made the wide payload ports most of the simulation time. The counts are the same.

    Returns
    -------
    (dict, int)
        {pin path: transitions} (cell output pins ``inst/.../PIN`` and input port bits
        ``port[i]``), and the clock cycles counted (from the end of reset).

    Raises
    ------
    ActivityError
        The cell models or Icarus are missing, or the simulation failed.
    subprocess.TimeoutExpired
        It ran out of ``timeout`` seconds.
    """
    cells_v = cells_verilog(liberty)
    if cells_v is None:
        raise ActivityError("no Verilog cell models beside the Liberty (set MXFORGE_CELLS_V)")
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise ActivityError("Icarus Verilog is not installed (Debian package iverilog)")
    vpi = _vpi(build)
    ports = _ports(mapped_verilog, top)
    iw = ports.get("i__payload", ("input", 1))[1]
    ow = ports.get("o__payload", ("output", 1))[1]
    names = [p for p in ("clk", "rst", "i__payload", "i__valid", "i__ready", "o__payload",
                         "o__valid", "o__ready") if p in ports]
    clocked = "clk" in ports
    half = clock_ns / 2
    reset = (f"#{half} clk = 1; #{half} clk = 0; #{half} clk = 1; #{half} clk = 0; rst = 0;"
             if clocked else "rst = 0;")
    n = len(words)
    tb = _TESTBENCH.format(
        iw=iw - 1, ow=ow - 1, last=max(n - 1, 0), top=top, n=n, warm=warm, half=half,
        limit=40 * n + 100, reset=reset,
        inputs="".join(f", {p}" for p in ("i__payload", "i__valid", "o__ready") if p in ports),
        connections=_connections(ports, names))
    work.mkdir(parents=True, exist_ok=True)
    (work / "mapped.v").write_text(mapped_verilog)
    (work / "power_tb.v").write_text(tb)
    (work / "words.hex").write_text("".join(f"{int(w):x}\n" for w in words) or "0\n")
    (work / "cells.txt").write_text("".join(
        f"{c} {' '.join(p for p, _ in v['outputs'])}\n" for c, v in cells(liberty).items()
        if v["outputs"]))
    shutil.copyfile(cells_v, work / "cells_models.v")
    compile_ = subprocess.run(
        ["iverilog", "-g2012", "-o", "power.vvp", "-s", "mxf_power_tb", "power_tb.v",
         "mapped.v", "cells_models.v"], cwd=work, capture_output=True, text=True,
        timeout=timeout)
    if compile_.returncode != 0:
        raise ActivityError(f"iverilog could not compile the mapped netlist:\n"
                            f"{compile_.stderr[-2000:]}")
    run = subprocess.run(["vvp", "-M", str(vpi.parent), "-m", "toggles", "power.vvp"],
                         cwd=work, capture_output=True, text=True, timeout=timeout)
    out = run.stdout + run.stderr
    (work / "power_sim.log").write_text(out)
    m = re.search(r"MXF_CYCLES (\d+)", out)
    if run.returncode != 0 or not m or "MXF_STUCK" in out:
        raise ActivityError(f"the gate-level simulation failed:\n{out[-2000:]}")
    toggles = {}
    for line in (work / "toggles.txt").read_text().splitlines():
        path, count = line.rsplit(" ", 1)
        toggles[path] = int(count)
    return toggles, int(m.group(1))


#: OpenSTA commands (after the design is linked and clocked) writing every cell instance's power
#: (internal, switching, leakage, total in W) at activity 0 and at activity 0.5 on every net
#: but the clock: :func:`workload_power` interpolates between them at the measured activities
POWER_SCRIPT = """\
proc mxf_dump {file} {
  set f [open $file w]
  set corner [sta::cmd_corner]
  foreach inst [get_cells -hierarchical *] {
    puts $f "[get_full_name $inst] [sta::instance_power $inst $corner]"
  }
  close $f
}
foreach {activity file} {0 power0.txt 0.5 power1.txt} {
  set_power_activity -global -activity $activity -duty 0.5
  set_power_activity -input -activity $activity -duty 0.5
  mxf_dump $file
}
"""
#: the activity of the second dump
_REFERENCE = 0.5


def _instance_power(text: str) -> dict:
    """{instance: (internal, switching, leakage)} of a :data:`POWER_SCRIPT` dump."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            out[parts[0]] = tuple(float(v) for v in parts[1:4])
    return out


def workload_power(at_zero: str, at_reference: str, toggles: dict, cycles: int) -> dict:
    """The design's average power on the measured workload, in W.

    OpenSTA gives each cell instance's power at activity 0 (leakage, and the clock pins'
    internal power, which does not depend on data) and at activity 0.5 on every data net. A
    cell's internal and switching power grow linearly with the toggle rate of the nets around
    it; the rate that sets them is taken as the mean measured rate of the cell's output pins
    (transitions per clock cycle). Instances without a measured output (hierarchical ones,
    which OpenSTA reports as zero) add nothing.

    Returns
    -------
    dict
        ``internal_w``, ``switching_w``, ``leakage_w``, ``total_w``, ``cells`` (leaf instances
        with power) and ``measured`` (those of them whose output toggles were counted).
    """
    zero, ref = _instance_power(at_zero), _instance_power(at_reference)
    rates: dict = {}
    for path, count in toggles.items():
        if "/" in path:
            inst = path.rsplit("/", 1)[0]
            rates.setdefault(inst, []).append(count / max(cycles, 1))
    internal = switching = leakage = 0.0
    cells = measured = 0
    for inst, (i0, s0, l0) in zero.items():
        i1, s1, _ = ref.get(inst, (i0, s0, l0))
        if not (i1 or s1 or l0):
            continue    # a hierarchical instance: its cells are listed themselves
        cells += 1
        leakage += l0
        internal += i0
        own = rates.get(inst)
        if own is None:
            continue
        measured += 1
        a = sum(own) / len(own)
        internal += (i1 - i0) * a / _REFERENCE
        switching += s0 + (s1 - s0) * a / _REFERENCE
    return {"internal_w": internal, "switching_w": switching, "leakage_w": leakage,
            "total_w": internal + switching + leakage, "cells": cells, "measured": measured}


def input_activity(toggles: dict, cycles: int) -> float:
    """Mean toggle rate (per clock cycle) of the payload input bits."""
    rates = [c / max(cycles, 1) for p, c in toggles.items() if p.startswith("i__payload")]
    return sum(rates) / len(rates) if rates else 0.0
