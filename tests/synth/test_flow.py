"""The synthesis flow: structure of the numbers, caching, the Liberty/STA tier and the reports."""
import dataclasses
import json

import pytest

from sim.tools import unavailable
from synth import flow
from synth.flow import SynthesisError, liberty_path, sta_path, synthesize
from synth.report import Comparison, render_comparisons, render_markdown, run, write

# one worker for the module: the yowasp first-call compile and the cache are shared
pytestmark = pytest.mark.xdist_group("synth")


def adder(width):
    return (f"module add{width}(input clk, input [{width - 1}:0] a, b, "
            f"output reg [{width - 1}:0] q);\n"
            f"  always @(posedge clk) q <= a + b;\nendmodule\n")


AND_GATE = "module and2(input a, b, output y);\n  assign y = a & b;\nendmodule\n"


@pytest.fixture(scope="module", autouse=True)
def build(tmp_path_factory):
    """A private build root, so cache hits and misses are this module's own."""
    root = tmp_path_factory.mktemp("build")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MXFORGE_BUILD", str(root))
        yield root


def require_liberty():
    if liberty_path() is None:
        unavailable("no Liberty: install Debian qflow-tech-osu018 or set MXFORGE_LIBERTY")


def require_liberty_and_sta():
    require_liberty()
    if sta_path() is None:
        unavailable("OpenSTA `sta` not on PATH: install Debian opensta")


def test_registered_adder_structure():
    r = synthesize(adder(8), "add8", liberty=None, sta=None)
    assert r["flipflops"] == 8  # q[7:0]
    assert r["transistors"] > 0
    assert r["nand2_eq"] == r["transistors"] / 4
    assert r["depth"] > 0
    assert r["cells"] > r["flipflops"]
    assert r["missing"] == ["liberty", "sta"]
    assert r["area_um2"] is r["delay_ns"] is r["fmax_mhz"] is r["power_mw"] is None


def test_and_gate_is_tiny_and_combinational():
    r = synthesize(AND_GATE, "and2", liberty=None, sta=None)
    assert r["flipflops"] == 0
    assert 0 < r["transistors"] <= 8  # NAND + NOT = 6 in the CMOS model
    assert 1 <= r["depth"] <= 2


def test_cache_hit_skips_the_tools(monkeypatch):
    first = synthesize(adder(4), "add4", liberty=None, sta=None)
    assert first["cached"] is False

    def no_tools(*args, **kwargs):
        raise AssertionError("a tool ran on a cache hit")

    monkeypatch.setattr(flow, "_run_yosys", no_tools)
    monkeypatch.setattr(flow, "_run_sta", no_tools)
    second = synthesize(adder(4), "add4", liberty=None, sta=None)
    assert second["cached"] is True
    assert {k: v for k, v in second.items() if k != "cached"} == \
        {k: v for k, v in first.items() if k != "cached"}
    # another setting is another key
    with pytest.raises(AssertionError, match="a tool ran"):
        synthesize(adder(4), "add4", liberty=None, sta=None, clock_ns=5.0)


def test_yosys_error_names_log_and_workdir():
    with pytest.raises(SynthesisError) as info:
        synthesize("module broken(input a, output y);\n  assign y = ;\nendmodule\n", "broken",
                   liberty=None, sta=None)
    message = str(info.value)
    assert "yosys (generic) failed" in message
    assert "work directory" in message
    assert "ERROR" in message  # the log tail, not a bare traceback


def test_missing_liberty_file_is_one_sentence(tmp_path):
    with pytest.raises(SynthesisError, match="does not exist"):
        synthesize(AND_GATE, "and2", liberty=str(tmp_path / "none.lib"))


def test_liberty_area_without_sta():
    require_liberty()
    r = synthesize(adder(8), "add8", sta=None)
    assert r["area_um2"] > 0
    assert r["delay_ns"] is None and r["power_mw"] is None
    assert r["missing"] == ["sta"]


def test_liberty_and_sta_numbers_grow_with_width():
    require_liberty_and_sta()
    small = synthesize(adder(8), "add8")
    big = synthesize(adder(16), "add16")
    for r in (small, big):
        assert r["missing"] == []
        assert r["area_um2"] > 0 and r["delay_ns"] > 0 and r["power_mw"] > 0
        assert r["fmax_mhz"] == pytest.approx(1000 / r["delay_ns"], rel=1e-3)
    assert big["area_um2"] > small["area_um2"]
    assert big["delay_ns"] >= small["delay_ns"]
    assert big["power_mw"] > small["power_mw"]


def test_critical_path_accounts_for_the_delay():
    require_liberty_and_sta()
    r = synthesize(adder(16), "add16", cache=False)
    path = r["critical_path"]
    assert path["start"].startswith(("a[", "b[")) and "flip-flop" in path["end"]
    # the cells' delays along the path are the reported delay but the flip-flop's setup time
    assert 0 < r["delay_ns"] - sum(ns for _, ns in path["through"]) < 0.5


def test_combinational_design_is_timed_with_a_virtual_clock():
    require_liberty_and_sta()
    r = synthesize(AND_GATE, "and2")
    assert 0 < r["delay_ns"] < 1.0
    assert r["power_mw"] > 0


