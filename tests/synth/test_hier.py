"""synth.hier and the hierarchical flow: identical submodules merged (and the merged design the
same logic), the per-module split adding up to the totals, the time limit, the buffer cell."""
import random
import re
import subprocess

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.lib.export import to_verilog
from hw.lib.units import unit
from sim.tools import require
from synth.flow import SynthesisError, buffer_cell, synthesize
from synth.hier import children, instance_counts, merge_identical, parse_modules


class Lanes(wiring.Component):
    """Four identical adder units, a different one (a subtractor) and a register."""

    a: In(32)
    b: In(32)
    y: Out(40)

    def elaborate(self, platform):
        m = Module()
        sums = [unit(m, f"add{j}", lambda sub, x, z: x + z, (self.a[8 * j: 8 * j + 8],
                                                           self.b[8 * j: 8 * j + 8]), 9)
                for j in range(4)]
        diff = unit(m, "sub", lambda sub, x, z: x - z, (self.a[:8], self.b[:8]), 9)
        r = Signal(40)
        m.d.sync += r.eq(sum(sums) + diff)
        m.d.comb += self.y.eq(r)
        return m


@pytest.fixture(scope="module")
def lanes():
    return to_verilog(Lanes(), "lanes")


def test_identical_units_are_merged(lanes):
    _, before = parse_modules(lanes)
    merged, counts = merge_identical(lanes, "lanes")
    _, after = parse_modules(merged)
    assert len(before) == 6 and len(after) == 3           # top, one adder, the subtractor
    assert sorted(counts.values()) == [1, 1, 4]
    assert sum(counts.values()) == len(before)
    adder = next(n for n in after if n.endswith("add0"))
    assert instance_counts(merged, "lanes") == {"lanes": 1, adder: 4, next(
        n for n in after if n.endswith("sub")): 1}
    assert children(merged)["lanes"][adder] == 4


def _simulate(verilog, cycles=60, seed=3):
    """Outputs of the design under random inputs in Icarus (one line per cycle)."""
    rnd = random.Random(seed)
    stim = "\n".join(f"    a = 32'h{rnd.getrandbits(32):08x}; b = 32'h{rnd.getrandbits(32):08x};"
                     f" #5 clk = 1; #5 clk = 0; $display(\"%h\", y);" for _ in range(cycles))
    tb = ("module tb; reg clk = 0, rst = 1; reg [31:0] a, b; wire [39:0] y;\n"
          "  lanes dut(.clk(clk), .rst(rst), .a(a), .b(b), .y(y));\n"
          "  initial begin #5 clk = 1; #5 clk = 0; rst = 0;\n" + stim + "\n  end\nendmodule\n")
    return tb


def test_merged_design_is_the_same_logic(lanes, tmp_path):
    """The merged Verilog gives the same outputs as the original under random inputs (Icarus),
    and the merge changes only module names and port names."""
    require("icarus")
    merged, _ = merge_identical(lanes, "lanes")
    outs = []
    for k, text in enumerate((lanes, merged)):
        d = tmp_path / f"d{k}"
        d.mkdir()
        (d / "design.v").write_text(text)
        (d / "tb.v").write_text(_simulate(text))
        subprocess.run(["iverilog", "-g2012", "-o", "sim", "-s", "tb", "design.v", "tb.v"],
                       cwd=d, check=True)
        outs.append(subprocess.run(["vvp", "sim"], cwd=d, capture_output=True, text=True,
                                   check=True).stdout)
    assert outs[0] == outs[1] and len(outs[0].split()) == 60 and "x" not in outs[0]


def test_a_different_module_is_not_merged(lanes):
    """Changing one adder's body keeps it apart (made a subtractor it would rightly merge with
    the subtractor)."""
    _, mods = parse_modules(lanes)
    target = next(n for n in mods if n.endswith("add2"))
    text = "\n".join(mods[target].lines)
    changed = text.replace(" + ", " ^ ", 1)
    assert changed != text
    merged, counts = merge_identical(lanes.replace(text, changed), "lanes")
    assert sorted(counts.values()) == [1, 1, 1, 3]


