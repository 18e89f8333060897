"""PPA reports: synthesize catalogue configurations, write ``ppa.json``, ``ppa.md`` and a plot."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .flow import FLOW_VERSION, build_dir, store, synthesize

__all__ = ["Comparison", "run", "synth_job", "workload_stimulus", "breakdown", "assemble",
           "with_baselines", "write", "write_json", "render_markdown", "render_comparisons",
           "ops_per_cycle", "pj_per_op", "plot_area", "METRICS"]

#: metrics that get a ratio against the baseline configuration
METRICS = ("transistors", "nand2_eq", "flipflops", "area_um2", "delay_ns", "power_mw")
# fields of a synthesis result that change from run to run; kept out of ppa.json
_VOLATILE = ("cached", "runtime_s", "workdir")

_MISSING_NOTE = {
    "liberty": "no Liberty cell library: install Debian `qflow-tech-osu018` or set "
               "`MXFORGE_LIBERTY`",
    "sta": "OpenSTA `sta` not found on PATH: install Debian `opensta`",
}


@dataclass(frozen=True)
class Comparison:
    """A cross-block comparison the PPA report renders as one table of ratios to a baseline
    (SPEC "Cost": a proposed design beside its baseline, from the same flow in the same run).

    Attributes
    ----------
    name : str
        Identifier (report section anchor).
    title : str
        One line saying what is compared and on what footing.
    baseline : str
        The configuration every ratio is taken against.
    configs : tuple of str
        The configurations in the table (the baseline included), in display order.
    claim : str
        The paper's claim the table is read against (quoted in the report).
    composites : tuple of (label, tuple of str)
        Extra rows for configurations side by side (e.g. three single-mode PEs): areas and
        power added, delay the slowest's.
    rates : dict or None
        {row (configuration or composite label): {rate name: work per cycle}}: adds a work
        per cycle column and a work per cycle per area column (normalized to the baseline) for
        every rate name.
    rate_unit : str
        What ``rates`` count (column header), e.g. "MACs/cycle".
    clocks : tuple of float
        The clock periods (ns) the comparison is made at, each row closed to meet it
        (``mxforge.closure``): the flow's 10 ns and one faster clock that the best rows reach.
    area_targets : tuple of (configuration, factor, label)
        The paper's area claim as a curve on the comparison's plot: ``factor`` times the
        area–delay curve of ``configuration``.
    """

    name: str
    title: str
    baseline: str
    configs: tuple
    claim: str = ""
    composites: tuple = ()
    rates: dict | None = None
    rate_unit: str = ""
    clocks: tuple = (10.0,)
    area_targets: tuple = ()

    def members(self) -> list:
        """Every configuration the comparison needs, composite members included, in display
        order."""
        return list(dict.fromkeys([*self.configs,
                                   *(n for _, group in self.composites for n in group)]))


def with_baselines(configs: dict, known: dict | None = None) -> dict:
    """``configs`` (config name -> (block, params)) and every block's baseline configuration
    (``block.baseline``, looked up in ``known``), so every ratio comes from the same flow in the
    same run.

    Raises
    ------
    ValueError
        A baseline that is neither in ``configs`` nor in ``known``.
    """
    configs, known = dict(configs), known or {}
    for block, _ in list(configs.values()):
        if block.baseline and block.baseline not in configs:
            if block.baseline not in known:
                raise ValueError(f"baseline {block.baseline!r} of block {block.name!r} is not a "
                                 f"known configuration")
            configs[block.baseline] = known[block.baseline]
    return configs


#: beats of the energy workload (whole records for record blocks) and its seed
ENERGY_BEATS = 44
ENERGY_SEED = 1


def workload_stimulus(block, params, beats=ENERGY_BEATS, seed=ENERGY_SEED, **workload_kw):
    """The block's realistic workload (``block.workload``, :mod:`golden.workloads`, with
    ``workload_kw`` besides the parameters) packed into input payloads for the gate-level
    simulation; None for a block without one."""
    import numpy as np

    from hw.lib.payload import pack
    from synth.activity import Stimulus

    if block.workload is None:
        return None
    w = block.workload(np.random.default_rng(seed), beats, **params, **workload_kw)
    layout = block.build(**params).in_layout
    words = tuple(int(v) for v in pack(layout, w.fields))
    return Stimulus(words, w.warm, float(w.ops), w.op)


def synth_job(job) -> dict:
    """One configuration through the flow: ``job`` = (name, block, params, verilog or None,
    synthesize keyword arguments). Module level, so a process pool or a Dask worker can run
    it; the Verilog comes from the generator-keyed cache when not given."""
    from hw.lib.export import cached_verilog

    name, block, params, verilog, kwargs = job
    if verilog is None:
        verilog = cached_verilog(block, params, name)
    kwargs = dict(kwargs)
    energy = kwargs.pop("energy", True)
    result = synthesize(verilog, name, **kwargs,
                        stimulus=workload_stimulus(block, params) if energy else None)
    result["verilog_sha256"] = hashlib.sha256(verilog.encode()).hexdigest()
    result["latency"] = block.checked_build(**params).latency
    result["breakdown"] = breakdown(result, block.breakdown)
    result["bare"] = None
    if block.bare is not None:
        from hw.lib.export import to_verilog
        result["bare"] = synthesize(to_verilog(block.bare(**params), "bare"), "bare", **kwargs)
        bare = result["bare"]
        result["runtime_s"] = round(result["runtime_s"] + bare["runtime_s"], 3)
    return result


def breakdown(result: dict, functions: dict) -> list[dict]:
    """Where the area goes (docs/cost.md): ``{"function", "area_um2", "nand2_eq"}`` rows, the
    module rows of ``result`` grouped by ``functions`` ({module kind: function}; a kind not
    named keeps its name), combinational logic only, and one "registers" row for the
    flip-flops of every module; largest first. They add up to the design's area. Without a
    Liberty there is no register split and the areas are None."""
    rows: dict = {}
    registers = 0.0
    for mod in result.get("modules") or []:
        name = functions.get(mod["unit"], mod["unit"])
        row = rows.setdefault(name, {"function": name, "area_um2": 0.0, "nand2_eq": 0.0})
        row["nand2_eq"] += mod["transistors"] / 4
        if mod["area_um2"] is None:
            row["area_um2"] = None
        elif row["area_um2"] is not None:
            row["area_um2"] += mod["area_um2"] - (mod["sequential_um2"] or 0.0)
            registers += mod["sequential_um2"] or 0.0
    out = sorted(rows.values(), key=lambda r: -(r["area_um2"] or r["nand2_eq"]))
    if registers:
        out.append({"function": "registers", "area_um2": registers, "nand2_eq": None})
        out.sort(key=lambda r: -(r["area_um2"] or 0.0))
    return out


def _sequential(function, jobs):
    for job in jobs:
        yield job, function(job)


def run(configs: dict, known: dict | None = None, verilog: dict | None = None, runner=None,
        on_result=None, **synth_kwargs) -> tuple[list[dict], dict]:
    """Synthesize ``configs`` (config name -> (block, params)) and their baselines.

    Parameters
    ----------
    configs, known : dict
        See :func:`with_baselines`.
    verilog : dict, optional
        config name -> Verilog the caller already emitted (the rest comes from the cache).
    runner : callable, optional
        ``runner(function, jobs)`` yields ``(job, result or exception)`` (``mxforge.sweep.run``
        for a process pool or a Dask cluster); default: one after the other, here.
    on_result : callable, optional
        ``on_result(rows_so_far)`` after every finished configuration (to write partial
        reports).
    synth_kwargs
        For ``synthesize``.

    Returns
    -------
    (list of dict, dict)
        One row per synthesized configuration (:func:`assemble`), in ``configs`` order; and
        {config name: exception} for those that failed or hit their time limit.
    """
    configs = with_baselines(configs, known)
    verilog = verilog or {}
    jobs = [(name, block, params, verilog.get(name), synth_kwargs)
            for name, (block, params) in configs.items()]
    results, failures = {}, {}
    for job, result in (runner or _sequential)(synth_job, jobs):
        if isinstance(result, Exception):
            failures[job[0]] = result
            continue
        # a result from another machine (a Dask worker) lands in this machine's cache too
        store(result)
        if result.get("bare"):
            store(result["bare"])
        results[job[0]] = result
        if on_result is not None:
            on_result(assemble(configs, results))
    return assemble(configs, results), failures


def assemble(configs: dict, results: dict) -> list[dict]:
    """Rows of the synthesized configurations: the ``synthesize`` result plus ``config``,
    ``block``, ``params``, ``baseline`` and ``ratio`` (metric -> value / baseline value, for the
    metrics in ``METRICS``; empty when the block has no baseline or it is missing)."""
    rows = []
    for name, (block, params) in configs.items():
        if name in results:
            rows.append({"config": name, "block": block.name, "params": dict(params),
                         "baseline": block.baseline, **results[name]})
    by_name = {r["config"]: r for r in rows}
    for row in rows:
        base = by_name.get(row["baseline"]) if row["baseline"] else None
        row["ratio"] = {} if base is None else {
            m: row[m] / base[m] for m in METRICS
            if row.get(m) is not None and base.get(m) not in (None, 0)}
    return rows


# -- rendering -------------------------------------------------------------------------------------

def _fmt(value, spec: str, na_mark: str = "n/a") -> str:
    return na_mark if value is None else format(value, spec)


def _area_ratio(row):
    """(ratio, metric) of area against the baseline: um^2 when known, else NAND2-eq."""
    for metric in ("area_um2", "nand2_eq"):
        if metric in row.get("ratio", {}):
            return row["ratio"][metric], metric
    return None, None


def render_markdown(rows: list[dict]) -> str:
    """The PPA table in Markdown, with footnotes for missing tools and the flow conventions."""
    missing = sorted({t for r in rows for t in r.get("missing", [])})
    na = "n/a" + ("¹" if missing else "")
    ratio_metrics = set()
    lines = []
    blocks = list(dict.fromkeys(r["block"] for r in rows))
    for block in blocks:
        if len(blocks) > 1:
            lines += ["", f"### {block}", ""] if lines else [f"### {block}", ""]
        lines += [
            "| configuration | transistors | NAND2-eq | FFs | depth | µm² | ns | MHz | mW "
            "| area vs baseline² |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in (r for r in rows if r["block"] == block):
            ratio, metric = _area_ratio(r)
            if metric:
                ratio_metrics.add(metric)
            if ratio is not None:
                cell = (f"{ratio:.2f}× {r['baseline']}" if r["config"] != r["baseline"]
                        else "1.00× (baseline)")
            else:
                cell = "—"
            lines.append(
                f"| {r['config']} | {r['transistors']} | {r['nand2_eq']:.1f} | {r['flipflops']} "
                f"| {r['depth']} | {_fmt(r.get('area_um2'), '.0f', na)} "
                f"| {_fmt(r.get('delay_ns'), '.3f', na)} | {_fmt(r.get('fmax_mhz'), '.0f', na)} "
                f"| {_fmt(r.get('power_mw'), '.4f', na)} | {cell} |")
    notes = [""]
    if missing:
        notes.append("¹ n/a: " + "; ".join(_MISSING_NOTE[t] for t in missing) + ".")
    basis = ("µm² area" if ratio_metrics == {"area_um2"} else
             "NAND2-equivalents" if ratio_metrics == {"nand2_eq"} else
             "µm² area (NAND2-equivalents where no Liberty)")
    notes.append(f"² {basis} relative to the block's baseline configuration; "
                 "— when the block has no baseline.")
    if rows:
        flow = rows[0]["flow"]
        tools = ", ".join(v for v in flow["tools"].values() if v)
        notes.append(
            f"\nFlow `{flow['flow_version']}` ({tools}): transistors from Yosys `stat -tech cmos` "
            f"after `abc -g {flow['gates']}`, NAND2-eq = transistors / 4, depth = `ltp -noff` "
            f"gates. µm² from `stat -liberty` ({flow['liberty'] or 'no Liberty'}); ns = "
            f"{flow['clock_ns']:g} ns clock period − worst setup slack (inputs and outputs "
            f"constrained at 0 ns against the clock), MHz = 1000 / ns; mW = OpenSTA total power "
            f"at a {flow['clock_ns']:g} ns clock with input activity {flow['activity']:g}.")
    return "\n".join(lines + notes) + "\n"


def _composite(label, members, by_name):
    """A row for several configurations side by side: areas and flip-flops add, delay and
    latency are the slowest member's; energy per operation has no meaning for a group (None)."""
    rows = [by_name[n] for n in members]
    out = {"config": label, "energy": None, "composite": True}
    for metric in ("nand2_eq", "area_um2", "flipflops"):
        vals = [r.get(metric) for r in rows]
        out[metric] = None if any(v is None for v in vals) else sum(vals)
    for metric in ("delay_ns", "latency"):
        vals = [r.get(metric) for r in rows]
        out[metric] = None if any(v is None for v in vals) else max(vals)
    out["met"] = all(r.get("met", True) for r in rows)
    return out


