"""``mxforge`` command line: list, verilog, synth, sim, lint — all driven by the catalogue."""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hw.lib.export import build_root, cached_verilog, generator_version, to_verilog

from .catalogue import BLOCKS, COMPARISONS, ParameterError, all_configurations

EXIT_USAGE = 2


def _parse_value(block, key, text):
    """Convert ``--set key=text`` to the type of the parameter's default."""
    if key not in block.defaults:
        raise ParameterError(
            f"{block.name} has no parameter {key!r}; its parameters are: "
            f"{', '.join(block.defaults)}")
    default = block.defaults[key]
    choices = block.choices.get(key)
    allowed = ", ".join(_show(c) for c in choices) if choices else None
    try:
        if isinstance(default, bool):
            low = text.lower()
            if low not in ("true", "false", "1", "0", "on", "off", "yes", "no"):
                raise ValueError
            value = low in ("true", "1", "on", "yes")
        elif isinstance(default, int):
            value = int(text, 0)
        elif isinstance(default, tuple):  # "16,8,4" or "16x8x4" (as configuration names spell it)
            value = tuple(int(t, 0) for t in re.split(r"[,x]", text))
        else:
            value = text
    except ValueError:
        kind = ("a boolean (true/false)" if isinstance(default, bool) else
                "integers separated by commas" if isinstance(default, tuple) else
                type(default).__name__)
        raise ParameterError(
            f"{key} must be {allowed and 'one of ' + allowed or kind}, not {text!r}") from None
    # strings are checked by the generator: element parameters also take MXSF variant names
    if choices is not None and not isinstance(value, str) and value not in choices:
        raise ParameterError(f"{key} must be one of {allowed}, not {text!r}")
    return value


def _show(v):
    if isinstance(v, tuple):
        return ",".join(_show(x) for x in v)
    return str(v).lower() if isinstance(v, bool) else str(v)


def resolve(name, sets=()):
    """``NAME`` is a block or a configuration name; ``sets`` are ``key=value`` overrides.

    Returns ``(block, params, config_name)``. The parameters are validated by the generator
    when a command builds the component (:meth:`hw.lib.block.Block.checked_build`).
    """
    configs = all_configurations()
    if name in configs:
        block, params = configs[name]
    elif name in BLOCKS:
        block, params = BLOCKS[name], dict(BLOCKS[name].defaults)
    else:
        raise ParameterError(
            f"unknown block or configuration {name!r}; blocks are: {', '.join(BLOCKS)} "
            f"(configurations: mxforge list)")
    for item in sets:
        if "=" not in item:
            raise ParameterError(f"--set expects key=value, not {item!r}")
        key, text = item.split("=", 1)
        params[key.strip()] = _parse_value(block, key.strip(), text.strip())
    return block, params, block.config_name(**params)


def _targets(args):
    """The (block, params, name) triples a command works on."""
    if getattr(args, "all", False):
        return [(b, p, n) for n, (b, p) in all_configurations().items()]
    if not args.name:
        raise ParameterError("give a block or configuration NAME, or --all")
    return [resolve(args.name, args.set or ())]


def cmd_list(args):
    if args.markdown:  # the README's catalogue table
        from .docs import catalogue_table
        print(catalogue_table(), end="")
        return 0
    for b in BLOCKS.values():
        print(f"{b.name}: {b.summary}")
        for k, v in b.defaults.items():
            ch = b.choices.get(k)
            extra = f" (one of {', '.join(_show(c) for c in ch)})" if ch else ""
            print(f"    {k} = {_show(v)}{extra}")
        for n in b.configurations():
            print(f"  - {n}")
    return 0


def _components(targets):
    """Build every target's component before any output is written: a bad parameter value is
    one line (:class:`ParameterError`) and nothing is half-written."""
    return [(block, params, name, block.checked_build(**params))
            for block, params, name in targets]


def _emit(job):
    """Worker of ``mxforge verilog``: one configuration's Verilog (from the cache when the
    generator sources did not change), its description NAME.json and its wrapper NAME_wrap.sv
    (:func:`hw.lib.interface.render`: the component's ports and latency, no elaboration),
    written to ``directory``; returns their paths."""
    from hw.lib.interface import render

    name, directory, interface = job
    block, params = all_configurations()[name]
    files = render(block, params, name, block.build(**params),
                   cached_verilog(block, params, name), interface)
    paths = [Path(directory) / f for f in files]
    for path, text in zip(paths, files.values()):
        path.write_text(text)
    return paths