WRAPPED = """\
module top(a, y);
  input [1:0] a;
  output [1:0] y;
  \\top.inv  u0 (
    .\\q$7 (a[0]),
    .\\q$9 (y[0])
  );
  \\top.inv1  u1 (
    .\\p$1 (a[1]),
    .\\p$2 (y[1])
  );
endmodule
module \\top.inv (\\q$7 ,
 \\q$9 );
  input \\q$7 ;
  output \\q$9 ;
  assign \\q$9  = ~\\q$7 ;
endmodule
module \\top.inv1 (\\p$1 ,
 \\p$2 );
  input \\p$1 ;
  output \\p$2 ;
  assign \\p$2  = ~\\p$1 ;
endmodule
"""


def test_a_header_wrapped_over_lines_is_one_module():
    """Yosys wraps a long port list; such a module was dropped from the merged text (found on
    rangebn_fwd_n64_lanes8_bfp, whose BFP converter has a 360-character header)."""
    _, mods = parse_modules(WRAPPED)
    assert mods["\\top.inv"].ports == ["\\q$7", "\\q$9"]
    assert mods["\\top.inv1"].ports == ["\\p$1", "\\p$2"]
    merged, counts = merge_identical(WRAPPED, "top")
    assert counts == {"top": 1, "\\top.inv": 2}
    assert merged.count("module ") == 2 and "\\top.inv  u1 (" in merged


def test_text_outside_a_module_is_refused():
    with pytest.raises(ValueError, match="line 4 is outside every module"):
        parse_modules("module a(x);\n  input x;\nendmodule\n  wire stray;\n")


def test_unknown_top():
    with pytest.raises(ValueError, match="no module 'nope'"):
        merge_identical("module a(x);\n  input x;\nendmodule\n", "nope")


def test_module_rows_add_up_to_the_totals(lanes):
    r = synthesize(lanes, "lanes", liberty=None, sta=None, cache=False)
    assert r["merged"] == [6, 3]
    rows = {row["unit"]: row for row in r["modules"]}
    assert set(rows) == {"top", "add", "sub"} and rows["add"]["instances"] == 4
    assert sum(row["transistors"] for row in r["modules"]) == r["transistors"]
    assert rows["add"]["transistors"] % 4 == 0 and rows["top"]["transistors"] > 0


def test_time_limit_is_one_line(lanes):
    with pytest.raises(SynthesisError) as info:
        synthesize(lanes, "lanes", liberty=None, sta=None, cache=False, time_limit=0.01)
    msg = str(info.value)
    assert info.value.limited and "\n" not in msg
    assert re.match(r"lanes: synthesis stopped at its 0 s limit in Yosys \(generic\); try ", msg)
    assert "MXFORGE_SYNTH_LIMIT" in msg


def test_buffer_cell(tmp_path):
    lib = tmp_path / "x.lib"
    lib.write_text("""library (x) {
  cell (INV) { area : 1; pin (A) { direction : input; }
    pin (Y) { direction : output; function : "(!A)"; } }
  cell (BUFBIG) { area : 9; pin (A) { direction : input; }
    pin (Y) { direction : output; function : "A"; } }
  cell (BUFS) { area : 3; pin (I) { direction : input; }
    pin (Z) { direction : output; function : "(I)"; } }
}
""")
    assert buffer_cell(str(lib)) == "BUFS I Z"
    lib2 = tmp_path / "y.lib"
    lib2.write_text("library (y) {\n  cell (INV) { area : 1; pin (A) { direction : input; }\n"
                    "    pin (Y) { direction : output; function : \"(!A)\"; } }\n}\n")
    with pytest.raises(SynthesisError, match="has no buffer cell"):
        buffer_cell(str(lib2))
