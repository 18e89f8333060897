"""Energy from simulated activity: the toggle counter, the power interpolation, and the whole
measurement responding to data (docs/cost.md "Energy")."""
import pytest

from sim.tools import unavailable
from synth import activity
from synth.activity import Stimulus, measure, workload_power
from synth.flow import build_dir, liberty_path, sta_path, synthesize

pytestmark = pytest.mark.xdist_group("synth")


def require_tools():
    lib = liberty_path()
    if lib is None or sta_path() is None:
        unavailable("the energy measurement needs the Liberty (qflow-tech-osu018) and OpenSTA")
    lacking = activity.missing_tools(lib)
    if lacking:
        unavailable(f"the energy measurement needs {' and '.join(lacking)}")
    return lib


# An inverter between a one-bit payload and the output, written as Yosys writes a mapped netlist
INVERTER = """\
module inv(clk, rst, i__payload, i__valid, i__ready, o__payload, o__valid, o__ready);
  input clk;
  input rst;
  input [0:0] i__payload;
  input i__valid;
  output i__ready;
  output [0:0] o__payload;
  output o__valid;
  input o__ready;
  INVX1 u1 (.A(i__payload[0]), .Y(o__payload[0]));
  BUFX2 u2 (.A(o__ready), .Y(i__ready));
  BUFX2 u3 (.A(i__valid), .Y(o__valid));
endmodule
"""


# the same with its ports split into bits, as synth.activity.SIM_NETLIST_SCRIPT writes it
INVERTER_SPLIT = (INVERTER.replace("input [0:0] i__payload;", "input \\i__payload[0] ;")
                  .replace("output [0:0] o__payload;", "output \\o__payload[0] ;")
                  .replace(".A(i__payload[0])", ".A(\\i__payload[0] )")
                  .replace(".Y(o__payload[0])", ".Y(\\o__payload[0] )")
                  .replace("i__payload, i__valid", "\\i__payload[0] , i__valid")
                  .replace("o__payload, o__valid", "\\o__payload[0] , o__valid"))


@pytest.mark.parametrize("netlist", [INVERTER, INVERTER_SPLIT], ids=["vector", "split"])
@pytest.mark.parametrize("words, warm, toggles, cycles", [
    ([1, 0, 1, 0, 1, 0, 1, 0], 0, 8, 8),   # every beat differs from the one before (0 first)
    ([1, 1, 1, 1, 0, 0, 0, 0], 0, 2, 8),   # two changes
    ([0] * 8, 0, 0, 8),                      # constant
    ([1, 0, 1, 0, 1, 1, 1, 1], 4, 1, 4),   # only the change into beat 4 is measured
])
def test_toggle_counter_counts_functional_changes(tmp_path, netlist, words, warm, toggles,
                                                  cycles):
    lib = require_tools()
    assert netlist.count("\\") in (0, 6)
    counts, n = measure(netlist, "inv", words, lib, tmp_path / "run", build_dir() / "synth",
                        timeout=120, clock_ns=10.0, warm=warm)
    assert n == cycles
    assert counts["u1/Y"] == toggles
    assert counts["i__payload[0]"] == toggles   # the input bit, probed in the testbench
    assert counts["u2/Y"] == 0                   # o__ready is held at 1


def test_workload_power_interpolates_each_cell():
    # cell a: internal 1 -> 3 W and switching 0 -> 2 W between activity 0 and 0.5, leakage
    # 0.5; its output toggles 12 times in 48 cycles (activity 0.25): internal 1 + 2 * 0.5,
    # switching 2 * 0.5. Cell b never toggles: internal (clock) 4, leakage 0.25. The
    # hierarchical instance h (all zero) adds nothing.
    zero = "a 1 0 0.5 1.5\nb 4 0 0.25 4.25\nh 0 0 0 0\n"
    ref = "a 3 2 0.5 5.5\nb 7 1 0.25 8.25\nh 0 0 0 0\n"
    p = workload_power(zero, ref, {"a/Y": 12, "b/Q": 0, "i__payload[0]": 30}, 48)
    assert p["internal_w"] == pytest.approx(2.0 + 4.0)
    assert p["switching_w"] == pytest.approx(1.0)
    assert p["leakage_w"] == pytest.approx(0.75)
    assert p["total_w"] == pytest.approx(7.75)
    assert (p["cells"], p["measured"]) == (2, 2)