def cmd_verilog(args):
    from hw.lib.interface import render

    out = Path(args.output)
    if not args.all:
        (block, params, name, component), = _components(_targets(args))
        # NAME.v, NAME.json and NAME_wrap.sv, all rendered before any is written
        files = render(block, params, name, component, to_verilog(component, name),
                       args.interface)
        out.mkdir(parents=True, exist_ok=True)
        for fname, text in files.items():
            (out / fname).write_text(text)
            print(out / fname)
        return 0
    # every configuration: in parallel, the slowest first, each from the Verilog cache (keyed
    # by the generator sources), so an unchanged tree is written again in seconds
    names = sorted(all_configurations(), key=_emit_cost, reverse=True)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(n, str(out), args.interface) for n in names]
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        paths = map(_emit, jobs)
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        paths = pool.map(_emit, jobs)
    for three in paths:
        for path in three:
            print(path)
    return 0


def _emit_cost(name):
    """A rough ordering key for the emission time of a configuration (:func:`_size`)."""
    return _size(all_configurations()[name][1])


def _size(params):
    """A rough size of a configuration, to start the largest jobs first: the sum of its
    integer parameters (k, n, G, lanes dominate)."""
    return sum(v if isinstance(v, int) and not isinstance(v, bool) else 1
               for v in params.values())


def _grid_targets(args):
    """The targets of a command: ``--all``, or NAME with ``--set`` overrides and, with
    ``--grid key=v1,v2`` (repeatable; ``;`` separates values that contain commas), every
    combination of the grid's values."""
    if not getattr(args, "grid", None):
        return _targets(args)
    if getattr(args, "all", False) or not args.name:
        raise ParameterError("--grid needs a block or configuration NAME (and no --all)")
    axes = []
    for item in args.grid:
        if "=" not in item or not item.split("=", 1)[1].strip():
            raise ParameterError(f"--grid expects key=value,value,..., not {item!r}")
        key, values = item.split("=", 1)
        # values separated by commas, or by semicolons when a value is itself a list
        # (modes=16,8,4;16)
        sep = ";" if ";" in values else ","
        axes.append([f"{key.strip()}={v.strip()}" for v in values.split(sep) if v.strip()])
    targets, seen = [], set()
    for combo in itertools.product(*axes):
        block, params, name = resolve(args.name, list(args.set or ()) + list(combo))
        if name not in seen:
            seen.add(name)
            targets.append((block, params, name))
    return targets


def _runner(args, label=lambda job: job[0]):
    """The sweep runner of a command's --executor/--workers/--scheduler options; ``label``
    names a job in the progress lines."""
    from .sweep import run

    def runner(function, jobs):
        return run(function, jobs, executor=args.executor, workers=args.workers,
                   scheduler=args.scheduler, desc=args.cmd, label=label)
    return runner


def cmd_synth(args):
    from synth import report

    from .cost import scaling_configurations

    targets = _grid_targets(args)
    if args.clock_ns is not None:
        return _close_timing(args, targets)
    if args.all:                  # the catalogue and the scaling sweeps of docs/cost.md
        targets += [(b, p, n) for n, (b, p) in scaling_configurations().items()
                    if n not in {t[2] for t in targets}]
    _components(targets)          # every parameter checked before anything runs
    # the largest first, so that no long job starts last (2 workers: it would run alone)
    configs = {name: (block, params) for block, params, name in
               sorted(targets, key=lambda t: _size(t[1]), reverse=True)}
    out = Path(args.output) if args.output else (
        build_root() / "reports" if args.all or args.docs or len(configs) > 1 else None)

    def partial(rows):            # a stopped run still leaves the finished rows
        if out is not None:
            report.write_json(rows, out)
    rows, failures = report.run(configs, known=all_configurations(), runner=_runner(args),
                                on_result=partial, cache=not args.no_cache)
    for name, error in failures.items():
        print(f"mxforge: {name}: {error}" if getattr(error, "limited", False) else
              f"mxforge: {name}: synthesis failed: {error}", file=sys.stderr)
    if out is None:
        if rows:                  # one configuration: print it (nothing when it failed)
            print(report.render_markdown(rows), end="")
    else:
        paths = report.write(rows, out, echo=False)
        print("reports: " + ", ".join(str(p) for p in paths.values()))
    if args.docs:
        from . import cost
        iso = _iso_frequency(args, out) if args.all else None
        written = cost.write_docs(rows, iso=iso)
        print("docs: " + ", ".join(written))
    return 1 if failures else 0


