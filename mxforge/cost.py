"""The cost tables of the documentation (docs/cost.md), written by ``make synth`` (``mxforge synth
--all --docs``) from the synthesis results; nothing in them is typed by hand.

A section looks like::

    <!-- synth: NAME -->
    ...                     (the table, every row ending with its stamp)
    <!-- end: NAME -->

and every row is stamped with the flow version and the first 12 hex digits of the SHA-256 of
the configuration's Verilog (``flow 3 · 1a2b3c4d5e6f``). ``tests/test_cost_docs.py`` emits the
Verilog of every stamped configuration again and fails when a stamp no longer matches: a
generator change that alters a design makes its committed figures fail until ``make synth``
has measured them again.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from synth.flow import FLOW_VERSION, short_path
from golden.workloads import WARM
from synth.report import ENERGY_BEATS, ENERGY_SEED, render_comparisons

from . import markers
from .files import write_atomic
from .catalogue import BLOCKS, COMPARISONS, SCALING, SIZES, all_configurations

__all__ = ["FILE", "SCALING_PLOT", "stamp", "stamps", "stamped_configurations", "sections",
           "write_docs", "plot_scaling", "iso_jobs", "iso_configurations", "plot_iso"]

REPO = Path(__file__).resolve().parents[1]
FILE = "docs/cost.md"
_SECTION = markers.pattern("synth")
_STAMP = re.compile(r"`(?P<flow>flow \d+) · (?P<config>\w+) · (?P<hash>[0-9a-f]{12})`")


def _flow_tag() -> str:
    return "flow " + FLOW_VERSION.rsplit("-", 1)[-1]


def stamp(row: dict) -> str:
    """The stamp of a result row: flow version, configuration, Verilog hash."""
    return f"`{_flow_tag()} · {row['config']} · {row['verilog_sha256'][:12]}`"


def stamps(text: str) -> list[tuple[str, str, str]]:
    """(flow tag, configuration, hash) of every stamp in ``text``."""
    return [(m.group("flow"), m.group("config"), m.group("hash")) for m in _STAMP.finditer(text)]


def scaling_configurations() -> dict:
    """{config name: (block, params)} of the scaling sweeps (``catalogue.SCALING``) and the
    larger sizes (``catalogue.SIZES``)."""
    out = {}
    for block_name, fixed, key, values in SCALING:
        block = BLOCKS[block_name]
        for v in values:
            params = block.params(**{**fixed, key: v})
            out[block.config_name(**params)] = (block, params)
    out.update(size_configurations())
    return out


def size_configurations() -> dict:
    """{config name: (block, params)} of every block of ``catalogue.SIZES``: its default
    configuration, then the larger sizes, in order."""
    out = {}
    for block_name, overrides in SIZES:
        block = BLOCKS[block_name]
        for o in ({}, *overrides):
            params = block.params(**o)
            out[block.config_name(**params)] = (block, params)
    return out


def _sizes_table(rows):
    """Area, area per PE, peak MACs per cycle, delay and energy per MAC per size."""
    from golden.bfp_pe import data_rate
    lines = ["| configuration | PEs | µm² | µm² per PE | one PE µm² | MACs/cycle (16/8/4-bit) "
             "| µm² per MAC/cycle at 4-bit | delay ns | pJ/MAC (workload) | synthesis s | stamp |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"]
    for r in rows:
        p = r["params"]
        pes = p["R"] * p["C"]
        area = r.get("area_um2")
        pe = [m["area_um2"] / m["instances"] for m in r.get("modules", []) if m["unit"] == "pe"]
        rates = [pes * data_rate(p["lane_bits"], p["modes"], d) for d in (16, 8, 4)]
        e = r.get("energy") or {}
        lines.append(
            f"| `{r['config']}` | {pes} | {_n(area)} | {_n(area / pes if area else None)} "
            f"| {_n(pe[0] if pe else None)} | {' / '.join(map(str, rates))} "
            f"| {_n(area / rates[2] if area and rates[2] else None)} "
            f"| {_n(r.get('delay_ns'), '.2f')} | {_n(e.get('pj_per_op'), ',.2f')} "
            f"| {_n(r.get('runtime_s'), '.0f')} | {stamp(r)} |")
    return "\n".join(lines) + "\n"


def iso_configurations() -> dict:
    """{config name: (block, params)} of every register-cut variant of every comparison's
    configurations: what timing closure may choose for the iso-frequency tables."""
    from .closure import cut_parameter

    configs = all_configurations()
    out = {}
    for c in COMPARISONS:
        for member in c.members():
            block, params = configs[member]
            param, values = cut_parameter(block, params)
            for v in values:
                p = params if param is None else {**params, param: v}
                out[block.config_name(**p)] = (block, p)
    return out


def iso_jobs(cache: bool = True) -> list:
    """The jobs of the iso-frequency comparisons (``mxforge.closure.iso_job``): every
    configuration of every comparison at every clock of that comparison, once."""
    configs = all_configurations()
    jobs = {}
    for c in COMPARISONS:
        for clock in c.clocks:
            for member in c.members():
                block, params = configs[member]
                jobs.setdefault((member, float(clock)),
                                (member, block, params, float(clock), cache))
    return list(jobs.values())


def stamped_configurations() -> dict:
    """Every configuration a cost table may name: the catalogue's, the scaling sweeps' and the
    register-cut variants the iso-frequency comparisons may choose."""
    return {**all_configurations(), **scaling_configurations(), **iso_configurations()}


def _n(v, spec=",.0f"):
    return "—" if v is None else format(v, spec)


def _flow_text(rows):
    # the settings this text states (the energy settings, the workload's digest among them,
    # are per configuration by design and exist only for blocks with a workload)
    shown = ("flow_version", "tools", "liberty", "liberty_sha256", "scripts_sha256", "clock_ns",
             "activity", "gates")
    flows = {json.dumps({k: r["flow"].get(k) for k in shown}, sort_keys=True) for r in rows}
    flow = rows[0]["flow"]
    tools = ", ".join(v for v in flow["tools"].values() if v)
    same = "every row" if len(flows) == 1 else "the first row (settings differ between rows)"
    return (f"Settings of {same}: flow `{flow['flow_version']}` ({tools}), Liberty "
            f"`{flow['liberty']}`, clock period {flow['clock_ns']:g} ns (timing and power), "
            f"vectorless input activity {flow['activity']:g}, generic gates `{flow['gates']}`. "
            f"Energy workloads: {ENERGY_BEATS} beats drawn with seed {ENERGY_SEED}, the first "
            f"{WARM} (or the first record) not measured.\n")


def _ppa_table(rows):
    lines = ["| configuration | NAND2-eq | FFs | depth | µm² | ns | critical path (ns per "
             "submodule) | mW (vectorless) | synthesis s | stamp |",
             "|---|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| `{r['config']}` | {_n(r['nand2_eq'])} | {r['flipflops']} | {r['depth']} "
                     f"| {_n(r.get('area_um2'))} | {_n(r.get('delay_ns'), '.2f')} "
                     f"| {short_path(r.get('critical_path'))} "
                     f"| {_n(r.get('power_mw'), '.2f')} | {_n(r.get('runtime_s'), '.0f')} "
                     f"| {stamp(r)} |")
    notes = [f"- `{r['config']}`: {note}." for r in rows for note in r.get("notes") or ()]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def _energy_table(rows):
    lines = ["| configuration | one operation | pJ/op | mW | input toggles/cycle | cycles "
             "| stamp |", "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        e = r["energy"]
        lines.append(f"| `{r['config']}` | {e['op']} | {_n(e['pj_per_op'], ',.1f')} "
                     f"| {_n(e['power_mw'], ',.2f')} | {e['input_activity']:.2f} "
                     f"| {e['cycles']} | {stamp(r)} |")
    return "\n".join(lines) + "\n"


def _breakdown_table(rows):
    lines = ["| configuration | µm² | where the area goes | bare arithmetic µm² | × bare "
             "| stamp |", "|---|---:|---|---:|---:|---|"]
    for r in rows:
        total = r.get("area_um2")
        parts = " · ".join(f"{p['function']} {100 * p['area_um2'] / total:.0f} %"
                           for p in r["breakdown"] if total and p["area_um2"] is not None)
        bare = (r.get("bare") or {}).get("area_um2")
        lines.append(f"| `{r['config']}` | {_n(total)} | {parts or '—'} | {_n(bare)} "
                     f"| {_n(total / bare if total and bare else None, '.1f')} | {stamp(r)} |")
    return "\n".join(lines) + "\n"


def _scaling_table(rows):
    lines = ["| configuration | NAND2-eq | µm² | µm² per element | synthesis s | stamp |",
             "|---|---:|---:|---:|---:|---|"]
    for r, k in rows:
        area = r.get("area_um2")
        lines.append(f"| `{r['config']}` | {_n(r['nand2_eq'])} | {_n(area)} "
                     f"| {_n(area / k if area else None)} | {_n(r.get('runtime_s'), '.0f')} "
                     f"| {stamp(r)} |")
    return "\n".join(lines) + "\n"


def plot_scaling(points, path, title):
    """Synthesis time against design size: ``points`` = [(label, NAND2-eq, seconds)], with
    the least-squares line through the origin (linear growth) drawn in."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [p[1] / 1000 for p in points]
    ys = [p[2] for p in points]
    ax.plot(xs, ys, "o", color="tab:blue", label="measured")
    for (label, _, _), x, y in zip(points, xs, ys):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    slope = sum(x * y for x, y in zip(xs, ys)) / sum(x * x for x in xs)
    top = max(xs) * 1.05
    ax.plot([0, top], [0, slope * top], "--", color="gray",
            label=f"linear: {slope:.2f} s per 1000 NAND2-eq")
    ax.set_xlabel("design size (thousand NAND2-equivalents)")
    ax.set_ylabel("synthesis time (s, 1 core)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, max(ys) * 1.15)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path


#: the scaling plot, beside docs/cost.md
SCALING_PLOT = "docs/img/scaling.png"
#: the area-against-clock plot of each comparison
ISO_PLOT = "docs/img/iso-{name}.png"


def plot_iso(c, rows, path):
    """Area against clock period for the configurations of comparison ``c``: every register-cut
    variant the closure searches synthesized (``rows[i]["probes"]``, at the comparison's
    clocks), one line per configuration through its fastest-so-far points (the area–delay
    curve: more cuts, more area, shorter period), the chosen rows marked, the clocks drawn as
    vertical lines and the paper's area target, where it has one, as a dashed curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    curves = {}
    for r in rows:
        pts = curves.setdefault(r["member"], {})
        for p in r["probes"]:
            if p["delay_ns"] is not None and p["area_um2"] is not None:
                pts[p["config"]] = (p["delay_ns"], p["area_um2"] / 1e6)

    def frontier(points):
        """The Pareto points: no other point is both faster and smaller."""
        out = []
        for d, a in sorted(points):
            if not out or a < out[-1][1]:
                out.append((d, a))
        return out

    for k, (member, pts) in enumerate(curves.items()):
        color = f"C{k}"
        front = frontier(pts.values())
        ax.plot(*zip(*front), "o-", color=color, ms=4, label=member)
        chosen = [(r["delay_ns"], r["area_um2"] / 1e6) for r in rows
                  if r["member"] == member and r.get("area_um2")]
        ax.plot(*zip(*chosen), "s", color=color, ms=8, mfc="none")
    for target, factor, label in c.area_targets:
        if target in curves:
            front = frontier(curves[target].values())
            ax.plot([d for d, _ in front], [a * factor for _, a in front], "--", color="gray",
                    label=label)
    for clock in c.clocks:
        ax.axvline(clock, color="black", lw=0.8, ls=":")
        ax.annotate(f"{clock:g} ns", (clock, 1), xycoords=("data", "axes fraction"),
                    xytext=(2, -10), textcoords="offset points", fontsize=8)
    ax.set_xlabel("clock period reached (ns, OSU 0.18 µm)")
    ax.set_ylabel("area (mm²)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{c.name}: area against clock period (squares: the rows of the tables)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="best")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    return path


def sections(rows: list[dict], root=REPO, iso=None) -> dict:
    """{section name: Markdown} for the rows at hand (a section needs all its rows); writes
    the scaling plot when the scaling rows are all there. ``iso``: the rows of the
    iso-frequency comparisons (``mxforge.closure.iso_job``), which fill the comparison
    sections and write their plots."""
    by_name = {r["config"]: r for r in rows}
    out = {}
    catalogue = [by_name[n] for n in all_configurations() if n in by_name]
    if len(catalogue) == len(all_configurations()):   # the catalogue's tables: all or nothing
        out["flow"] = _flow_text(catalogue)
        out["ppa"] = _ppa_table(catalogue)
        out["energy"] = _energy_table([r for r in catalogue if r.get("energy")])
        out["breakdown"] = _breakdown_table([r for r in catalogue
                                             if BLOCKS[r["block"]].bare is not None])
    for block_name, fixed, key, values in SCALING:
        block = BLOCKS[block_name]
        names = [block.config_name(**block.params(**{**fixed, key: v})) for v in values]
        if all(n in by_name for n in names):
            pairs = [(by_name[n], v) for n, v in zip(names, values)]
            out["scaling"] = _scaling_table(pairs)
            plot_scaling([(f"{key}={v}", r["nand2_eq"], r["runtime_s"]) for r, v in pairs],
                         Path(root) / SCALING_PLOT,
                         f"{block_name}: synthesis time against size ({key} = "
                         f"{values[0]}..{values[-1]})")
    sizes = list(size_configurations())
    if sizes and all(n in by_name for n in sizes):
        out["sizes"] = _sizes_table([by_name[n] for n in sizes])
    for c in COMPARISONS:
        if iso is None:
            continue
        at = {clock: [r for r in iso if r["member"] in set(c.members())
                      and r["clock_ns"] == float(clock)] for clock in c.clocks}
        if any({r["member"] for r in rows_} != set(c.members()) for rows_ in at.values()):
            continue
        parts = []
        for clock, rows_ in at.items():
            table = render_comparisons(rows_, [c], clock_ns=float(clock)).split("\n", 1)[-1]
            parts.append(f"**At {clock:g} ns** ({1000 / clock:.0f} MHz):\n" + table)
        plot = ISO_PLOT.format(name=c.name)
        plot_iso(c, [r for rows_ in at.values() for r in rows_], Path(root) / plot)
        stamped = "\n".join(f"- {stamp(r)}" for r in sorted(
            {r["config"]: r for rows_ in at.values() for r in rows_}.values(),
            key=lambda r: r["config"]))
        out[f"compare-{c.name}"] = ("\n".join(parts) + f"\n![area against clock period: "
                                    f"{c.name}]({Path(plot).relative_to('docs')})\n\n"
                                    "Measured:\n\n" + stamped + "\n")
    return out


def write_docs(rows: list[dict], root=REPO, iso=None) -> list[str]:
    """Rewrite the sections of :data:`FILE` that ``rows`` can fill; returns their names.

    Raises
    ------
    ValueError
        The file names a section no rows can fill and that is unknown.
    """
    path = Path(root) / FILE
    text = path.read_text()
    known = section_names()
    try:                         # an unknown marker fails before any synthesis result is used
        markers.replace(text, "synth", {}, known=known)
    except ValueError as e:
        raise ValueError(f"{FILE} has {e}") from None
    bodies = sections(rows, root, iso)
    new, _ = markers.replace(text, "synth", bodies, known=known)
    written = [n for n in markers.sections(text, "synth") if n in bodies]
    write_atomic(path, new)
    return written


def section_names() -> set:
    """Every section name :func:`sections` can write."""
    return {"flow", "ppa", "energy", "breakdown", "scaling", "sizes"} | {
        f"compare-{c.name}" for c in COMPARISONS}


def workload_energy(name: str, **workload_kw) -> dict:
    """The flow's energy on configuration ``name``'s workload with ``workload_kw`` (e.g. the
    ``data_bits`` of ``bfp_array``'s: one mode of a multi-mode array): synthesis as ``make
    synth`` does it (cached), then the gate-level simulation and OpenSTA's power on those beats;
    returns :func:`synth.activity.energy`'s dict (``pj_per_op``, ``power_mw``, ``op``, ...)."""
    from hw.lib.export import cached_verilog
    from synth.flow import synthesize
    from synth.report import workload_stimulus

    import hashlib

    block, params = stamped_configurations()[name]
    stim = workload_stimulus(block, params, **workload_kw)
    verilog = cached_verilog(block, params, name)
    result = synthesize(verilog, name, stimulus=stim)
    if not result.get("energy"):
        raise RuntimeError(f"{name}: the flow measured no energy ({result.get('notes')})")
    return {**result["energy"], "stamp": stamp({
        "config": name, "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest()})}


def synth_row(name: str) -> dict:
    """The flow's result for catalogue configuration ``name`` (``make synth``'s synthesis,
    cached; no energy): ``area_um2``, ``delay_ns``, ``nand2_eq``, ... and its ``stamp``."""
    import hashlib

    from hw.lib.export import cached_verilog
    from synth.flow import synthesize

    block, params = stamped_configurations()[name]
    verilog = cached_verilog(block, params, name)
    result = synthesize(verilog, name)
    return {**result, "stamp": stamp({
        "config": name, "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest()})}

