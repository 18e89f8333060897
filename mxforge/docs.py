"""Generated documentation: every table of README.md and docs/*.md that the code can write is
written here, between markers, and nowhere typed by hand.

A generated section looks like::

    <!-- generated: NAME -->
    ...                       (what GENERATORS[NAME] returns, stamped with the command)
    <!-- end: NAME -->

``mxforge docs`` rewrites every section of every file in :data:`FILES`; ``mxforge docs --check``
changes nothing and fails (exit status 1) naming the sections that differ, which a test runs, so
a committed table cannot drift from the catalogue it describes.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hw.lib import payload
from hw.lib.block import StreamBlock
from sim import plan
from sim.tools import BACKENDS

from . import markers
from .files import write_atomic
from .catalogue import BLOCKS, COMPARISONS

__all__ = ["GENERATORS", "FILES", "update", "render_catalogue", "render_blocks", "render_plan"]

REPO = Path(__file__).resolve().parents[1]
#: the files that hold generated sections (relative to the repository)
FILES = ("README.md", "docs/blocks.md", "docs/verification.md")


def _stamp(what):
    return f"<!-- written by `mxforge docs` from {what}; edit that, not this section -->\n"


def _show(v):
    if isinstance(v, tuple):
        return ",".join(_show(x) for x in v)
    return str(v).lower() if isinstance(v, bool) else str(v)


# -- the block table (README) -----------------------------------------------------------------

def catalogue_table() -> str:
    """The Markdown table of every block: family, summary, parameters (also ``mxforge list
    --markdown``). The named configurations are in docs/blocks.md and ``mxforge list``."""
    lines = ["| block | family | what it is | parameters (default; allowed) |",
             "|---|---|---|---|"]
    for b in BLOCKS.values():
        params = "; ".join(
            f"`{k}` = {_show(v)}" + (f" ({', '.join(_show(c) for c in b.choices[k])})"
                                      if k in b.choices else "")
            for k, v in b.defaults.items())
        lines.append(f"| [`{b.name}`](docs/blocks.md#{b.name}) | {b.family} | {b.summary} "
                     f"| {params} |")
    return "\n".join(lines) + "\n"


def render_catalogue() -> str:
    return _stamp("the catalogue (mxforge/catalogue.py)") + catalogue_table()


# -- docs/blocks.md ----------------------------------------------------------------------------

def _fields(layout):
    """(field, bits, offset, shape) rows of a payload layout, top-level fields in bit order."""
    rows = []
    for name, field in layout:
        leaves = payload.leaves(type(layout)({name: field.shape}))
        width = sum(lf.width * max(1, int(lf.offsets.size)) for lf in leaves)
        if len(leaves) == 1 and not leaves[0].dims:
            lf = leaves[0]
            kind = f"{'signed' if lf.signed else 'unsigned'} {lf.width}"
        elif len(leaves) == 1:
            lf = leaves[0]
            dims = " × ".join(str(d) for d in lf.dims)
            kind = (f"array {dims} of {'signed ' if lf.signed else ''}{lf.width}; element j at "
                    f"offset + {lf.width}·j")
        else:
            kind = "struct: " + ", ".join(
                f"{'.'.join(lf.path[1:])} ({lf.width}"
                + (f" × {' × '.join(str(d) for d in lf.dims)}" if lf.dims else "") + ")"
                for lf in leaves)
        rows.append((name, width, field.offset, kind))
    return rows


def _field_table(layout, meanings, side):
    lines = ["| field | bits | offset | shape | meaning |", "|---|---:|---:|---|---|"]
    for name, width, offset, kind in _fields(layout):
        meaning = meanings.get(f"{side}.{name}", meanings.get(name, ""))
        lines.append(f"| `{name}` | {width} | {offset} | {kind} | {meaning} |")
    return lines


def _block_section(block) -> list[str]:
    dut = block.build()
    assert isinstance(dut, StreamBlock)
    p = block.params()
    out = [f"### `{block.name}`", "", f"*{block.summary}*", ""]
    if block.description:
        out += [block.description, ""]
    out += ["| parameter | default | allowed |", "|---|---|---|"]
    for k, v in block.defaults.items():
        allowed = ", ".join(_show(c) for c in block.choices[k]) if k in block.choices else \
            "checked by the generator"
        out.append(f"| `{k}` | {_show(v)} | {allowed} |")
    iw, ow = dut.in_layout.size, dut.out_layout.size
    out += ["", f"Input payload `i.payload` ({iw} bits at the default; Verilog port "
                f"`i__payload`, the first field at bit 0):", ""]
    out += _field_table(dut.in_layout, block.fields, "in")
    out += ["", f"Output payload `o.payload` ({ow} bits; port `o__payload`):", ""]
    out += _field_table(dut.out_layout, block.fields, "out")
    out += ["", f"**Latency** {dut.latency} at the default. {block.latency_note}".rstrip()]
    if dut.cut_points:
        out += ["", f"**Pipelining**: `stages` = s registers the first s of the cut points "
                    f"{', '.join(f'`{c}`' for c in dut.cut_points)} (default "
                    f"{p.get('stages')}: {', '.join(f'`{c}`' for c in dut.cuts) or 'none'})."]
    if block.timing_floor:
        out += ["", f"**Timing floor**: the default does not meet the flow's 10 ns clock. "
                    f"{block.timing_floor}"]
    configs = ", ".join(f"`{n}`" for n in block.configurations())
    out += ["", f"**Configurations** (tested and synthesized): {configs}."]
    if block.baseline:
        out += [f"Compared in the cost reports with `{block.baseline}`."]
    return out + [""]


#: the families in the order docs/blocks.md presents them, with what each is
FAMILIES = {
    "OCP MX": "The OCP Microscaling v1.0 family every other format builds on: MXFP8/6/4 and "
              "MXINT8 blocks of k elements sharing an E8M0 scale.",
    "MX-SAFE": "MX-SAFE's MXSF element (a reconstruction, docs/numerics.md §6): its quantizer, its "
               "2-D tile store, and the BF16 dot product it is compared with.",
    "FlexBlock": "FlexBlock's block floating point: the FP32 -> BFP converter, the group dot "
                 "product and the multi-mode PE whose 16-bit lanes split into 8- and 4-bit "
                 "sub-words.",
    "LightNorm": "LightNorm's range batch normalization in 10-bit floating point (a "
                 "reconstruction, docs/numerics.md §8), forward and backward, beside a "
                 "conventional batch-norm unit.",
    "OPAL": "OPAL's outlier-preserved MX (a reconstruction, docs/numerics.md §7): the quantizer, "
            "the mixed INT/FP dot-product lane, and the log2 softmax beside a conventional one.",
    "ZeBRA": "Bit-flip attacks on stored block-scaled weights (ZeBRA, BMVC 2021; docs/numerics.md "
             "§9) and the hardware answer: SECDED over the stored block scale in front of the "
             "decoders.",
    "One-Spike": "One-Spike's single-spike phase-coded neurons (a reconstruction, docs/numerics.md "
                 "§10): a layer slice of integrate-and-fire neurons that receive and send at most "
                 "one spike each, its value in the spike's phase.",
}


def render_blocks() -> str:
    out = []
    unknown = sorted({b.family for b in BLOCKS.values()} - set(FAMILIES))
    if unknown:
        raise ValueError(f"blocks of unknown families {unknown}: add them to FAMILIES")
    for family, what in FAMILIES.items():
        out += [f"## {family}", "", what, ""]
        for block in BLOCKS.values():
            if block.family == family:
                out += _block_section(block)
    return _stamp("the catalogue and the generators' ports") + "\n".join(out)


# -- docs/verification.md: how much is simulated ----------------------------------------------

def _cell(run):
    if run is None:
        return "—"
    if run.exhaustive:
        return f"all {run.corners:,}"
    rnd = (f"{run.random:,}" if run.random == run.random_drawn
           else f"{run.random:,} of {run.random_drawn:,}")
    cor = (f"{run.corners:,}" if run.corners == run.corners_drawn
           else f"{run.corners:,} of {run.corners_drawn:,}")
    return f"{rnd} + {cor}"


def plan_table(full=False) -> str:
    """One row per configuration: per backend, the vectors (input beats) ``make test`` runs —
    "all N" for an exhaustive input space, else "random + corners" (subsets "k of n")."""
    lines = ["| configuration | " + " | ".join(BACKENDS) + " |",
             "|---|" + "---:|" * len(BACKENDS)]
    for block in BLOCKS.values():
        for config, params in block.configurations().items():
            bks = plan.backends(block, config, full)
            cells = [_cell(plan.vectors(block, params, b, full)[1] if b in bks else None)
                     for b in BACKENDS]
            lines.append(f"| `{config}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_plan() -> str:
    return _stamp("the verification plan (sim/plan.py) over the catalogue") + plan_table()


def render_comparisons() -> str:
    lines = ["| comparison | baseline | configurations |", "|---|---|---|"]
    for c in COMPARISONS:
        lines.append(f"| {c.title} | `{c.baseline}` | "
                     + ", ".join(f"`{n}`" for n in c.configs) + " |")
    return _stamp("the catalogue's comparisons") + "\n".join(lines) + "\n"


#: section name -> generator of its body
GENERATORS = {
    "catalogue": render_catalogue,
    "blocks": render_blocks,
    "plan": render_plan,
    "comparisons": render_comparisons,
}


@lru_cache(maxsize=None)
def _generated(name):
    """A section's text, generated once per process (the catalogue does not change)."""
    return GENERATORS[name]()


def update(check=False, root=REPO, files=FILES) -> list[str]:
    """Rewrite every generated section of ``files`` (or, with ``check``, only compare).

    Returns
    -------
    list of str
        ``file: section`` for each section whose text differed.

    Raises
    ------
    ValueError
        A marker names a section no generator knows.
    """
    changed = []
    for rel in files:
        path = Path(root) / rel
        text = path.read_text()
        names = markers.sections(text, "generated")
        try:
            new, names_changed = markers.replace(
                text, "generated", {n: _generated(n) for n in names if n in GENERATORS},
                known=GENERATORS)
        except ValueError as e:
            raise ValueError(f"{rel}: {e}") from None
        changed += [f"{rel}: {n}" for n in names_changed]
        if not check and new != text:
            write_atomic(path, new)
    return changed
