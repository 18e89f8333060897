"""Failures a user can act on (docs/verification.md, "When a simulation fails"): a golden
mismatch in `mxforge sim` prints its report without a traceback, writes the failing vectors to a
file and prints the one command that replays exactly them; a simulation or synthesis tool
failure is one line. Broken golden models and handshakes are test doubles."""
import dataclasses
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.lib.block import Block
from mxforge import failures
from mxforge.catalogue import BLOCKS, all_configurations
from mxforge.cli import build_parser, main, resolve
from sim import harness
from sim.tools import require, unavailable

MX_DECODE = BLOCKS["mx_decode"]
CONFIG = "mx_decode_e4m3"
PARAMS = all_configurations()[CONFIG][1]
SEED, N = 3, 200


def _broken_decode(inputs, **params):
    """mx_decode's golden model with the low significand bit flipped for every code whose low
    nibble is 5: wrong on those vectors whatever their neighbours."""
    out = {k: np.array(v, copy=True) for k, v in MX_DECODE.golden(inputs, **params).items()}
    out["sig"][np.asarray(inputs["code"]) % 16 == 5] ^= 1
    return out


def _wrong_vectors():
    """The run's inputs and the mask of the vectors the broken golden model gets wrong (from
    the corruption rule above, not from the harness)."""
    inputs = MX_DECODE.vectors(seed=SEED, n=N, params=PARAMS)
    return inputs, np.asarray(inputs["code"]) % 16 == 5


@pytest.fixture
def broken(monkeypatch):
    """The catalogue's mx_decode with the broken golden model; ``broken.restore()`` puts the
    real one back before the test ends."""
    monkeypatch.setitem(BLOCKS, "mx_decode", dataclasses.replace(MX_DECODE, golden=_broken_decode))

    class Handle:
        @staticmethod
        def restore():
            BLOCKS["mx_decode"] = MX_DECODE
    return Handle


