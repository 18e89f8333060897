"""Hierarchy for the synthesis flow: merge the submodules that are the same logic, so that the
flow maps each distinct module once.

Amaranth writes every submodule instance as a module of its own (``top.add1_0``,
``top.add1_1``, ...) even when the instances are the same function, and names some of their
ports after internal net numbers (``\\port$171$0``), so identical units differ in their text.
:func:`merge_identical` compares modules up to their own name and their port names (a port is
known by its position in the module header) and up to the names of the submodules they
instantiate (compared the same way, leaves first); the modules whose text is then identical are
one module, and every instance of them is rewritten to the first of them, its port connections
renamed by position. Modules that differ in anything else stay apart: a missed merge costs
synthesis time, never correctness.

The input is the Verilog that Yosys' ``write_verilog`` emits for Amaranth (a ``module ...;``
header, wrapped over several lines when the port list is long, ``endmodule``, instances as
``<type> <name> (`` then ``.port(expr),`` lines then ``);``).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["Module", "parse_modules", "merge_identical", "instance_counts", "children"]

_HEADER = re.compile(r"^module (\S+) ?\((.*)\);$")
_NAME = r"(?:\\\S+ |[A-Za-z_][\w$]*)"
_INSTANCE = re.compile(rf"^(\s+)({_NAME})\s*({_NAME})\s*\($")
_CONNECTION = re.compile(rf"^(\s+)\.({_NAME})\s*\(")
_DECLARATION = re.compile(r"^\s*(?:input|output|inout|wire|reg)\b[^;]*;\s*$")


@dataclass
class Module:
    """One module of a Verilog text: its name, its ports in header order, its lines (header
    and ``endmodule`` included)."""

    name: str
    ports: list
    lines: list


def _clean(name: str) -> str:
    """An identifier as a dictionary key: without the space that ends an escaped one."""
    return name.strip()


def parse_modules(verilog: str) -> tuple[list, dict]:
    """Split ``verilog`` into (lines before the first module, {name: Module} in text order)."""
    lines = verilog.split("\n")
    prelude, modules, cur, header = [], {}, None, None
    for number, line in enumerate(lines, 1):
        if header is not None:        # Yosys wraps a long port list over several lines
            header += line
            line = header
            if not line.rstrip().endswith(");"):
                continue
            header = None
        if cur is None:
            if line.startswith("module ") and not line.rstrip().endswith(");"):
                header = line
                continue
            m = _HEADER.match(line)
            if m:
                ports = [_clean(p) for p in m.group(2).split(",") if p.strip()]
                cur = Module(_clean(m.group(1)), ports, [line])
            elif not modules:
                prelude.append(line)
            elif line.strip() and not line.lstrip().startswith(("(*", "//")):
                raise ValueError(f"line {number} is outside every module: {line[:80]!r}")
            continue
        cur.lines.append(line)
        if line.strip() == "endmodule":
            modules[cur.name] = cur
            cur = None
    if cur is not None or header is not None:
        raise ValueError(f"module {cur.name if cur else header[:60]} has no endmodule")
    return prelude, modules


def _instances(mod: Module, known: set):
    """(line index, module type, connections [(line index, port)]) of every instance of a
    module in ``known``."""
    out, i = [], 0
    while i < len(mod.lines):
        m = _INSTANCE.match(mod.lines[i])
        if m and _clean(m.group(2)) in known:
            conns, j = [], i + 1
            while mod.lines[j].strip() != ");":
                c = _CONNECTION.match(mod.lines[j])
                if c:
                    conns.append((j, _clean(c.group(2))))
                j += 1
            out.append((i, _clean(m.group(2)), conns))
            i = j
        i += 1
    return out


def _escape(name: str) -> str:
    """Verilog spelling of an identifier (escaped identifiers end with a space)."""
    return name if re.fullmatch(r"[A-Za-z_][\w$]*", name) else f"\\{name.lstrip(chr(92))} "


def merge_identical(verilog: str, top: str) -> tuple[str, dict]:
    """``verilog`` with identical modules merged (see the module docstring).

    Returns
    -------
    (str, dict)
        The merged Verilog text, and {kept module: number of original modules it stands for}.

    Raises
    ------
    ValueError
        ``top`` is not a module of ``verilog``, or the text is not in the expected form.
    """
    prelude, modules = parse_modules(verilog)
    if top not in modules and _escape(top).strip() not in modules:
        raise ValueError(f"no module {top!r} in the Verilog")
    names = set(modules)
    insts = {n: _instances(m, names) for n, m in modules.items()}
    # leaves first: a module's key depends on the keys of the modules it instantiates
    order, seen = [], set()

    def visit(n):
        if n in seen:
            return
        seen.add(n)
        for _, child, _ in insts[n]:
            visit(child)
        order.append(n)

    for n in modules:
        visit(n)
    key, rep = {}, {}                  # module -> canonical key; key -> representative module
    for n in order:
        mod = modules[n]
        lines = list(mod.lines)
        lines[0] = "module <self>(" + ", ".join(f"P{k}" for k in range(len(mod.ports))) + ");"
        subst = {p: f"P{k}" for k, p in enumerate(mod.ports)}
        for i, child, conns in insts[n]:
            lines[i] = lines[i].replace(_escape(child).strip(), key[child], 1)
            cports = {p: f"P{k}" for k, p in enumerate(modules[child].ports)}
            for j, port in conns:
                lines[j] = lines[j].replace(f".{_escape(port).strip()}", f".{cports[port]}", 1)
        body = "\n".join(lines[1:])
        for p, q in subst.items():
            body = re.sub(rf"(?<![\w$\\]){re.escape(_escape(p).strip())}(?![\w$])", q, body)
        # declarations are single lines whose order means nothing (Yosys sorts them by name,
        # and the port names were arbitrary): compare them as a sorted list
        body_lines = body.split("\n")
        decls = sorted(x for x in body_lines if _DECLARATION.match(x))
        rest = [x for x in body_lines if not _DECLARATION.match(x)]
        k = "m" + hashlib.sha256("\n".join([lines[0], *decls, *rest]).encode()).hexdigest()[:16]
        key[n] = k
        rep.setdefault(k, n)
    # rewrite: keep each key's representative, point every instance at it
    counts: dict = {}
    for n in modules:
        counts[rep[key[n]]] = counts.get(rep[key[n]], 0) + 1
    out = list(prelude)
    for n in modules:
        if rep[key[n]] != n:
            continue
        mod = modules[n]
        lines = list(mod.lines)
        for i, child, conns in insts[n]:
            target = rep[key[child]]
            if target == child:
                continue
            lines[i] = lines[i].replace(_escape(child).strip(), _escape(target).strip(), 1)
            tports = modules[target].ports
            cidx = {p: k for k, p in enumerate(modules[child].ports)}
            for j, port in conns:
                lines[j] = lines[j].replace(f".{_escape(port).strip()}",
                                            f".{_escape(tports[cidx[port]]).strip()}", 1)
        out += lines
    return "\n".join(out) + ("\n" if not out[-1] == "" else ""), counts


def instance_counts(verilog: str, top: str) -> dict:
    """{module: how many instances of it the hierarchy under ``top`` holds} (``top``: 1)."""
    _, modules = parse_modules(verilog)
    names = set(modules)
    top = top if top in modules else _escape(top).strip()
    insts = {n: _instances(m, names) for n, m in modules.items()}
    counts: dict = {}

    def visit(n, k):
        counts[n] = counts.get(n, 0) + k
        for _, child, _ in insts[n]:
            visit(child, k)

    visit(top, 1)
    return counts


def children(verilog: str) -> dict:
    """{module: {submodule: instances of it directly inside the module}}."""
    _, modules = parse_modules(verilog)
    names = set(modules)
    out = {}
    for n, m in modules.items():
        kids: dict = {}
        for _, child, _ in _instances(m, names):
            kids[child] = kids.get(child, 0) + 1
        out[n] = kids
    return out
