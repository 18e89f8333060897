"""A cocotb testbench over AXI4-Stream for one mxforge block: copy it as the template for yours.

It drives the block's ``<name>_axis`` wrapper (``mxforge verilog NAME -o DIR --interface axis``
writes ``DIR/NAME.v``, ``DIR/NAME_wrap.sv`` and ``DIR/NAME.json``) with cocotbext-axi's
``AxiStreamSource`` and ``AxiStreamSink``, both pausing at random (seeded), and scores every
output beat field by field against mxforge's bit-exact golden model:

1. the stimulus and the expected outputs come from the catalogue
   (``block.vectors(...)``, ``block.golden(...)``);
2. ``NAME.json`` says where each payload field sits in ``tdata`` (name like ``codes[7]``, bit
   offset, width, signedness), so input fields are packed into ``tdata`` and output beats are
   unpacked into fields by name, with no knowledge of the layout in this file;
3. the first mismatch fails the test with the beat and the field named; the beat count is
   checked (a lost beat times out, an extra beat fails).

Settings (environment variables; ``run.py`` beside this file sets them):

``MXF_AXIS_CONFIG``
    Configuration name (``mxforge list``); default :data:`CONFIG`.
``MXF_AXIS_DIR``, ``MXF_AXIS_JSON``
    Path of ``NAME.json``; default ``NAME.json`` in the directory ``MXF_AXIS_DIR`` (default: the
    run directory, which relative paths are relative to).
``MXF_AXIS_N``, ``MXF_AXIS_SEED``
    Random vectors (the block's corner vectors follow them) and the seed of the vectors and of
    both pause patterns; default 200 and 1.
``MXF_AXIS_PAUSE``
    Probability per cycle that the source withholds ``tvalid`` and, independently, that the sink
    withholds ``tready``; default 0.3.
``MXF_AXIS_SUMMARY``
    Where the JSON summary goes (beats expected and scored, the first mismatch); default
    ``axis_summary.json`` in the run directory.
``MXF_AXIS_CORRUPT``
    ``BEAT:FIELD`` (or ``BEAT`` for the first output field): flip the least significant bit of
    that *expected* value, to see the scoring fail.
"""
import json
import logging
import os
import random
import warnings
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from mxforge.catalogue import all_configurations

# cocotbext-axi 0.1.28 still calls APIs that cocotb 2.x deprecates (setimmediatevalue, Edge,
# Task.kill); they work, so their warnings are noise in this test's log (docs/integration.md)
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.axi\.")

#: the configuration this template tests unless ``MXF_AXIS_CONFIG`` says otherwise
CONFIG = "mx_quantize_e4m3_k8_rna"
PERIOD_NS = 10


def _settings() -> dict:
    config = os.environ.get("MXF_AXIS_CONFIG", CONFIG)
    directory = Path(os.environ.get("MXF_AXIS_DIR", "."))
    return {
        "config": config,
        "json": Path(os.environ.get("MXF_AXIS_JSON", directory / f"{config}.json")),
        "n": int(os.environ.get("MXF_AXIS_N", "200")),
        "seed": int(os.environ.get("MXF_AXIS_SEED", "1")),
        "pause": float(os.environ.get("MXF_AXIS_PAUSE", "0.3")),
        "summary": Path(os.environ.get("MXF_AXIS_SUMMARY", "axis_summary.json")),
        "corrupt": os.environ.get("MXF_AXIS_CORRUPT", ""),
    }


# --------------------------------------------------------------------------------------------
# NAME.json: where each field sits in tdata


def _stream(desc: dict, side: str) -> tuple[int, list[dict]]:
    """Payload width and fields (``name``, ``offset``, ``width``, ``signed``) of stream ``side``
    (``"i"`` or ``"o"``) of the JSON description."""
    stream = desc["streams"][side]
    return int(stream["width"]), list(stream["fields"])