def test_an_opensta_crash_on_vectorless_power_keeps_the_timing(monkeypatch):
    """OpenSTA 2.0.17 segfaults propagating the input activity through some netlists
    (rangebn_bwd): the design is timed without the vectorless power, and says so."""
    require_liberty_and_sta()
    real = flow._run_sta

    def crashing(sta, script, work, budget, stem="sta"):
        if "report_power" in script:
            raise SynthesisError("OpenSTA failed (exit status -11)", crashed=True)
        return real(sta, script, work, budget, stem)
    monkeypatch.setattr(flow, "_run_sta", crashing)
    r = synthesize(adder(8), "add8", cache=False)
    assert r["delay_ns"] > 0 and r["power_mw"] is None
    assert r["notes"] == ["OpenSTA crashed propagating the vectorless input activity: no "
                          "vectorless power"]


def test_parse_sta_edge_cases():
    out = "MXFORGE_PERIOD_NS 10\nworst slack INF\n" \
          "Total  1.0e-04 2.0e-05 1.0e-09 1.2e-04 100.0%\n"
    assert flow.parse_sta(out) == {"delay_ns": None, "fmax_mhz": None, "power_mw": 0.12,
                                   "critical_path": None}
    out = "MXFORGE_PERIOD_NS 10.0\nworst slack 8.5\nMXFORGE_POWER_W 1 2 3 0.0025 0 0\n"
    assert flow.parse_sta(out) == {"delay_ns": 1.5, "fmax_mhz": pytest.approx(666.667),
                                   "power_mw": 2.5, "critical_path": None}


# report_checks -format full, as OpenSTA 2.0.17 prints it for a hierarchical netlist
_PATH = """\
Startpoint: i__payload[5] (input port clocked by clk)
Endpoint: _27_ (rising edge-triggered flip-flop clocked by clk)
Path Group: clk
Path Type: max

    Delay      Time   Description
-------------------------------------------------------------
   0.0000    0.0000   clock clk (rise edge)
   0.0000    0.0000   clock network delay (ideal)
   0.0000    0.0000 ^ input external delay
   0.0000    0.0000 ^ i__payload[5] (in)
   0.5000    0.5000 ^ mul3/_10_/Y (BUFX2)
   1.2500    1.7500 v mul3/_11_/Y (NOR2X1)
   2.0000    3.7500 ^ add1/inner/_12_/Y (XOR2X1)
   0.2500    4.0000 v _26_/Y (INVX1)
   0.0000    4.0000 v _27_/D (DFFPOSX1)
             4.0000   data arrival time

  10.0000   10.0000   clock clk (rise edge)
  -0.1000    9.9000   library setup time
              9.9000   data required time
"""


def test_critical_path_names_the_submodules_it_runs_through():
    path = flow.parse_critical_path(_PATH)
    assert path == {"start": "i__payload[5] (input port clocked by clk)",
                    "end": "_27_ (rising edge-triggered flip-flop clocked by clk)",
                    "through": [["mul3", 1.75], ["add1/inner", 2.0], ["", 0.25]]}
    assert flow.describe_path(path) == (
        "from i__payload[5] (input port clocked by clk) through mul3 1.75 ns -> add1/inner "
        "2.00 ns -> top 0.25 ns to _27_ (rising edge-triggered flip-flop clocked by clk)")
    assert flow.describe_path(None) == "no constrained path"
    # the table cell: kinds of submodule (instance numbers dropped), stretches >= 0.5 ns
    assert flow.short_path(path) == "in → mul 1.8 → inner 2.0 → reg"
    assert flow.short_path(None) == "—"


def test_parse_generic_refuses_partial_estimate():
    with pytest.raises(ValueError, match="partial transistor estimate"):
        flow.parse_generic({"estimated_num_transistors": "332+",
                            "num_cells_by_type": {"$_DFF_PP0_": 8}}, "")


def test_mx_decode_report(build, capsys):
    from mxforge.catalogue import all_configurations

    configs = {"mx_decode_e4m3": all_configurations()["mx_decode_e4m3"]}
    rows, failures = run(configs)
    assert failures == {}
    (row,) = rows
    assert row["config"] == "mx_decode_e4m3" and row["block"] == "mx_decode"
    assert row["flipflops"] == 0 and row["transistors"] > 0  # combinational by default
    paths = write(rows, build / "reports")
    assert "| mx_decode_e4m3 |" in capsys.readouterr().out
    data = json.loads(paths["json"].read_text())
    assert [r["config"] for r in data["rows"]] == ["mx_decode_e4m3"]
    assert "cached" not in data["rows"][0]  # volatile fields stay out of the report
    assert "| mx_decode_e4m3 |" in paths["md"].read_text()
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_baseline_ratio_and_missing_tool_footnote():
    from mxforge.catalogue import all_configurations

    catalogue = all_configurations()
    block, params = catalogue["mx_decode_e4m3_pipeline"]
    with_base = dataclasses.replace(block, baseline="mx_decode_e4m3")
    rows, failures = run({"mx_decode_e4m3_pipeline": (with_base, params)}, known=catalogue,
                         liberty=None, sta=None)
    assert failures == {}
    # the baseline is added to the run so the ratio comes from the same flow
    assert [r["config"] for r in rows] == ["mx_decode_e4m3_pipeline", "mx_decode_e4m3"]
    pipe, base = rows
    assert pipe["ratio"]["nand2_eq"] == pytest.approx(pipe["nand2_eq"] / base["nand2_eq"])
    assert pipe["ratio"]["nand2_eq"] > 1  # the output register costs area
    md = render_markdown(rows)
    assert "n/a¹" in md
    assert "qflow-tech-osu018" in md and "MXFORGE_LIBERTY" in md
    assert "× mx_decode_e4m3" in md


