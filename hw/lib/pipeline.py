"""Stream plumbing shared by every block: a valid/ready pipeline with a global stall, and the
one register-cut mechanism.

Every stage advances when the output register is empty or being read (``en = ~o.valid |
o.ready``); ``i.ready`` is that same enable, so no beat is lost or duplicated under
back-pressure, and with ``o.ready`` held high the pipeline accepts one beat per cycle.

Register cuts (the one meaning of ``stages``, docs/blocks.md "Pipelining"). A block declares its
*cut points*, the places in its datapath where a pipeline register may go, in the order
registers are added: its first cut point is where one register helps most, and so on (the
block's docstring says why, usually from measured logic depth). ``stages = s`` registers the
first s cut points (:class:`Cuts`), so adding a stage adds one register and never moves the
others; each register adds one cycle of latency. A chain of similar steps (an FP adder tree) is
ordered by :func:`bisection_order`. The block's datapath asks :meth:`StreamPipeline.cut` at
every cut point, which registers the values there or passes them through.
"""
from amaranth.hdl import Signal, Value
from amaranth.lib import data

from golden.checks import check_int

__all__ = ["StreamPipeline", "Cuts", "bisection_order"]


class StreamPipeline:
    """Build a fixed-latency datapath between stream ports ``i`` and ``o``.

    Parameters
    ----------
    m : Module
    i, o : stream interfaces (``i`` flipped input, ``o`` output) of the component.
    cuts : Cuts, optional
        The block's register cuts: :meth:`cut` registers at the chosen cut points.

    Usage: compute combinationally from ``i.payload``, call ``cut(point, ...)`` at each declared
    cut point (or ``stage(...)`` for a register every configuration has; both return the
    registered copies), then ``finish(payload)``. The number of registers is the latency.

    With ``o=None`` the pipeline does not end at an output stream (a block with its own output
    logic, e.g. ``bfp_pe``): the caller drives ``en`` (the stall enable, also ``i.ready``) and
    reads ``valid`` (the last stage's valid bit); ``finish`` is then not used.
    """

    def __init__(self, m, i, o=None, cuts=None):
        self._m, self._i, self._o = m, i, o
        self._cuts = cuts
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

    def cut(self, point, *values):
        """At the cut point ``point``: :meth:`stage` ``values`` if the block's :class:`Cuts`
        place a register there, else pass them through (one value, or a tuple of them)."""
        if self._cuts is not None and point in self._cuts:
            return self.stage(*values)
        if self._cuts is None:
            raise ValueError("this pipeline was built without cuts")
        return values[0] if len(values) == 1 else values

    def level_cut(self, prefix):
        """A ``cut`` callback for :func:`hw.lib.trees.reduce_tree`: after level L the cut point
        ``f"{prefix}{L}"`` if the block declares it (other levels pass through)."""
        def cut(level, *values):
            point = f"{prefix}{level}"
            return self.cut(point, *values) if point in self._cuts.points else values
        return cut

    def finish(self, payload):
        """Drive ``o`` from the last stage; ``payload`` is a View/Value or a dict of fields."""
        if isinstance(payload, dict):
            self._m.d.comb += [self._o.payload[k].eq(v) for k, v in payload.items()]
        else:
            self._m.d.comb += self._o.payload.eq(payload)
        self._m.d.comb += self._o.valid.eq(self._valid)


class Cuts:
    """Where a block's ``stages`` pipeline registers go: the first ``stages`` of its cut points.

    Parameters
    ----------
    points : sequence of str
        The block's cut points in the order registers are added (see the module docstring).
    stages : int
        Registers, 0..len(points).
    what : str
        The configuration, for the error message (e.g. ``"k=32"``).

    Attributes
    ----------
    points : tuple of str
    stages : int
    chosen : tuple of str
        The cut points that hold a register (``points[:stages]``).

    Raises
    ------
    ValueError, TypeError
        ``stages`` outside 0..len(points), naming the cut points.
    """

    def __init__(self, points, stages, what=""):
        self.points = tuple(points)
        if len(set(self.points)) != len(self.points):
            raise ValueError(f"cut points must be distinct, not {self.points}")
        note = f" for {what}" if what else ""
        check_int("stages", stages, 0, len(self.points),
                  note=f"{note} (cut points {', '.join(self.points) or 'none'})")
        self.stages = stages
        self.chosen = self.points[:stages]

    def __contains__(self, point):
        if point not in self.points:
            raise ValueError(f"{point!r} is not a declared cut point ({', '.join(self.points)})")
        return point in self.chosen

    def __repr__(self):
        return f"Cuts({self.points}, stages={self.stages})"


def bisection_order(steps):
    """Cut points of a chain of similar steps (cut point = the output of a step), ordered so
    that each added register splits the longest run of steps between registers in two, the
    later part taking the odd step (the earliest run on a tie); the last step's own output (an
    output register) comes last. With s = 2**j - 1 registers the runs differ in length by at
    most one step.

    Returns
    -------
    tuple of str
        Every step of ``steps`` once.
    """
    steps = tuple(steps)
    runs = [(0, len(steps))] if steps else []   # runs of steps [lo, hi) between registers
    order = []
    while runs:
        longest = max(range(len(runs)), key=lambda j: (runs[j][1] - runs[j][0], -j))
        lo, hi = runs[longest]
        if hi - lo < 2:
            break
        cut = lo + (hi - lo) // 2                  # the register goes after step cut - 1
        order.append(steps[cut - 1])
        runs[longest:longest + 1] = [(lo, cut), (cut, hi)]
    return tuple(order) + steps[-1:]