def _iso_frequency(args, out):
    """The iso-frequency comparisons of docs/cost.md: every configuration of every comparison
    closed at each of the comparison's clocks (``mxforge.closure.iso_job``); their rows are
    also written to ``<out>/iso.json`` and ``<out>/iso.md``. A configuration the flow could not
    synthesize leaves its comparison's section as it was."""
    from synth import report

    from .closure import iso_job
    from .cost import iso_jobs

    rows = []
    for job, result in _runner(args, label=lambda j: f"{j[0]} at {j[3]:g} ns")(
            iso_job, iso_jobs(cache=not args.no_cache)):
        if isinstance(result, Exception):
            print(f"mxforge: {job[0]} at {job[3]:g} ns: synthesis failed: {result}",
                  file=sys.stderr)
            continue
        rows.append(result)
    out.mkdir(parents=True, exist_ok=True)
    (out / "iso.json").write_text(json.dumps(
        [{k: v for k, v in r.items() if k not in ("modules", "cell_types")} for r in rows],
        indent=1, sort_keys=True) + "\n")
    md = [report.render_comparisons([r for r in rows if r["clock_ns"] == clock], [c], clock)
          for c in COMPARISONS for clock in c.clocks]
    (out / "iso.md").write_text("# Comparisons at one clock\n\n" + "\n".join(md))
    return rows


def _close_timing(args, targets):
    """``synth --clock-ns T``: the fewest register cuts with which each target meets T
    (:mod:`mxforge.closure`); exit status 1 if one cannot."""
    from .closure import close_job

    if not 0 < args.clock_ns < 1e6:
        raise ParameterError(f"--clock-ns must be a positive number of nanoseconds, not "
                             f"{args.clock_ns:g}")
    if args.docs or args.output:
        raise ParameterError("--clock-ns reports the search; it takes neither --docs nor "
                             "--output")
    from synth import flow
    if flow.liberty_path() is None or flow.sta_path() is None:
        raise ParameterError("--clock-ns needs the Liberty flow: install the Debian packages "
                             "qflow-tech-osu018 (or set MXFORGE_LIBERTY) and opensta")
    _components(targets)
    jobs = [(name, block, params, args.clock_ns, not args.no_cache)
            for block, params, name in targets]
    missed = failed = 0
    for job, result in _runner(args)(close_job, jobs):
        if isinstance(result, ParameterError):
            raise result
        if isinstance(result, Exception):
            failed += 1
            print(f"mxforge: {job[0]}: synthesis failed: {result}", file=sys.stderr)
            continue
        missed += not result.met
        for p in result.probes:
            delay = "—" if p.delay_ns is None else f"{p.delay_ns:.2f} ns"
            print(f"  {p.config}: {delay}, {p.flipflops} FFs, {_n_um2(p.area_um2)}, latency "
                  f"{p.latency}{' (cached)' if p.cached else ''}")
        print(result.describe())
    return 1 if missed or failed else 0


def _n_um2(v):
    return "— µm²" if v is None else f"{v:,.0f} µm²"


