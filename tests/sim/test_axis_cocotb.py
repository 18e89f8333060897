"""The AXI4-Stream cocotb example (examples/cocotb_axis, docs/integration.md): it passes on
Verilator scoring every output beat, and a deliberately corrupted expectation makes it fail.

One Verilator build (in a temporary directory) serves both runs, so they are one test.
"""
import importlib.util
import json
from pathlib import Path

from mxforge.catalogue import all_configurations
from sim import harness
from sim.tools import require, unavailable

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "cocotb_axis"
CONFIG = "mx_quantize_e4m3_k8_rna"
#: random vectors (the block's corner vectors follow: a few hundred beats in all)
N = 100
SEED = 3
#: the beat and field whose expected value the second run corrupts
CORRUPT_BEAT, CORRUPT_FIELD = 37, "codes[5]"


def _example_runner():
    spec = importlib.util.spec_from_file_location("cocotb_axis_run", EXAMPLE / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results(path):
    from cocotb_tools.check_results import get_results
    return get_results(Path(path))


def _vector_count():
    block, params = all_configurations()[CONFIG]
    inputs = block.vectors(seed=SEED, n=N, params=params)
    return len(next(iter(inputs.values())))


def test_axis_example_scores_every_beat_and_can_fail(tmp_path):
    """The example on Verilator: cocotb reports it passed, every beat was scored (as many as
    there are vectors), no extra beat came and both sides really paused. Then, on the same
    build, one expected bit flipped: it fails at that beat, naming it and the field, and the
    hardware's value is the golden model's (the flipped bit is the only difference)."""
    require("verilator")
    try:
        import cocotbext.axi  # noqa: F401
    except ImportError:
        unavailable("cocotbext-axi is not installed (it is in the test extra: "
                    "pip install -e '.[test]')")
    runner = _example_runner()
    runner.generate(CONFIG, tmp_path)
    # reuse the harness's cache of Verilator's design-independent runtime objects (it halves
    # the build); the example's own build() works without it
    with harness._verilator_objcache(runner.VERILATOR_ARGS):
        runner.build(CONFIG, tmp_path, "verilator")

    results, summary = runner.run(CONFIG, tmp_path, "verilator", n=N, seed=SEED,
                                  test_dir=tmp_path / "pass")
    assert _results(results) == (1, 0), summary.get("message") or json.dumps(summary)
    n = _vector_count()
    assert n > 200
    assert summary["ok"] and summary["mismatch"] is None
    assert summary["beats_expected"] == summary["beats_scored"] == summary["vectors"] == n
    assert summary["fields_per_beat"] == 9          # scale + 8 codes
    assert summary["extra_beats"] == 0
    assert summary["source_pauses"] > 0 and summary["sink_pauses"] > 0
    assert summary["cycles"] > n                    # back-pressure cost cycles

    results, summary = runner.run(CONFIG, tmp_path, "verilator", n=N, seed=SEED,
                                  corrupt=f"{CORRUPT_BEAT}:{CORRUPT_FIELD}",
                                  test_dir=tmp_path / "corrupt")
    assert _results(results) == (1, 1)
    assert not summary["ok"]
    assert summary["beats_scored"] == CORRUPT_BEAT
    bad = summary["mismatch"]
    assert (bad["beat"], bad["field"]) == (CORRUPT_BEAT, CORRUPT_FIELD)
    assert bad["expected"] ^ bad["actual"] == 1
    assert f"output beat {CORRUPT_BEAT}, field {CORRUPT_FIELD}" in summary["message"]