def _stimulus(words):
    return Stimulus(tuple(words), 8, 1.0, "quantized block of 4")


def test_energy_responds_to_data_and_is_stable_between_seeds():
    """On a small quantizer: an all-zero stream costs far less than the realistic workload,
    and two seeds of the workload agree within a few per cent."""
    require_tools()
    from hw.lib.export import cached_verilog
    from mxforge.catalogue import all_configurations
    from synth.report import workload_stimulus

    name = "mx_quantize_e2m5_k4"
    block, params = all_configurations()[name]
    verilog = cached_verilog(block, params, name)
    one, two = (workload_stimulus(block, params, beats=64, seed=s) for s in (1, 2))
    zero = Stimulus((0,) * 64, one.warm, one.ops_per_beat, one.op)
    e = {label: synthesize(verilog, name, stimulus=s)["energy"]
         for label, s in (("zero", zero), ("one", one), ("two", two))}
    assert e["zero"]["input_activity"] == 0
    assert e["one"]["input_activity"] > 0.2
    for label in e:
        assert e[label]["measured"] == e[label]["cells"] > 1000   # every cell's output probed
        assert e[label]["cycles"] == e[label]["ops"] == 64 - one.warm   # one block a cycle
    # what zeros leave is the flip-flops' clock power (about a fifth here)
    assert e["zero"]["dynamic_mw"] < 0.3 * e["one"]["dynamic_mw"]
    assert e["two"]["pj_per_op"] == pytest.approx(e["one"]["pj_per_op"], rel=0.05)
    assert e["one"]["pj_per_op"] != e["two"]["pj_per_op"]     # different data, measured anew


def test_energy_of_a_cached_netlist_is_the_full_runs(monkeypatch, tmp_path):
    """A synthesis with energy after one without (a timing-closure probe of the same netlist)
    maps nothing again: it simulates the cached mapped netlist, with the full run's figures."""
    require_tools()
    monkeypatch.setenv("MXFORGE_BUILD", str(tmp_path))      # an empty cache
    from hw.lib.export import cached_verilog
    from mxforge.catalogue import all_configurations
    from synth import flow
    from synth.report import workload_stimulus

    name = "mx_quantize_e2m5_k4"
    block, params = all_configurations()[name]
    verilog = cached_verilog(block, params, name)
    stim = workload_stimulus(block, params, beats=32, seed=3)
    full = synthesize(verilog, name, stimulus=stim, cache=False)
    base = synthesize(verilog, name)
    assert base["energy"] is None
    scripts = []
    run = flow._run_yosys
    monkeypatch.setattr(flow, "_run_yosys", lambda script, work, stem, budget:
                        scripts.append(stem) or run(script, work, stem, budget))
    reused = synthesize(verilog, name, stimulus=stim)
    assert scripts == ["sim_netlist"]                   # no generic or Liberty mapping again
    assert reused["energy"] == full["energy"] and reused["area_um2"] == full["area_um2"]
    assert synthesize(verilog, name, stimulus=stim)["cached"] is True


def test_missing_tools_keep_the_vectorless_figure(monkeypatch):
    require_tools()
    monkeypatch.setattr(activity, "missing_tools", lambda lib: ["iverilog"])
    r = synthesize("module and2(input a, b, output y);\n  assign y = a & b;\nendmodule\n",
                   "and2", stimulus=_stimulus([0, 1, 2, 3] * 4))
    assert r["energy"] is None and r["power_mw"] is not None
    assert "iverilog" in r["missing"]