def _replay_argv(stderr):
    """The replay command printed after a mismatch, as ``main`` arguments."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("mxforge sim ")]
    assert len(lines) == 1, stderr
    argv = shlex.split(lines[0])
    assert argv[:2] == ["mxforge", "sim"]
    return argv[1:]


def _fields(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: np.array(z[k]) for k in z.files}


def test_mismatch_writes_failing_vectors_and_replays_them(broken, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MXFORGE_BUILD", str(tmp_path))
    inputs, wrong = _wrong_vectors()
    k = int(wrong.sum())
    assert 0 < k < N
    status = main(["sim", CONFIG, "-n", str(N), "--seed", str(SEED)])
    out, err = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in err + out
    assert f"{CONFIG} on amaranth: {k} of {N} vectors mismatch (fields sig" in err
    first = int(np.flatnonzero(wrong)[0])
    assert f"vector {first}: inputs {{'scale': {int(inputs['scale'][first])}, 'code': " \
           f"{int(inputs['code'][first])}}}" in err
    # the file holds the failing vectors, all of them and only them
    path = tmp_path / "failures" / f"{CONFIG}-amaranth-seed{SEED}.npz"
    assert path.is_file() and str(path) in err
    stored = _fields(path)
    assert sorted(stored) == ["in.code", "in.scale", "meta"]
    np.testing.assert_array_equal(stored["in.scale"], inputs["scale"][wrong])
    np.testing.assert_array_equal(stored["in.code"], inputs["code"][wrong])
    # the printed command replays exactly them: the mismatch again, on every one of them ...
    argv = _replay_argv(err)
    assert argv[argv.index("--vectors") + 1] == str(path)
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert f"{CONFIG} on amaranth: {k} of {k} vectors mismatch" in err
    assert "Traceback" not in err
    # ... and, with the golden model repaired, a pass (also named through --set)
    broken.restore()
    assert main(argv) == 0
    assert f"{CONFIG}: {k} vectors from {path} match golden on amaranth" in capsys.readouterr().out
    assert main(["sim", "mx_decode", "--set", "elem=e4m3", "--vectors", str(path)]) == 0


@pytest.mark.parametrize("backend", ["verilator", "icarus"])
def test_replay_on_a_compiled_simulator(backend, broken, capsys, tmp_path):
    """The file of an Amaranth failure replays on a compiled simulator (the same command with
    another --backend): the same vectors mismatch there, and pass once the golden is fixed."""
    require(backend)
    path = tmp_path / "f.npz"
    assert main(["sim", CONFIG, "-n", str(N), "--seed", str(SEED), "--failures", str(path)]) == 1
    argv = _replay_argv(capsys.readouterr().err)
    argv[argv.index("--backend") + 1] = backend
    argv += ["--failures", str(tmp_path / "again.npz")]
    k = int(_wrong_vectors()[1].sum())
    assert main(argv) == 1
    assert f"{CONFIG} on {backend}: {k} of {k} vectors mismatch" in capsys.readouterr().err
    np.testing.assert_array_equal(_fields(tmp_path / "again.npz")["in.code"],
                                  _fields(path)["in.code"])
    broken.restore()
    assert main(argv) == 0
    assert f"{k} vectors from {path} match golden on {backend}" in capsys.readouterr().out


def _mismatch(config, inputs, **kw):
    block, params = all_configurations()[config]
    n = len(next(iter(inputs.values())))
    return harness.GoldenMismatch(
        "report", config=config, block=block.name, params=params, backend="amaranth",
        seed=7, stalls=True, inputs=inputs, vectors=np.arange(n), mismatching=[0], total=n,
        **kw)


@pytest.fixture
def good_file(tmp_path):
    inputs, _ = _wrong_vectors()
    return failures.save(_mismatch(CONFIG, {k: v[:4] for k, v in inputs.items()}),
                         tmp_path / "good.npz")


@pytest.mark.parametrize("case, needle", [
    ("missing", "no such file"),
    ("junk", "not a failures file written by mxforge sim (not a NumPy .npz archive)"),
    ("plain npz", "not a failures file written by mxforge sim (no meta entry)"),
    ("other config", "the file holds vectors of 'mx_decode_e4m3', not of 'mx_decode_e5m2'"),
    ("too wide", "its vectors do not fit mx_decode_e4m3's input payload (payload field 'code' "
                 "value 300 does not fit unsigned(8))"),
    ("missing field", "payload field 'code' is missing"),
    ("with -n", "--vectors runs the vectors of its file on one configuration"),
])
def test_bad_vectors_file_is_one_line_exit_2(case, needle, good_file, tmp_path, capsys):
    path, name, extra = tmp_path / "bad.npz", CONFIG, []
    stored = _fields(good_file)
    if case == "junk":
        path.write_text("not an archive\n")
    elif case == "plain npz":
        np.savez(path, x=np.arange(3))
    elif case == "other config":
        path, name = good_file, "mx_decode_e5m2"
    elif case == "too wide":
        stored["in.code"][1] = 300
        np.savez(path, **stored)
    elif case == "missing field":
        del stored["in.code"]
        np.savez(path, **stored)
    elif case == "with -n":
        path, extra = good_file, ["-n", "5"]
    assert main(["sim", name, "--vectors", str(path), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mxforge: error: ") and needle in err[0], err


@pytest.mark.parametrize("block, overrides", [
    ("mx_decode", {"elem": "e2m1", "pipeline": True}),
    ("bfp_pe", {"modes": (8, 4), "stages": 1}),
])
def test_replay_command_spells_an_unnamed_configuration(block, overrides, tmp_path):
    """A configuration that is not catalogued is spelled as its block and --set overrides that
    name it again; --no-stalls is kept."""
    params = BLOCKS[block].params(**overrides)
    config = BLOCKS[block].config_name(**params)
    assert config not in all_configurations()
    error = harness.GoldenMismatch("r", config=config, block=block, params=params,
                                   backend="icarus", seed=5, stalls=False, inputs={})
    argv = shlex.split(failures.replay_command(error, tmp_path / "a b.npz"))
    args = build_parser().parse_args(argv[1:])
    assert resolve(args.name, args.set)[2] == config
    assert (args.backend, args.seed, args.no_stalls) == ("icarus", 5, True)
    assert args.vectors == str(tmp_path / "a b.npz")


LOG2 = "log2_softmax_n8_in_bits12_frac_bits6_exp_bits10_out_bits6"


def test_record_block_keeps_whole_records():
    """log2_softmax streams score vectors of n = 8 beats: the file holds every record with a
    mismatching beat, whole, and nothing else."""
    block, params = all_configurations()[LOG2]
    rb = block.record_beats(**params)

    def broken(inputs, **p):      # beat 3 of every record whose first score is odd
        out = {k: np.array(v, copy=True) for k, v in block.golden(inputs, **p).items()}
        first = np.asarray(inputs["x"]).reshape(-1, rb)[:, 0]
        out["y"].reshape(-1, rb)[first % 2 == 1, 3] ^= 1
        return out
    inputs = block.vectors(seed=2, n=16, params=params)
    records = np.asarray(inputs["x"]).reshape(-1, rb)
    odd = records[:, 0] % 2 == 1
    assert 0 < odd.sum() < len(records)
    with pytest.raises(harness.GoldenMismatch) as info:
        harness.check(dataclasses.replace(block, golden=broken), params, inputs)
    e = info.value
    assert e.whole == "" and e.total == records.size
    np.testing.assert_array_equal(e.inputs["x"], records[odd].reshape(-1))
    np.testing.assert_array_equal(e.mismatching, np.flatnonzero(odd) * rb + 3)


@pytest.mark.parametrize("config, why", [
    ("mxsf_tile_buffer_rows4_depth16_k16_e2m1", "keeps state across vectors"),
    ("bfp_pe_modes4", "do not map to input vectors"),
])
def test_stateful_streams_keep_the_whole_input(config, why):
    """A tile store's reads depend on earlier writes, a PE's output beats are not one per input
    beat: their failing vectors do not stand alone, so the replay keeps the whole input."""
    block, params = all_configurations()[config]
    inputs = block.vectors(seed=1, n=40, params=params)
    expected = block.golden(inputs, **params)
    n_in = len(next(iter(inputs.values())))
    n_out = len(next(iter(expected.values())))
    bad = np.zeros(n_out, dtype=bool)
    bad[[n_out // 3, n_out - 1]] = True
    keep, reason = harness._replay_vectors(block, params, inputs, expected, bad, n_in)
    np.testing.assert_array_equal(keep, np.arange(n_in))
    assert why in reason


class Dup(wiring.Component):
    """A one-stage stream register that never clears o.valid: the last beat repeats."""

    def __init__(self, width=8):
        layout = data.StructLayout({"x": width})
        self.in_layout = self.out_layout = layout
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    latency = 1

    def elaborate(self, platform):
        m = Module()
        take = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(take)
        with m.If(take & self.i.valid):
            m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(1)]
        return m


DUP = Block(name="test_dup", generator=Dup,
            golden=lambda inputs, width: {"x": np.asarray(inputs["x"])},
            stimulus=lambda rng, n, exhaustive=False, width=8: {"x": rng.integers(0, 256, n)},
            exhaustive_size=lambda width: 256, defaults={"width": 8})


@pytest.mark.parametrize("backend", ["amaranth", "icarus"])
def test_simulation_error_is_one_line_exit_1(backend, monkeypatch, tmp_path, capsys):
    require(backend)
    monkeypatch.setenv("MXFORGE_BUILD", str(tmp_path))
    monkeypatch.setitem(BLOCKS, "test_dup", DUP)
    assert main(["sim", "test_dup", "-n", "30", "--backend", backend]) == 1
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"mxforge: test_dup on {backend}: ")
    assert "more output beats than" in lines[0] or "output beats, 30 expected" in lines[0]
    if backend != "amaranth":     # the cocotb run's log is named, and there
        assert Path(lines[0].rsplit("(log ", 1)[1].rstrip(")")).is_file()
    assert not (tmp_path / "failures").exists()      # not a mismatch: no vectors file


# -- synthesis ---------------------------------------------------------------------------------

def _synth_error_line(err):
    """The one line of a synthesis failure: stderr holds it and the runner's progress line."""
    lines = [ln for ln in err.strip().splitlines() if not re.match(r"\[\d+/\d+\] ", ln)]
    assert len(lines) == 1 and lines[0].startswith("mxforge: "), err
    return lines[0]