def pj_per_op(row):
    """Energy per operation of a row on its workload (docs/cost.md "Energy"), or None."""
    return (row.get("energy") or {}).get("pj_per_op")


def ops_per_cycle(row):
    """Operations per clock cycle of a row on its energy workload (measured: the operations of
    the measured beats over the cycles the gate-level simulation took for them), or None."""
    e = row.get("energy") or {}
    return e["ops"] / e["cycles"] if e.get("ops") and e.get("cycles") else None


def render_comparisons(rows: list[dict], comparisons, clock_ns: float | None = None) -> str:
    """Markdown tables of the ``comparisons`` (:class:`Comparison` values) whose configurations
    are all in ``rows`` (a row stands for the comparison's configuration ``row["member"]`` if
    it has one, e.g. the variant timing closure chose at ``clock_ns``, else ``row["config"]``):
    per configuration its register cuts, delay (✗: misses ``clock_ns``), area, flip-flops,
    latency in cycles, operations per cycle and energy per operation on its workload, with the
    area and energy ratios to the comparison's baseline; composite rows (configurations side by
    side); and, where the comparison gives rates, work per cycle and work per cycle per area
    normalized to the baseline. Empty when none is complete."""
    by_name = {r.get("member", r["config"]): r for r in rows}
    out = []
    for c in comparisons:
        if not all(n in by_name for n in c.members()):
            continue
        table = [by_name[n] for n in c.configs]
        table += [_composite(label, group, by_name) for label, group in c.composites]
        base = by_name[c.baseline]
        rate_names = list(next(iter(c.rates.values())).keys()) if c.rates else []
        head = ("| configuration | cuts | ns | µm² | × | FFs | latency | ops/cycle | pJ/op | × |")
        rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for name in rate_names:
            head += f" {c.rate_unit} {name} | per area × |"
            rule += "---:|---:|"
        at = f" — at {clock_ns:g} ns" if clock_ns is not None else ""
        out += ["", f"### {c.title}{at}", "",
                f"Ratios to `{c.baseline}`." + (f" Claim to read it against: {c.claim}."
                                                 if c.claim else ""), "", head, rule]
        base_area, _ = _area_of(base)
        missed = False
        for r in table:
            area, _ = _area_of(r)
            ns = _fmt(r.get("delay_ns"), ".2f", "—")
            if clock_ns is not None and not r.get("met", True):
                ns, missed = ns + " ✗", True
            opc = ops_per_cycle(r)
            cells = [r.get("cut") or "—", ns, _fmt(area, ",.0f", "—"),
                     f"{area / base_area:.2f}" if area and base_area else "—",
                     _fmt(r.get("flipflops"), ",d", "—"), _fmt(r.get("latency"), "d", "—"),
                     "—" if opc is None else f"{opc:.3g}", _fmt(pj_per_op(r), ",.1f", "—"),
                     f"{pj_per_op(r) / pj_per_op(base):.2f}"
                     if pj_per_op(r) and pj_per_op(base) else "—"]
            key = r.get("member", r["config"])
            for name in rate_names:
                rate, base_rate = c.rates[key][name], c.rates[c.baseline][name]
                cells.append(f"{rate:g}" if rate else "—")
                cells.append(f"{(rate / area) / (base_rate / base_area):.2f}"
                             if rate and base_rate else "—")
            label = f"{key} (sum)" if r.get("composite") else f"`{r['config']}`"
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        ops = {r["config"]: r["energy"]["op"] for r in table if r.get("energy")}
        if ops:
            kinds = sorted(set(ops.values()))
            out += ["", "ops/cycle and pJ/op: per " + (kinds[0] if len(kinds) == 1 else "; ".join(
                f"{k} ({', '.join(n for n, o in ops.items() if o == k)})" for k in kinds))
                    + " on the block's workload" + (
                        f", at {clock_ns:g} ns." if clock_ns is not None else ".")]
        if missed:
            out += ["", f"✗: no register cut of the block meets {clock_ns:g} ns; the row is its "
                        "fastest configuration (its floor)."]
        if c.composites:
            out += ["", "(sum): the listed configurations side by side — areas and flip-flops "
                        "added, delay and latency of the slowest; no energy per operation."]
    return "\n".join(out[1:]) + "\n" if out else ""


