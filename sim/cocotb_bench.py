"""The one cocotb test used for every block (top ``mxf_top`` from ``sim/stream_top.sv``).

The Verilog top does all per-cycle work (file I/O, stalls, handshakes); this test only starts
the clock, resets, waits for ``done`` with a cycle-bound timeout and reports the result to the
harness in ``status.json`` (in the simulator's working directory). Settings come from the
environment: ``MXF_MAX_CYCLES`` (timeout in cycles), ``MXF_N`` (vector count, for messages).
"""
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

PERIOD_NS = 10

#: meaning of the bits of ``mxf_top.error`` (keep in step with sim/stream_top.sv)
ERROR_BITS = {
    0: "more output beats than expected (a beat was duplicated)",
    1: "o.payload or o.valid changed while o.valid was high and o.ready low",
    2: "X/Z on i.ready or o.valid",
    3: "in.hex is missing or shorter than N",
    4: "out.hex could not be opened",
}


def _int(handle):
    v = handle.value
    if isinstance(v, int):       # `integer` variables (Icarus gives plain ints)
        return v
    return v.to_unsigned() if v.is_resolvable else None


@cocotb.test()
async def stream(dut):
    max_cycles = int(os.environ.get("MXF_MAX_CYCLES", "1000000"))
    n = int(os.environ.get("MXF_N", "0"))
    status = {"ok": False, "message": "", "timeout": False}
    clock = Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi")
    clock.start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    try:
        if not dut.done.value.is_resolvable or not int(dut.done.value):
            await with_timeout(RisingEdge(dut.done), max_cycles * PERIOD_NS, "ns")
    except cocotb.triggers.SimTimeoutError:
        status["timeout"] = True
    await RisingEdge(dut.clk)
    stats = {name: _int(getattr(dut, name))
             for name in ("cycles", "in_idle", "in_stall", "out_stall", "backpressure", "sent",
                          "recv")}
    err = _int(dut.error)
    status["stats"] = stats
    problems = []
    if status["timeout"]:
        problems.append(
            f"timed out after {max_cycles} cycles: {stats['sent']} of {n} input beats accepted, "
            f"{stats['recv']} output beats received (a beat was lost or the stream hung)")
    if err is None:
        problems.append("error flags of the testbench top are X")
    elif err:
        problems += [msg for bit, msg in ERROR_BITS.items() if err >> bit & 1]
    status["ok"] = not problems
    status["message"] = "; ".join(problems)
    with open("status.json", "w") as f:
        json.dump(status, f)
    assert not problems, status["message"]