def _column(values: dict, f: dict) -> list:
    """Field ``f`` of the JSON (``f["field"]``: dotted path, ``f["index"]``: array indices;
    ``codes[7]`` is ``values["codes"][:, 7]``, ``a.b`` is ``values["a"]["b"]``) taken from a
    golden-model dict of arrays: one Python int per beat."""
    v = values
    for key in f["field"].split("."):
        if not isinstance(v, dict) or key not in v:
            raise KeyError(f"the golden model has no field {f['name']!r} "
                           f"(it has {', '.join(v) if isinstance(v, dict) else 'no fields'})")
        v = v[key]
    return [int(x) for x in np.asarray(v)[(slice(None),) + tuple(f["index"])].tolist()]


def _pack(fields: list[dict], values: dict, beats: int) -> list[int]:
    """tdata of every beat: each field's value at its bit offset (two's complement if
    signed); the pad bits above the payload stay zero."""
    words = [0] * beats
    for f in fields:
        mask = (1 << f["width"]) - 1
        for k, v in enumerate(_column(values, f)):
            words[k] |= (v & mask) << f["offset"]
    return words


def _field(word: int, f: dict) -> int:
    v = (word >> f["offset"]) & ((1 << f["width"]) - 1)
    if f["signed"] and v >> (f["width"] - 1):
        v -= 1 << f["width"]
    return v


# --------------------------------------------------------------------------------------------
# the test


def _pauses(rng: random.Random, p: float, count: dict, key: str):
    """cocotbext-axi pause generator: one bool per clock cycle, True = pause (counted in
    ``count[key]``, so the summary shows that back-pressure really happened)."""
    while True:
        pause = rng.random() < p
        count[key] += pause
        yield pause


def _corrupt(spec: str, expected: dict, out_fields: list[dict], beats: int):
    """Flip the LSB of one expected value (``BEAT[:FIELD]``); returns (beat, field) or None."""
    if not spec:
        return None
    beat, _, name = spec.partition(":")
    name = name or out_fields[0]["name"]
    if not beat.isdigit() or int(beat) >= beats:
        raise ValueError(f"MXF_AXIS_CORRUPT beat must be 0..{beats - 1}, not {beat!r}")
    if name not in expected:
        raise ValueError(f"MXF_AXIS_CORRUPT field must be one of {', '.join(expected)}, "
                         f"not {name!r}")
    expected[name][int(beat)] ^= 1
    return int(beat), name


