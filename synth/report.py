"""PPA reports: synthesize catalogue configurations, write ``ppa.json``, ``ppa.md`` and a plot."""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .flow import FLOW_VERSION, build_dir, synthesize

__all__ = ["Comparison", "run", "write", "render_markdown", "render_comparisons", "plot_area",
           "METRICS"]

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
    """

    name: str
    title: str
    baseline: str
    configs: tuple
    claim: str = ""
    composites: tuple = ()
    rates: dict | None = None
    rate_unit: str = ""


def _synth_job(job):
    verilog, top, kwargs = job
    return synthesize(verilog, top, **kwargs)


def run(configs: dict, jobs: int | None = None, known: dict | None = None,
        verilog: dict | None = None, **synth_kwargs) -> list[dict]:
    """Synthesize ``configs`` (config name -> (block, params)) and return one row per config.

    A block's baseline configuration (``block.baseline``) is added from ``known`` (config name
    -> (block, params), e.g. the whole catalogue) when it is not among ``configs``, so every
    ratio comes from the same flow in the same run. ``verilog`` (config name -> text) holds
    Verilog the caller already emitted; the rest is emitted here. ``jobs`` processes run the
    tools (default: 2, or fewer CPUs); ``synth_kwargs`` go to ``synthesize``.

    Each row is the ``synthesize`` result plus ``config``, ``block``, ``params``, ``baseline``
    and ``ratio`` (metric -> value / baseline value, for the metrics in ``METRICS``; empty when
    the block has no baseline).

    Raises
    ------
    ValueError
        A baseline that is neither in ``configs`` nor in ``known``.
    """
    from hw.lib.export import to_verilog

    configs = dict(configs)
    known = known or {}
    for block, _ in list(configs.values()):
        if block.baseline and block.baseline not in configs:
            if block.baseline not in known:
                raise ValueError(f"baseline {block.baseline!r} of block {block.name!r} is not a "
                                 f"known configuration")
            configs[block.baseline] = known[block.baseline]

    names = list(configs)
    verilog = verilog or {}
    work = [(verilog[name] if name in verilog else to_verilog(block.build(**params), name),
             name, synth_kwargs) for name, (block, params) in configs.items()]
    if jobs is None:
        jobs = min(2, os.cpu_count() or 1)
    if jobs <= 1 or len(work) <= 1:
        results = [_synth_job(w) for w in work]
    else:
        # the first job alone: on a cold cache yowasp compiles Yosys (~30 s) once, not per worker
        results = [_synth_job(work[0])]
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results += list(pool.map(_synth_job, work[1:]))

    rows = []
    for name, result in zip(names, results):
        block, params = configs[name]
        rows.append({"config": name, "block": block.name, "params": dict(params),
                     "baseline": block.baseline, **result})
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
    """A row for several configurations side by side: areas and power add, delay is the
    slowest member's."""
    rows = [by_name[n] for n in members]
    out = {"config": label}
    for metric in ("nand2_eq", "area_um2", "power_mw"):
        vals = [r.get(metric) for r in rows]
        out[metric] = None if any(v is None for v in vals) else sum(vals)
    delays = [r.get("delay_ns") for r in rows]
    out["delay_ns"] = None if any(v is None for v in delays) else max(delays)
    out["depth"] = max(r["depth"] for r in rows)
    return out


def render_comparisons(rows: list[dict], comparisons) -> str:
    """Markdown tables of the ``comparisons`` (:class:`Comparison` values) whose configurations
    are all in ``rows``: area, delay and power of each configuration and their ratios to the
    comparison's baseline; composite rows (configurations side by side); and,
    where the comparison gives rates, work per cycle and work per cycle per area normalized to
    the baseline. Empty when none is complete."""
    by_name = {r["config"]: r for r in rows}
    out = []
    for c in comparisons:
        members = set(c.configs) | {n for _, group in c.composites for n in group}
        if not all(n in by_name for n in members):
            continue
        table = [by_name[n] for n in c.configs]
        table += [_composite(label, group, by_name) for label, group in c.composites]
        base = by_name[c.baseline]
        rate_names = list(next(iter(c.rates.values())).keys()) if c.rates else []
        head = "| configuration | NAND2-eq | × | µm² | × | depth | ns | × | mW | × |"
        rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for name in rate_names:
            head += f" {c.rate_unit} {name} | per area × |"
            rule += "---:|---:|"
        out += ["", f"### {c.title}", "",
                f"Ratios to `{c.baseline}`." + (f" Claim to read it against: {c.claim}."
                                                 if c.claim else ""), "", head, rule]
        base_area, _ = _area_of(base)
        for r in table:
            cells = []
            for metric, spec in (("nand2_eq", ".0f"), ("area_um2", ".0f"), ("depth", "d"),
                                 ("delay_ns", ".2f"), ("power_mw", ".2f")):
                v, b = r.get(metric), base.get(metric)
                cells.append(_fmt(v, spec))
                if metric != "depth":
                    cells.append("n/a" if v is None or not b else f"{v / b:.2f}")
            area, _ = _area_of(r)
            for name in rate_names:
                rate, base_rate = c.rates[r["config"]][name], c.rates[c.baseline][name]
                cells.append(f"{rate:g}" if rate else "—")
                cells.append(f"{(rate / area) / (base_rate / base_area):.2f}"
                             if rate and base_rate else "—")
            label = r["config"] if r["config"] in by_name else f"{r['config']} (sum)"
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        if c.composites:
            out += ["", "(sum): the listed configurations side by side — areas and power added, "
                        "delay and depth of the slowest."]
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


def write(rows: list[dict], outdir=None, *, comparisons=(), echo: bool = True) -> dict[str, Path]:
    """Write ``ppa.json``, ``ppa.md`` (with the tables of ``comparisons``) and ``ppa_area.png``
    to ``outdir`` (default ``<build>/reports``); print the Markdown table when ``echo``.
    Returns the paths by kind."""
    outdir = Path(outdir) if outdir is not None else build_dir() / "reports"
    outdir.mkdir(parents=True, exist_ok=True)
    clean = [{k: v for k, v in r.items() if k not in _VOLATILE} for r in rows]
    paths = {"json": outdir / "ppa.json", "md": outdir / "ppa.md", "png": outdir / "ppa_area.png"}
    paths["json"].write_text(json.dumps({"flow_version": FLOW_VERSION, "rows": clean},
                                        indent=1, sort_keys=True) + "\n")
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