def cmd_sim(args):
    from sim import harness, tools

    from . import failures

    targets = _grid_targets(args)
    if args.sweep:
        if args.vectors or args.failures:
            raise ParameterError("--sweep runs the plan's vectors; it takes neither --vectors "
                                 "nor --failures")
        return _sim_sweep(args, targets)
    ok, reason = tools.available(args.backend)
    if not ok:
        raise ParameterError(f"backend {args.backend} is not available: {reason}")
    if args.vectors and (len(targets) != 1 or args.exhaustive or args.n is not None):
        raise ParameterError("--vectors runs the vectors of its file on one configuration; it "
                             "takes no --all, --grid, --exhaustive or -n")
    if args.failures and len(targets) != 1:
        raise ParameterError(f"--failures names one file, for one configuration, not for "
                             f"{len(targets)}; without it each writes its own file")
    if args.failures and Path(args.failures).is_dir():
        raise ParameterError(f"--failures must name a file, not the directory "
                             f"{args.failures!r}")
    for block, params, name in targets:
        size = block.exhaustive_size(**params)
        if args.exhaustive and size is None:
            raise ParameterError(f"{name}: the input space is too large for --exhaustive")
    failed = 0
    for block, params, name, component in _components(targets):
        if args.vectors:
            inputs = failures.load(args.vectors, block, params, name, component)
        else:
            inputs = block.vectors(seed=args.seed, n=10000 if args.n is None else args.n,
                                   exhaustive=args.exhaustive, params=params)
        try:
            result = harness.check(block, params, inputs, backend=args.backend,
                                   stalls=not args.no_stalls, seed=args.seed, dut=component)
        except harness.GoldenMismatch as e:     # report, failing vectors, replay command
            failed += failures.report_mismatch(e, args.failures)
            continue
        except harness.SimulationError as e:    # tool failure, hang, protocol, X/Z
            failed += 1
            print(f"mxforge: {failures.one_line(e)}", file=sys.stderr)
            continue
        except AssertionError as e:             # fields differ, or lint findings (listed)
            failed += 1
            print(f"mxforge: {e}", file=sys.stderr)
            continue
        source = f" from {args.vectors}" if args.vectors else ""
        print(f"{name}: {result.stats['vectors']} vectors{source} match golden on "
              f"{args.backend}")
    return 1 if failed else 0


def _sim_sweep(args, targets):
    """``--sweep`` (make sweep): every target on every installed backend with every vector,
    nothing capped, in parallel with progress; missing backends are named and skipped."""
    from sim import plan, tools

    backends = [b for b in tools.BACKENDS if tools.available(b)[0]]
    for b in tools.BACKENDS:
        if b not in backends:
            print(f"mxforge: {b} is not available ({tools.available(b)[1]}); the sweep runs "
                  f"without it", file=sys.stderr)
    jobs = [(block, params, name, b, True) for block, params, name in targets for b in backends]
    failed = 0
    runner = _runner(args, label=lambda job: f"{job[2]} on {job[3]}")
    for job, result in runner(plan.execute, jobs):
        if isinstance(result, Exception):
            failed += 1
            print(f"mxforge: {job[2]} on {job[3]}: {result}", file=sys.stderr)
    print(f"{len(jobs) - failed} of {len(jobs)} runs match golden")
    return 1 if failed else 0


def cmd_lint(args):
    from sim import lint

    for block, params, name, component in _components(_targets(args)):
        try:
            notes = lint.lint_all(to_verilog(component, name), name)
        except lint.LintError as e:
            print(f"mxforge: lint failed: {e}", file=sys.stderr)
            return 1
        print(f"{name}: lint clean" + "".join(f" ({n})" for n in notes))
    return 0


def cmd_quantize(args):
    """``mxforge quantize FILE.npy --format NAME -o OUT.npz`` (docs/quantize.md): codes,
    scales, values and the error metrics of a tensor; bad input is one line, nothing written."""
    from .tensors import QuantizeError, run_cli

    try:
        print(run_cli(args.file, args.format, args.output, block=args.block,
                      rounding=args.rounding, axis=args.axis, sets=args.set or (),
                      nonfinite=args.nonfinite))
    except QuantizeError as e:
        raise ParameterError(str(e)) from None
    return 0