def test_yosys_failure_is_one_line_with_its_log(monkeypatch, tmp_path, capsys):
    """A Liberty Yosys cannot read (it has a buffer cell, so the flow gets as far as Yosys)."""
    lib = tmp_path / "bad.lib"
    lib.write_text('library (bad) { cell (BUF) { area : 1; pin (A) { direction : input; }\n'
                   'pin (Y) { direction : output; function : "A"; } } syntax error\n')
    monkeypatch.setenv("MXFORGE_BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("MXFORGE_LIBERTY", str(lib))
    assert main(["synth", CONFIG, "--no-cache", "--workers", "1"]) == 1
    line = _synth_error_line(capsys.readouterr().err)
    assert line.startswith(f"mxforge: {CONFIG}: synthesis failed: yosys (liberty) failed with "
                           f"exit status ")
    assert "ERROR: Syntax error in liberty file" in line
    log = Path(line.split("; log ", 1)[1].split(" ", 1)[0])
    assert log.name == "liberty.log" and log.is_file() and "ERROR" in log.read_text()


def test_opensta_failure_is_one_line_with_its_log(monkeypatch, tmp_path, capsys):
    """An `sta` that fails (a script first on PATH) after Yosys mapped the design."""
    from synth import flow
    if flow.liberty_path() is None:
        unavailable("no Liberty (install qflow-tech-osu018 or set MXFORGE_LIBERTY)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sta = bin_dir / "sta"
    sta.write_text("#!/bin/sh\necho 'Error: no license for this test' >&2\nexit 1\n")
    sta.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("MXFORGE_BUILD", str(tmp_path / "build"))
    assert main(["synth", CONFIG, "--no-cache", "--workers", "1"]) == 1
    line = _synth_error_line(capsys.readouterr().err)
    assert line.startswith(f"mxforge: {CONFIG}: synthesis failed: OpenSTA failed (exit status "
                           f"1): Error: no license for this test; log ")
    log = Path(line.split("; log ", 1)[1].split(" ", 1)[0])
    assert log.name == "sta.log" and log.is_file()
