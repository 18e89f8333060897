"""``mxforge`` command line: list, verilog, synth, sim, lint — all driven by the catalogue."""
from __future__ import annotations

import argparse
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hw.lib.export import cached_verilog, to_verilog

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
    generator sources did not change), written to ``path``."""
    name, path = job
    block, params = all_configurations()[name]
    Path(path).write_text(cached_verilog(block, params, name))
    return path


def cmd_verilog(args):
    out = Path(args.output)
    if not args.all:
        (block, params, name, component), = _components(_targets(args))
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}.v"
        path.write_text(to_verilog(component, name))
        print(path)
        return 0
    # every configuration: in parallel, the slowest first, each from the Verilog cache (keyed
    # by the generator sources), so an unchanged tree is written again in seconds
    names = sorted(all_configurations(), key=_emit_cost, reverse=True)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(n, str(out / f"{n}.v")) for n in names]
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        paths = map(_emit, jobs)
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        paths = pool.map(_emit, jobs)
    for path in paths:
        print(path)
    return 0


def _emit_cost(name):
    """A rough ordering key for the emission time of a configuration: its input width."""
    block, params = all_configurations()[name]
    return sum(v if isinstance(v, int) and not isinstance(v, bool) else 1
               for v in params.values())


def cmd_synth(args):
    from synth import report
    from synth.flow import SynthesisError

    built = _components(_targets(args))
    targets = {name: (block, params) for block, params, name, _ in built}
    verilog = {name: to_verilog(component, name) for _, _, name, component in built}
    try:
        rows = report.run(targets, cache=not args.no_cache, known=all_configurations(),
                          verilog=verilog)
    except SynthesisError as e:
        print(f"mxforge: synthesis failed: {e}", file=sys.stderr)
        return 1
    if args.output is None and not args.all:
        print(report.render_markdown(rows), end="")  # one block: print, keep the full report
    else:
        paths = report.write(rows, args.output, comparisons=COMPARISONS)
        print("reports: " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_sim(args):
    from sim import harness, tools

    targets = _targets(args)
    ok, reason = tools.available(args.backend)
    if not ok:
        raise ParameterError(f"backend {args.backend} is not available: {reason}")
    for block, params, name in targets:
        size = block.exhaustive_size(**params)
        if args.exhaustive and size is None:
            raise ParameterError(f"{name}: the input space is too large for --exhaustive")
    for block, params, name, component in _components(targets):
        inputs = block.vectors(seed=args.seed, n=args.n, exhaustive=args.exhaustive,
                               params=params)
        harness.check(block, params, inputs, backend=args.backend, stalls=not args.no_stalls,
                      seed=args.seed, dut=component)
        count = len(next(iter(inputs.values())))
        print(f"{name}: {count} vectors match golden on {args.backend}")
    return 0


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
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="blocks, parameters and named configurations")
    ls.add_argument("--markdown", action="store_true", help="as the README's Markdown table")

    def target(sp):
        sp.add_argument("name", nargs="?", help="block or configuration name")
        sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="parameter override")
        sp.add_argument("--all", action="store_true", help="every named configuration")

    v = sub.add_parser("verilog", help="write Verilog")
    target(v)
    v.add_argument("-o", "--output", default="build/rtl")
    s = sub.add_parser("synth", help="synthesize and report area/depth/timing/power")
    target(s)
    s.add_argument("-o", "--output", default=None,
                   help="report directory (default with --all: build/reports; else print only)")
    s.add_argument("--no-cache", action="store_true", help="rerun the tools")
    m = sub.add_parser("sim", help="simulate against the golden model")
    target(m)
    m.add_argument("--backend", default="amaranth", choices=("amaranth", "verilator", "icarus"))
    m.add_argument("--exhaustive", action="store_true")
    m.add_argument("-n", type=int, default=10000, help="random vectors (default 10000)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--no-stalls", action="store_true")
    lt = sub.add_parser("lint", help="verilator --lint-only -Wall and iverilog parse")
    target(lt)
    dc = sub.add_parser("docs", help="rewrite the generated tables of README.md and docs/")
    dc.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 if a generated section is out of date")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return {"list": cmd_list, "verilog": cmd_verilog, "synth": cmd_synth, "sim": cmd_sim,
                "lint": cmd_lint, "docs": cmd_docs}[args.cmd](args)
    except ParameterError as e:
        print(f"mxforge: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