@cocotb.test()
async def axis_block(dut):
    """Stream the golden model's vectors through ``<name>_axis`` and score every output beat."""
    s = _settings()
    summary = {"config": s["config"], "vectors": 0, "beats_expected": 0, "beats_scored": 0,
               "fields_per_beat": 0, "extra_beats": 0, "seed": s["seed"], "pause": s["pause"],
               "corrupt": None, "cycles": 0, "source_pauses": 0, "sink_pauses": 0,
               "mismatch": None, "ok": False, "message": ""}

    def fail(message, **details):
        summary["message"] = message
        summary.update(details)
        raise AssertionError(message)

    try:
        configs = all_configurations()
        if s["config"] not in configs:
            fail(f"MXF_AXIS_CONFIG must name a configuration (mxforge list), not "
                 f"{s['config']!r}")
        block, params = configs[s["config"]]
        if not s["json"].is_file():
            fail(f"{s['json']} not found (run directory {Path.cwd()}): write it with `mxforge "
                 f"verilog {s['config']} -o DIR --interface axis` and set MXF_AXIS_DIR=DIR")
        desc = json.loads(s["json"].read_text())
        in_width, in_fields = _stream(desc, "i")
        out_width, out_fields = _stream(desc, "o")
        inputs = block.vectors(seed=s["seed"], n=s["n"], params=params)
        golden = block.golden(inputs, **params)
        n_in = len(_column(inputs, in_fields[0]))
        expected = {f["name"]: _column(golden, f) for f in out_fields}
        n_out = len(next(iter(expected.values())))
        try:
            corrupted = _corrupt(s["corrupt"], expected, out_fields, n_out)
        except ValueError as e:
            fail(str(e))
        summary.update(vectors=n_in, beats_expected=n_out, fields_per_beat=len(out_fields),
                       corrupt=corrupted)

        # AXI4-Stream tdata is whole bytes: the payload, zero-extended
        s_bytes, m_bytes = len(dut.s_axis_tdata) // 8, len(dut.m_axis_tdata) // 8
        for side, width, nbytes in (("s_axis", in_width, s_bytes), ("m_axis", out_width, m_bytes)):
            if nbytes != (width + 7) // 8:
                fail(f"{side}_tdata has {nbytes} bytes, the {width}-bit payload needs "
                     f"{(width + 7) // 8}")

        Clock(dut.aclk, PERIOD_NS, unit="ns").start()
        source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk,
                                 dut.aresetn, reset_active_level=False)
        sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk,
                             dut.aresetn, reset_active_level=False)
        # cocotbext-axi logs every frame at INFO: one line per beat is noise (and time) here
        source.log.setLevel(logging.WARNING)
        sink.log.setLevel(logging.WARNING)
        # two independent seeded streams: the source's tvalid gaps, the sink's tready gaps
        source.set_pause_generator(
            _pauses(random.Random(2 * s["seed"]), s["pause"], summary, "source_pauses"))
        sink.set_pause_generator(
            _pauses(random.Random(2 * s["seed"] + 1), s["pause"], summary, "sink_pauses"))

        dut.aresetn.value = 0
        await ClockCycles(dut.aclk, 4)
        dut.aresetn.value = 1
        await ClockCycles(dut.aclk, 1)
        for word in _pack(in_fields, inputs, n_in):
            source.send_nowait(AxiStreamFrame(word.to_bytes(s_bytes, "little")))

        latency = int(desc.get("latency") or 0)
        # a hang, not a slow run: 4x the expected cycles with both sides pausing
        budget = int(4 * (max(n_in, n_out) + latency + 16) / (1 - s["pause"]) ** 2) + 1000
        start = get_sim_time("ns")
        for k in range(n_out):
            left = budget * PERIOD_NS - (get_sim_time("ns") - start)
            try:
                frame = await with_timeout(sink.recv(), max(left, PERIOD_NS), "ns")
            except SimTimeoutError:
                fail(f"{s['config']}: timed out after {budget} cycles with {k} of {n_out} "
                     f"output beats received and {source.count()} input beats not yet sent "
                     f"(a beat was lost or the stream hung)")
            word = int.from_bytes(bytes(frame.tdata), "little")
            if word >> out_width:
                fail(f"{s['config']}: output beat {k}: pad bits of m_axis_tdata above bit "
                     f"{out_width - 1} are not zero (tdata 0x{word:x})")
            for f in out_fields:
                got, exp = _field(word, f), expected[f["name"]][k]
                if got != exp:
                    where = (f"; inputs {_inputs_of(in_fields, inputs, k)}" if n_in == n_out
                             else "")
                    fail(f"{s['config']}: output beat {k}, field {f['name']}: expected {exp}, "
                         f"got {got} (tdata 0x{word:x}){where}",
                         mismatch={"beat": k, "field": f["name"], "expected": exp,
                                   "actual": got})
            summary["beats_scored"] = k + 1
            summary["cycles"] = int(get_sim_time("ns") - start) // PERIOD_NS

        # no beat beyond the last expected one: keep tready high for a while
        source.clear_pause_generator()
        sink.clear_pause_generator()
        sink.pause = False
        await ClockCycles(dut.aclk, latency + 32)
        extra = sink.count()
        summary["extra_beats"] = extra
        if extra:
            fail(f"{s['config']}: {extra} output beats more than the {n_out} expected")
        summary["ok"] = True
    finally:
        s["summary"].write_text(json.dumps(summary, indent=1) + "\n")


def _inputs_of(in_fields: list[dict], inputs: dict, k: int) -> str:
    """The input fields of beat ``k``, for a failure message."""
    return ", ".join(f"{f['name']}={_column(inputs, f)[k]}" for f in in_fields)