def cmd_docs(args):
    from . import docs

    changed = docs.update(check=args.check)
    if args.check:
        if changed:
            print("mxforge: generated documentation is out of date (run `mxforge docs`): "
                  + "; ".join(changed), file=sys.stderr)
            return 1
        print("generated documentation is up to date")
        return 0
    print("rewrote: " + "; ".join(changed) if changed else "generated documentation unchanged")
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="mxforge", description=__doc__)
    p.add_argument("--version", action="version", version=f"mxforge {generator_version()}")
    p.add_argument("--build-dir", metavar="DIR", default=None,
                   help="caches and build products (default: build/ in a source checkout, "
                        "else $XDG_CACHE_HOME/mxforge; also $MXFORGE_BUILD)")
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="blocks, parameters and named configurations")
    ls.add_argument("--markdown", action="store_true", help="as the README's Markdown table")

    def target(sp):
        sp.add_argument("name", nargs="?", help="block or configuration name")
        sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="parameter override")
        sp.add_argument("--all", action="store_true", help="every named configuration")

    def sweep_options(sp):
        sp.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                        help="every combination of these values (repeatable)")
        sp.add_argument("--executor", default="local", choices=("local", "dask"),
                        help="a local process pool (default) or a Dask cluster")
        sp.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: the CPU count)")
        sp.add_argument("--scheduler", default=None,
                        help="Dask scheduler address (default: a local cluster)")

    v = sub.add_parser("verilog", help="write Verilog, its interface description (NAME.json) "
                                       "and a SystemVerilog wrapper (NAME_wrap.sv)")
    target(v)
    v.add_argument("-o", "--output", default="build/rtl")
    v.add_argument("--interface", default="named", choices=("named", "axis"),
                   help="the wrapper in NAME_wrap.sv: NAME_wrap with named struct ports "
                        "(default) or NAME_axis with AXI4-Stream ports (docs/integration.md)")
    s = sub.add_parser("synth", help="synthesize and report area/depth/timing/power/energy")
    target(s)
    sweep_options(s)
    s.add_argument("-o", "--output", default=None,
                   help="report directory (default with --all or a grid: build/reports; else "
                        "print only)")
    s.add_argument("--no-cache", action="store_true", help="rerun the tools")
    s.add_argument("--docs", action="store_true",
                   help="also write the cost tables of docs/ (make synth)")
    s.add_argument("--clock-ns", type=float, default=None, metavar="T",
                   help="timing closure: the fewest register cuts (stages) with which each "
                        "target meets a clock of T ns; exit status 1 if one cannot")
    m = sub.add_parser("sim", help="simulate against the golden model")
    target(m)
    sweep_options(m)
    m.add_argument("--sweep", action="store_true",
                   help="every vector on every installed backend, nothing capped (make sweep)")
    m.add_argument("--backend", default="amaranth", choices=("amaranth", "verilator", "icarus"))
    m.add_argument("--exhaustive", action="store_true")
    m.add_argument("-n", type=int, default=None, help="random vectors (default 10000)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--no-stalls", action="store_true")
    m.add_argument("--vectors", metavar="FILE", default=None,
                   help="run exactly the input vectors of a failures file (written on a "
                        "mismatch) instead of generating them")
    m.add_argument("--failures", metavar="PATH", default=None,
                   help="where a mismatch writes its failing vectors (default "
                        "<build>/failures/<config>-<backend>-seed<S>.npz)")
    lt = sub.add_parser("lint", help="verilator --lint-only -Wall and iverilog parse")
    target(lt)
    dc = sub.add_parser("docs", help="rewrite the generated tables of README.md and docs/")
    dc.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 if a generated section is out of date")
    # values are checked by mxforge.tensors (one-line errors), so no argparse types/choices
    qz = sub.add_parser("quantize", help="quantize a tensor (.npy) to a block format: codes, "
                        "scales, values and error metrics to .npz (docs/quantize.md)")
    qz.add_argument("file", nargs="?", metavar="FILE.npy",
                    help="one float16/float32/float64 array (float64: FP32 values only)")
    qz.add_argument("--format", help="an MX element (mx_quantize's elem choices, mxforge "
                    "list), bfp or opal")
    qz.add_argument("--block", help="block size along --axis (default: the block's: 32, "
                    "bfp 54, opal 128); must divide the axis")
    qz.add_argument("--rounding", help="rne, rna, rtz (bfp: rtz, rne, stochastic; default: "
                    "the block's)")
    qz.add_argument("--axis", default="-1", help="the axis cut into blocks (default -1)")
    qz.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="format option, catalogue spelling (docs/quantize.md), e.g. "
                         "scale_rounding=ceil, m=8, k=2")
    qz.add_argument("--nonfinite", default="error",
                    help="error (default) or nan_block: NaN/Inf the format cannot hold as an "
                         "element make their block NaN, as in the hardware")
    qz.add_argument("-o", "--output", metavar="OUT.npz", help="the output file")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.build_dir is not None:   # read by hw.lib.export.build_root, here and in workers
        os.environ["MXFORGE_BUILD"] = str(Path(args.build_dir).expanduser().resolve())
    try:
        return {"list": cmd_list, "verilog": cmd_verilog, "synth": cmd_synth, "sim": cmd_sim,
                "lint": cmd_lint, "docs": cmd_docs, "quantize": cmd_quantize}[args.cmd](args)
    except ParameterError as e:
        print(f"mxforge: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