def _area_of(row):
    """(area, metric): µm² when known, else NAND2-eq."""
    if row.get("area_um2"):
        return row["area_um2"], "area_um2"
    return row["nand2_eq"], "nand2_eq"


def plot_area(rows: list[dict], path, configs=None, title="Area per configuration") -> Path:
    """Bar plot PNG of area per configuration (µm², or NAND2-eq when any µm² is missing)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sel = [r for r in rows if configs is None or r["config"] in configs]
    if not sel:
        raise ValueError("no rows to plot")
    use_um2 = all(r.get("area_um2") is not None for r in sel)
    if use_um2:
        key, label = "area_um2", f"area (µm², {sel[0]['flow'].get('liberty')})"
    else:
        key, label = "nand2_eq", "area (NAND2-equivalents)"
    fig = Figure(figsize=(max(4.0, 0.6 * len(sel) + 1.5), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = [r["config"] for r in sel]
    values = [r[key] for r in sel]
    bars = ax.bar(range(len(sel)), values, color="tab:blue")
    ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(sel)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(label)
    ax.set_title(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def write_json(rows: list[dict], outdir=None) -> Path:
    """Write ``ppa.json`` (every row without its run-to-run fields) to ``outdir`` (default
    ``<build>/reports``), atomically: a stopped run leaves the rows finished so far."""
    outdir = Path(outdir) if outdir is not None else build_dir() / "reports"
    outdir.mkdir(parents=True, exist_ok=True)
    clean = [{k: v for k, v in r.items() if k not in _VOLATILE} for r in rows]
    path = outdir / "ppa.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"flow_version": FLOW_VERSION, "rows": clean}, indent=1,
                              sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def write(rows: list[dict], outdir=None, *, comparisons=(), echo: bool = True) -> dict[str, Path]:
    """Write ``ppa.json``, ``ppa.md`` (with the tables of ``comparisons``) and ``ppa_area.png``
    to ``outdir`` (default ``<build>/reports``); print the Markdown table when ``echo``.
    Returns the paths by kind."""
    outdir = Path(outdir) if outdir is not None else build_dir() / "reports"
    paths = {"json": write_json(rows, outdir), "md": outdir / "ppa.md",
             "png": outdir / "ppa_area.png"}
    md = render_markdown(rows)
    comp = render_comparisons(rows, comparisons)
    if comp:
        md += "\n## Comparisons\n\n" + comp
    paths["md"].write_text("# PPA\n\n" + md)
    if rows:
        plot_area(rows, paths["png"])
        # one plot per block: its configurations side by side (e.g. mx_dot per element format)
        for block in dict.fromkeys(r["block"] for r in rows):
            mine = [r for r in rows if r["block"] == block]
            if len(mine) > 1:
                paths[f"{block}_png"] = plot_area(mine, outdir / f"{block}_area.png",
                                                      title=f"{block}: area per configuration")
    if echo:
        print(md, end="")
    return paths
