"""A generated block's interface for integrators who do not read Python (docs/integration.md).

:func:`describe` states what the ports of a generated module mean: every payload field's bits
(array elements one by one), its meaning from the catalogue, the latency, the clock and reset, the
handshake rules and the records of several beats; :func:`to_json` writes it as ``NAME.json``.
:func:`wrapper_sv` renders a SystemVerilog wrapper from that description alone: a package of
packed struct types of the two payloads and a module with named ports (``NAME_wrap``) or
AXI4-Stream ports (``NAME_axis``) around the generated module ``NAME``.

Offsets come from :func:`hw.lib.payload.leaves`, the one walk of a layout that also packs the
simulators' payloads. Both renderings are deterministic: the same parameters give the same bytes.

The SystemVerilog is written for Verilator and for Icarus Verilog 11, whose SystemVerilog support
is partial: a package-scoped type used directly (``pkg::in_t x;`` as a variable) crashes its
elaborator and a cast ``in_t'(v)`` is not supported, so every module imports its package in its
header (``module m import pkg::*; (...)``) and names the types unqualified.
"""
from __future__ import annotations

import hashlib
import json
import re

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from .export import cached_verilog, generator_version
from .payload import leaves

__all__ = ["describe", "wrapper_sv", "to_json", "render", "sv_field", "INTERFACES",
           "SCHEMA"]

#: the wrapper kinds of :func:`wrapper_sv`
INTERFACES = ("named", "axis")
#: version of the JSON layout written by :func:`describe` (docs/integration.md)
SCHEMA = 1

_STREAMS = (("i", "in", "input"), ("o", "out", "output"))

# IEEE 1800-2017 reserved words: a payload field with one of these names cannot be a struct member
_SV_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
checker class clocking cmos config const constraint context continue cover covergroup coverpoint
cross deassign default defparam design disable dist do edge else end endcase endchecker endclass
endclocking endconfig endfunction endgenerate endgroup endinterface endmodule endpackage
endprimitive endprogram endproperty endspecify endsequence endtable endtask enum event eventually
expect export extends extern final first_match for force foreach forever fork forkjoin function
generate genvar global highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies
import incdir include initial inout input inside instance int integer interconnect interface
intersect join join_any join_none large let liblist library local localparam logic longint
macromodule matches medium modport module nand negedge nettype new nexttime nmos nor
noshowcancelled not notif0 notif1 null or output package packed parameter pmos posedge primitive
priority program property protected pull0 pull1 pulldown pullup pulsestyle_ondetect
pulsestyle_onevent pure rand randc randcase randsequence rcmos real realtime ref reg
reject_on release repeat restrict return rnmos rpmos rtran rtranif0 rtranif1 s_always
s_eventually s_nexttime s_until s_until_with scalared sequence shortint shortreal showcancelled
signed small soft solve specify specparam static string strong strong0 strong1 struct super
supply0 supply1 sync_accept_on sync_reject_on table tagged task this throughout time timeprecision
timeunit tran tranif0 tranif1 tri tri0 tri1 triand trior trireg type typedef union unique unique0
unsigned until until_with untyped use uwire var vectored virtual void wait wait_order wand weak
weak0 weak1 while wildcard wire with within wor xnor xor
""".split())


def _json_value(v):
    """A parameter value as JSON: format descriptors by name, tuples as lists."""
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (tuple, list)):
        return [_json_value(x) for x in v]
    if isinstance(getattr(v, "name", None), str):
        return v.name
    raise TypeError(f"parameter value {v!r} has no JSON form")


def _layouts(component):
    """The payload layouts of the component's ``i`` and ``o`` streams (from its signature)."""
    members = component.signature.members
    # stream.Signature keeps payload_shape private; the payload member carries the shape
    return {s: members[s].signature.members["payload"].shape for s, _, _ in _STREAMS}


