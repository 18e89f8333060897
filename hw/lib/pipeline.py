"""Stream plumbing shared by every block: a valid/ready pipeline with a global stall.

Every stage advances when the output register is empty or being read (``en = ~o.valid |
o.ready``); ``i.ready`` is that same enable, so no beat is lost or duplicated under
back-pressure, and with ``o.ready`` held high the pipeline accepts one beat per cycle.
"""
from amaranth.hdl import Signal, Value
from amaranth.lib import data

from golden.checks import check_int

__all__ = ["StreamPipeline", "spread_cuts"]


class StreamPipeline:
    """Build a fixed-latency datapath between stream ports ``i`` and ``o``.

    Parameters
    ----------
    m : Module
    i, o : stream interfaces (``i`` flipped input, ``o`` output) of the component.

    Usage: compute combinationally from ``i.payload``, call ``stage(...)`` wherever a pipeline
    register belongs (it returns the registered copies), then ``finish(m, payload)``. The number
    of ``stage`` calls is the latency.

    With ``o=None`` the pipeline does not end at an output stream (a block with its own output
    logic, e.g. ``bfp_pe``): the caller drives ``en`` (the stall enable, also ``i.ready``) and
    reads ``valid`` (the last stage's valid bit); ``finish`` is then not used.
    """

    def __init__(self, m, i, o=None):
        self._m, self._i, self._o = m, i, o
        self.en = Signal()
        m.d.comb += i.ready.eq(self.en)
        if o is not None:
            m.d.comb += self.en.eq(~o.valid | o.ready)
        self._valid = i.valid
        self.latency = 0

    @property
    def valid(self):
        """The valid bit of the last stage so far (``i.valid`` before any stage)."""
        return self._valid

    def stage(self, *values):
        """Register ``values`` (Values or data Views) under the common enable."""
        m = self._m
        self.latency += 1
        valid = Signal(name=f"valid_s{self.latency}")
        with m.If(self.en):
            m.d.sync += valid.eq(self._valid)
        self._valid = valid
        out = []
        for v in values:
            if isinstance(v, data.View):
                r = Signal(v.shape(), name=f"r_s{self.latency}")
                src = v.as_value()
                dst = r.as_value()
            else:
                r = Signal.like(Value.cast(v), name=f"r_s{self.latency}")
                src = dst = None
            with m.If(self.en):
                if src is not None:
                    m.d.sync += dst.eq(src)
                else:
                    m.d.sync += r.eq(v)
            out.append(r)
        return out[0] if len(out) == 1 else tuple(out)

    def finish(self, payload):
        """Drive ``o`` from the last stage; ``payload`` is a View/Value or a dict of fields."""
        if isinstance(payload, dict):
            self._m.d.comb += [self._o.payload[k].eq(v) for k, v in payload.items()]
        else:
            self._m.d.comb += self._o.payload.eq(payload)
        self._m.d.comb += self._o.valid.eq(self._valid)


def spread_cuts(steps, stages, what):
    """The steps (a tuple, in datapath order) after which ``stages`` registers sit, spread
    evenly: register j after step ceil(j * N / (stages + 1)), N = len(steps). ``what`` names
    the configuration in the error (e.g. "k=32").

    Raises
    ------
    ValueError, TypeError
        ``stages`` outside 0..N.
    """
    n = len(steps)
    check_int("stages", stages, 0, n, note=f" for {what} (steps {', '.join(steps)})")
    # ceil(j * n / (stages + 1)) is strictly increasing in j: its step n / (stages + 1) is >= 1
    # for stages < n, and for stages = n it is j itself
    return tuple(steps[-(-j * n // (stages + 1)) - 1] for j in range(1, stages + 1))