def test_comparison_table_ratios():

    rows = [{"config": "a", "nand2_eq": 300.0, "area_um2": 30.0, "delay_ns": 2.0,
             "flipflops": 12, "latency": 3,
             "energy": {"pj_per_op": 1.5, "op": "dot product", "ops": 10.0, "cycles": 20},
             "depth": 7},
            {"config": "base", "nand2_eq": 100.0, "area_um2": 10.0, "delay_ns": 4.0,
             "energy": None, "depth": 9}]
    comp = Comparison(name="x", title="A against base", baseline="base", configs=("a", "base"),
                      claim="a is smaller")
    md = render_comparisons(rows, [comp])
    assert "### A against base\n" in md and "Claim to read it against: a is smaller" in md
    # no baseline energy: no ratio; no latency or cuts known: dashes
    assert "| `a` | — | 2.00 | 30 | 3.00 | 12 | 3 | 0.5 | 1.5 | — |" in md
    assert "| `base` | — | 4.00 | 10 | 1.00 | — | — | — | — | — |" in md
    assert "ops/cycle and pJ/op: per dot product on the block's workload." in md
    # an incomplete comparison is left out
    assert render_comparisons(rows[:1], [comp]) == ""


def test_comparison_at_a_clock_marks_the_rows_that_miss_it():
    """Rows closed at a clock stand for the comparison's configurations (``member``), show
    their cuts, and a row that cannot meet the clock is marked and explained."""
    rows = [{"config": "a_stages3", "member": "a", "cut": "stages=3", "met": True,
             "area_um2": 30.0, "delay_ns": 7.5, "flipflops": 40, "latency": 3, "energy": None},
            {"config": "base_stages9", "member": "base", "cut": "stages=9", "met": False,
             "area_um2": 10.0, "delay_ns": 9.1, "flipflops": 20, "latency": 9, "energy": None}]
    comp = Comparison(name="x", title="A against base", baseline="base", configs=("a", "base"),
                      clocks=(10.0, 8.0))
    md = render_comparisons(rows, [comp], clock_ns=8.0)
    assert "### A against base — at 8 ns" in md
    assert "| `a_stages3` | stages=3 | 7.50 | 30 | 3.00 | 40 | 3 |" in md
    assert "| `base_stages9` | stages=9 | 9.10 ✗ | 10 | 1.00 | 20 | 9 |" in md
    assert "✗: no register cut of the block meets 8 ns" in md


def test_comparison_composites_and_rates():
    """A composite row adds areas and flip-flops and takes the slowest delay and latency;
    rates give work per cycle and work per cycle per area normalized to the baseline."""

    rows = [{"config": "a", "nand2_eq": 300.0, "area_um2": 30.0, "delay_ns": 2.0,
             "flipflops": 5, "latency": 2, "energy": {"pj_per_op": 1.0, "op": "MAC"}},
            {"config": "base", "nand2_eq": 100.0, "area_um2": 10.0, "delay_ns": 4.0,
             "flipflops": 3, "latency": 4, "energy": {"pj_per_op": 4.0, "op": "MAC"}}]
    comp = Comparison(name="y", title="T", baseline="base", configs=("a", "base"),
                      composites=(("both", ("a", "base")),),
                      rates={"a": {"x": 6, "y": 0}, "base": {"x": 1, "y": 1},
                             "both": {"x": 6, "y": 1}}, rate_unit="ops")
    md = render_comparisons(rows, [comp])
    assert "| configuration | cuts | ns | µm² | × | FFs | latency | ops/cycle | pJ/op | × | " \
           "ops x | per area × | ops y | per area × |" in md
    # a: 6 ops in 3x the area -> 2.00; no y rate -> dashes
    assert "| `a` | — | 2.00 | 30 | 3.00 | 5 | 2 | — | 1.0 | 0.25 | 6 | 2.00 | — | — |" in md
    # a group has no energy per operation
    assert "| both (sum) | — | 4.00 | 40 | 4.00 | 8 | 4 | — | — | — | 6 | 1.50 | 1 | 0.25 |" \
        in md


def test_catalogue_comparisons_name_real_configurations():
    from mxforge.catalogue import COMPARISONS, all_configurations

    configs = all_configurations()
    for c in COMPARISONS:
        assert c.baseline in c.configs
        assert all(n in configs for n in c.configs), c.name