def _ports(verilog: str, name: str) -> list[dict]:
    """Name, direction and width of the ports of module ``name`` in ``verilog``."""
    m = re.search(rf"^module {re.escape(name)}\((.*?)\);$(.*?)^endmodule", verilog, re.M | re.S)
    if m is None:
        raise ValueError(f"the Verilog text has no module {name!r}")
    order = [p.strip() for p in m.group(1).split(",")]
    decl = {p: (d, int(msb) + 1 if msb else 1) for d, msb, p in re.findall(
        r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\S+)\s*;", m.group(2), re.M)}
    if sorted(decl) != sorted(order):
        raise ValueError(f"module {name}: the port list {order} and the declarations "
                         f"{sorted(decl)} differ")
    # the order of the block contract (clock, reset, input stream, output stream)
    rank = ["clk", "rst", "i__payload", "i__valid", "i__ready", "o__payload", "o__valid",
            "o__ready"]
    extra = sorted(set(decl) - set(rank))
    if extra:
        raise ValueError(f"module {name} has ports outside the block contract: {extra}")
    return [{"name": p, "direction": decl[p][0], "width": decl[p][1]}
            for p in rank if p in decl]


def _levels(layout, path) -> list[int]:
    """How many array levels sit directly under each name of ``path`` (to spell
    ``a[3].b[1]``; the offsets themselves come from :func:`leaves`)."""
    shape, out = layout, []
    for name in path:
        shape = shape[name].shape
        k = 0
        while isinstance(shape, data.ArrayLayout):
            shape, k = shape.elem_shape, k + 1
        out.append(k)
    return out


def _elements(layout):
    """Every scalar payload element: (spelled name, dotted field path, index, Leaf, offset)."""
    out = []
    for leaf in leaves(layout):
        levels = _levels(layout, leaf.path)
        for index in np.ndindex(*leaf.dims):
            parts, k = [], 0
            for name, n in zip(leaf.path, levels):
                parts.append(name + "".join(f"[{i}]" for i in index[k:k + n]))
                k += n
            out.append((".".join(parts), ".".join(leaf.path), [int(i) for i in index], leaf,
                        int(leaf.offsets[index])))
    return out


def _type(shape, where):
    """The type tree of a payload layout, members LSB first (the wrapper renders it)."""
    if isinstance(shape, data.StructLayout):
        members, at = [], 0
        for name, field in sorted(shape, key=lambda nf: nf[1].offset):
            if field.offset != at:
                raise ValueError(f"payload struct {where or '(top)'} has a gap before "
                                 f"{name!r}; the wrapper cannot render it")
            if not name or re.search(r"[\s.\[\]\\]", name):
                raise ValueError(f"payload field {name!r} cannot be named in SystemVerilog "
                                 f"(no spaces, dots, brackets or backslashes)")
            members.append({"name": name, "type": _type(field.shape, f"{where}.{name}")})
            at += Shape.cast(field.shape).width
        return {"struct": members}
    if isinstance(shape, data.ArrayLayout):
        return {"array": shape.length, "of": _type(shape.elem_shape, where + "[]")}
    s = Shape.cast(shape)
    return {"bits": s.width, "signed": s.signed}


def _meaning(block, side, path):
    """The catalogue's meaning of a field (``block.fields``; ``"in.x"``/``"out.x"`` first)."""
    fields = getattr(block, "fields", {}) or {}
    for key in (path, path.split(".")[0]):
        for k in (f"{side}.{key}", key):
            if k in fields:
                return fields[k]
    return None


def _rows(fields) -> int:
    v = next(iter(fields.values()))
    return _rows(v) if isinstance(v, dict) else len(v)


def _take(fields, n):
    return {k: _take(v, n) if isinstance(v, dict) else np.asarray(v)[:n]
            for k, v in fields.items()}


def _beats(block, params) -> dict:
    """How input beats map to output beats, from the golden model on a few seeded vectors."""
    rb = block.record_beats(**params) if getattr(block, "record_beats", None) else None
    inputs = block.vectors(seed=0, n=rb or 8, params=params)
    if rb:
        one = _take(inputs, rb)
        out = _rows(block.golden(one, **params))
        return {"record": {"input_beats": int(rb), "output_beats": int(out)},
                "one_to_one": rb == out}
    return {"record": None, "one_to_one": _rows(block.golden(inputs, **params)) ==
            _rows(inputs)}


def _handshake(clocked: bool, beats: dict) -> list[str]:
    """The stream rules, in the generated module's port names."""
    rules = []
    if clocked:
        rules.append("A beat moves on a rising edge of clk at which valid and ready are both 1 "
                     "(i__valid & i__ready on the input stream, o__valid & o__ready on the "
                     "output stream); at any other edge nothing moves.")
    else:
        rules.append("The block has no clock and no state: o__payload and o__valid follow "
                     "i__payload and i__valid, and i__ready follows o__ready, within the same "
                     "cycle. A beat moves on a rising edge of the surrounding clock at which "
                     "valid and ready are both 1, on both streams at once.")
    rules += [
        "The producer holds payload and valid: once valid is 1 it stays 1 with the same "
        "payload until the edge at which the beat moves (while valid & ~ready neither "
        "changes). The block obeys this on o; the integrator must obey it on i.",
        "ready promises nothing: it may be 0 on any cycle, for any number of cycles, and may "
        "change whether or not valid is 1. A producer must not wait for ready before raising "
        "valid (valid must not depend on ready). i__ready may depend combinationally on "
        "o__ready (and on i__valid), so o__ready must not depend combinationally on i__ready.",
        "Beats are never lost, duplicated or reordered, whatever the pattern of valid and "
        "ready; the block may hold i__ready at 0 while it works (see latency_note).",
    ]
    rec = beats["record"]
    if rec:
        rules.append(
            f"The stream is made of records: each record is {rec['input_beats']} consecutive "
            f"input beats and gives {rec['output_beats']} output beats (the field meanings say "
            f"which beat carries what). Records are counted in beats, not cycles: the beat "
            f"after a record's last beat starts the next record, and the first beat after "
            f"reset starts one.")
    elif beats["one_to_one"]:
        rules.append("Each input beat gives exactly one output beat, in order.")
    else:
        rules.append("Output beats are not one per input beat: the input fields decide when "
                     "an output beat is produced (see the field meanings).")
    return rules


def _reset(clocked: bool):
    if not clocked:
        return None
    return {"port": "rst", "active": "high", "synchronous": True,
            "rules": [
                "Every register takes its initial value at a rising edge of clk at which rst "
                "is 1; memories (buffers) keep their contents. Hold rst at 1 for at least one "
                "rising edge after power-up: the initial values are the simulators' "
                "power-up state, not the silicon's.",
                "Hold i__valid at 0 while rst is 1: a beat offered during reset may or may "
                "not be taken and its effect is undefined. o__valid is 0 from the first edge "
                "in reset until a beat accepted after reset reaches the output; a record in "
                "progress is abandoned.",
            ]}


def describe(block, params, name, component, verilog=None) -> dict:
    """The interface of the generated module ``name`` as a JSON-able dict.

    Parameters
    ----------
    block : hw.lib.block.Block
    params : dict
        The configuration's parameters (merged with the block's defaults).
    name : str
        Module name of the generated Verilog.
    component : wiring.Component
        ``block`` built with ``params``; only its signature and ``latency`` are read (it is
        not elaborated).
    verilog : str, optional
        The generated Verilog of module ``name``, whose port list is reported; by default it
        is taken from the Verilog cache (:func:`hw.lib.export.cached_verilog`).

    Returns
    -------
    dict
        The schema of docs/integration.md ("NAME.json").

    Raises
    ------
    ValueError
        The Verilog does not hold module ``name`` with the block contract's ports, or its
        payload widths differ from the component's layouts.
    """
    params = block.params(**params)
    if verilog is None:
        verilog = cached_verilog(block, params, name)
    ports = _ports(verilog, name)
    widths = {p["name"]: p["width"] for p in ports}
    clocked = "clk" in widths
    if clocked != ("rst" in widths):
        raise ValueError(f"module {name} has one of clk and rst but not the other")
    layouts = _layouts(component)
    streams = {}
    for s, side, _ in _STREAMS:
        layout = layouts[s]
        width = Shape.cast(layout).width
        if widths.get(f"{s}__payload") != width:
            raise ValueError(f"module {name}: {s}__payload is {widths.get(f'{s}__payload')} "
                             f"bits, the {side}put layout {width}")
        elements = [{"name": spelled, "offset": offset, "width": leaf.width,
                     "signed": leaf.signed, "field": path, "index": index}
                    for spelled, path, index, leaf, offset in _elements(layout)]
        elements.sort(key=lambda e: e["offset"])
        declared = [{"name": ".".join(leaf.path), "shape": list(leaf.dims), "width": leaf.width,
                     "signed": leaf.signed, "meaning": _meaning(block, side, ".".join(leaf.path))}
                    for leaf in leaves(layout)]
        streams[s] = {"payload": f"{s}__payload", "valid": f"{s}__valid",
                      "ready": f"{s}__ready", "width": width, "fields": elements,
                      "declared_fields": declared, "type": _type(layout, "")}
    beats = _beats(block, params)
    return {
        "schema": SCHEMA,
        "module": name,
        "block": block.name,
        "family": getattr(block, "family", ""),
        "summary": getattr(block, "summary", ""),
        "parameters": {k: _json_value(v) for k, v in params.items()},
        "generator": {"name": "mxforge", "version": generator_version()},
        "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
        "clock": "clk" if clocked else None,
        "reset": _reset(clocked),
        "ports": ports,
        "streams": streams,
        "latency": int(component.latency),
        "latency_note": getattr(block, "latency_note", ""),
        "beats": beats,
        "handshake": _handshake(clocked, beats),
    }


def to_json(desc: dict) -> str:
    """``NAME.json``: :func:`describe`'s dict, keys in schema order, indented, with every
    object of plain values (a port, a field, an element) on one line; ASCII only."""
    return _dump(desc, "") + "\n"


def _flat(v) -> bool:
    """On one line: a plain value, or a list of numbers (a list of sentences is not)."""
    return not isinstance(v, (dict, list)) or (
        isinstance(v, list) and all(not isinstance(x, (dict, list, str)) for x in v))


def _dump(v, pad) -> str:
    if isinstance(v, dict) and v and not all(_flat(x) for x in v.values()):
        inner = pad + " "
        return "{\n" + ",\n".join(f"{inner}{json.dumps(k)}: {_dump(x, inner)}"
                                   for k, x in v.items()) + f"\n{pad}}}"
    if isinstance(v, list) and v and not _flat(v):
        inner = pad + " "
        return "[\n" + ",\n".join(inner + _dump(x, inner) for x in v) + f"\n{pad}]"
    return json.dumps(v)


# --------------------------------------------------------------------------------------------
# SystemVerilog


def _ident(name: str) -> str:
    """``name`` as a SystemVerilog identifier: escaped (``\\rand ``, backslash to space) when it
    is a keyword or not a simple identifier."""
    if name in _SV_KEYWORDS or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", name):
        return f"\\{name} "
    return name


def sv_field(name: str) -> str:
    """The SystemVerilog spelling of an element name of the JSON (``codes_b[7]``, ``a[2].b``)
    as a member of the wrapper's struct: a keyword is escaped (bfp_quantize's ``rand`` is
    ``\\rand ``, so ``i_data.\\rand [3]``)."""
    parts = re.findall(r"([^.\[\]]+)((?:\[\d+\])*)", name)
    return ".".join(_ident(field) + index for field, index in parts)


def _typename(side, path):
    # "__" joins the levels so that a.b_c and a_b.c get different names
    return "__".join([side] + [re.sub(r"\W", "_", p) for p in path]) + "_t"


def _rng(n):
    return f"[{n - 1}:0]"


def _member(t, side, path, typedefs):
    """The declaration of a member of type ``t`` (without its name): typedefs it needs are
    appended to ``typedefs`` (inner types first)."""
    dims = []
    while "array" in t:
        dims.append(t["array"])
        t = t["of"]
    packed = "".join(_rng(d) for d in dims)
    if "struct" in t:
        tn = _typename(side, path)
        _struct(t, side, path, tn, typedefs)
        return f"{tn} {packed}".rstrip()
    bits = _rng(t["bits"]) if t["bits"] > 1 else ""
    if t["signed"] and dims:
        # a signed element type: `logic signed [a][b]` would make the whole array signed and
        # its elements unsigned
        tn = _typename(side, path)
        typedefs.append("  " + " ".join(x for x in ("typedef logic signed", bits, tn) if x) + ";")
        return f"{tn} {packed}"
    return " ".join(x for x in ("logic", "signed" if t["signed"] else "", packed + bits) if x)


def _struct(t, side, path, tn, typedefs):
    lines = [f"  typedef struct packed {{  // {'.'.join(path) or side + 'put payload'}; "
             f"the first member is the MSB"]
    for m in reversed(t["struct"]):
        decl = _member(m["type"], side, path + (m["name"],), typedefs)
        lines.append(f"    {decl} {_ident(m['name'])};")
    lines.append(f"  }} {tn};")
    typedefs.append("\n".join(lines))


def _package(desc) -> str:
    name = desc["module"]
    typedefs: list[str] = []
    for s, side, _ in _STREAMS:
        _struct(desc["streams"][s]["type"], side, (), f"{side}_t", typedefs)
    # the guard lets both wrappers of one block (each holds the package) be compiled together
    guard = f"{name.upper()}_PKG_DEFINED"
    return (f"`ifndef {guard}\n`define {guard}\n"
            f"package {name}_pkg;\n"
            f"  // {name}: payload types (bit 0 of a payload is bit 0 of the packed struct)\n"
            + "\n".join(typedefs) + f"\nendpackage : {name}_pkg\n`endif  // {guard}\n")


def _header(desc, what) -> str:
    g = desc["generator"]
    return (f"// {desc['module']}: {what} of the generated module {desc['module']}\n"
            f"// (block {desc['block']}), written by {g['name']} {g['version']} "
            f"(`mxforge verilog`); do not edit.\n"
            f"// The ports, fields and handshake rules are described in {desc['module']}.json "
            f"and docs/integration.md.\n")


def _named(desc) -> str:
    name, clocked = desc["module"], desc["clock"] is not None
    ports = []
    if clocked:
        ports += ["input  logic clk,       // rising edge",
                  "input  logic rst,       // synchronous, active high"]
    ports += ["input  in_t  i_data,", "input  logic i_valid,", "output logic i_ready,",
              "output out_t o_data,", "output logic o_valid,", "input  logic o_ready"]
    conns = ([".clk(clk)", ".rst(rst)"] if clocked else []) + [
        ".i__payload(i_data)", ".i__valid(i_valid)", ".i__ready(i_ready)",
        ".o__payload(o_data)", ".o__valid(o_valid)", ".o__ready(o_ready)"]
    return (f"module {name}_wrap\n  import {name}_pkg::*;\n(\n"
            + "".join(f"  {p}\n" for p in ports)
            + f");\n  {name} u_core (\n"
            + ",\n".join(f"    {c}" for c in conns)
            + f"\n  );\nendmodule : {name}_wrap\n")


def _bytes(width):
    return (width + 7) // 8 * 8


def _axis(desc) -> str:
    name, clocked = desc["module"], desc["clock"] is not None
    iw, ow = desc["streams"]["i"]["width"], desc["streams"]["o"]["width"]
    itw, otw = _bytes(iw), _bytes(ow)
    body = [
        "  logic core_i_ready;",
        "  logic core_o_valid;",
        f"  logic {_rng(ow)} core_o_payload;",
        "  // in reset no beat moves: tready and tvalid are 0 (AXI4-Stream) and the core sees "
        "no beat",
        f"  {name} u_core (",
    ]
    conns = ([".clk(aclk)", ".rst(~aresetn)"] if clocked else []) + [
        f".i__payload(s_axis_tdata{_rng(iw)})" if itw > iw else ".i__payload(s_axis_tdata)",
        ".i__valid(s_axis_tvalid & aresetn)", ".i__ready(core_i_ready)",
        ".o__payload(core_o_payload)", ".o__valid(core_o_valid)",
        ".o__ready(m_axis_tready)"]
    body += [",\n".join(f"    {c}" for c in conns), "  );",
             "  assign s_axis_tready = core_i_ready & aresetn;",
             "  assign m_axis_tvalid = core_o_valid & aresetn;"]
    if otw > ow:
        body.append(f"  assign m_axis_tdata = {{{otw - ow}'b0, core_o_payload}};  "
                    f"// pad bits are 0")
    else:
        body.append("  assign m_axis_tdata = core_o_payload;")
    # Verilator's -Wall does not report signals named *unused*: the pad bits of the input and,
    # for a combinational core, the clock are deliberately not used
    if itw > iw:
        body.append(f"  wire unused_s_axis_tdata_pad = ^s_axis_tdata[{itw - 1}:{iw}];  "
                    f"// pad bits are ignored")
    if not clocked:
        body.append("  wire unused_aclk = aclk;  // a combinational core has no clock")
    ports = [
        "input  logic aclk,",
        "input  logic aresetn,   // active low" + ("" if clocked else
                                                   " (gates tvalid and tready only)"),
        f"input  logic {_rng(itw)} s_axis_tdata,   // in_t in bits {iw - 1}:0",
        "input  logic s_axis_tvalid,",
        "output logic s_axis_tready,",
        f"output logic {_rng(otw)} m_axis_tdata,   // out_t in bits {ow - 1}:0",
        "output logic m_axis_tvalid,",
        "input  logic m_axis_tready",
    ]
    return (f"module {name}_axis\n  import {name}_pkg::*;\n(\n"
            + "".join(f"  {p}\n" for p in ports) + ");\n" + "\n".join(body)
            + f"\nendmodule : {name}_axis\n")


def wrapper_sv(desc: dict, interface: str = "named") -> str:
    """The SystemVerilog wrapper of ``desc`` (:func:`describe`): the package ``NAME_pkg``
    (payload types ``in_t`` and ``out_t``) and the module ``NAME_wrap`` (named ports) or
    ``NAME_axis`` (AXI4-Stream ports, ``tdata`` zero-extended to whole bytes).

    Raises
    ------
    ValueError
        ``interface`` is not one of :data:`INTERFACES`.
    """
    if interface not in INTERFACES:
        raise ValueError(f"interface must be one of {', '.join(INTERFACES)}, "
                         f"not {interface!r}")
    what = ("named-port wrapper" if interface == "named" else
            "AXI4-Stream wrapper (tdata: the payload zero-extended to whole bytes)")
    # the package shares the file with the module (and `mxforge verilog` names the file
    # NAME_wrap.sv for either module), which Verilator's -Wall reports as DECLFILENAME
    return (_header(desc, what) + "/* verilator lint_off DECLFILENAME */\n\n" + _package(desc)
            + "\n" + (_named(desc) if interface == "named" else _axis(desc))
            + "/* verilator lint_on DECLFILENAME */\n")


def render(block, params, name, component, verilog, interface="named") -> dict[str, str]:
    """The three files of ``mxforge verilog``: ``{file name: text}`` for ``NAME.v``,
    ``NAME.json`` (:func:`describe`) and ``NAME_wrap.sv`` (:func:`wrapper_sv`)."""
    desc = describe(block, params, name, component, verilog)
    return {f"{name}.v": verilog, f"{name}.json": to_json(desc),
            f"{name}_wrap.sv": wrapper_sv(desc, interface)}
