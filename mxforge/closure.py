"""Timing closure: the fewest register cuts with which a configuration meets a clock
(docs/cost.md "Timing closure").

A block's register cuts are one parameter (docs/blocks.md "Pipelining"): ``stages = s``
registers the first s of its cut points, and adding a stage never moves the others, so the
critical delay does not grow with ``s``. :func:`close` therefore bisects ``stages`` between 0
and the number of cut points, synthesizing each probe in the Liberty flow at the target clock
(ABC sizes for that period; OpenSTA times it); ``mx_decode``'s ``pipeline`` flag is its one cut.
The answer is the fewest cuts that meet the clock, or, when even every cut point holding a
register does not, the best delay reached and the segment that limits it (the critical path's
start and end points and the submodules it runs through). Every probe is an ordinary synthesis
result, cached like every other (the energy simulation is not run: timing does not need it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hw.lib.block import Block, ParameterError
from hw.lib.export import cached_verilog
from synth import flow

__all__ = ["Probe", "Closure", "cut_parameter", "close", "close_job", "iso_job"]


@dataclass(frozen=True)
class Probe:
    """One synthesized candidate: the cut parameter's value and what the flow measured."""

    value: object
    config: str
    delay_ns: float | None
    area_um2: float | None
    flipflops: int
    latency: int
    critical_path: dict | None
    cached: bool

    def meets(self, clock_ns: float) -> bool:
        # no constrained path (outputs tied to constants) meets every clock
        return self.delay_ns is None or self.delay_ns <= clock_ns


@dataclass
class Closure:
    """The result of :func:`close`.

    Attributes
    ----------
    block : str
    params : dict
        The chosen parameters: the fewest cuts that meet the clock, else the fastest probe.
    config : str
        Their configuration name.
    clock_ns : float
    param : str or None
        The cut parameter searched (``"stages"``, ``"pipeline"``), None for a block without one.
    met : bool
    chosen : Probe
        The probe of ``params``.
    probes : list of Probe
        In the order they were synthesized.
    """

    block: str
    params: dict
    config: str
    clock_ns: float
    param: str | None
    met: bool
    chosen: Probe
    probes: list = field(default_factory=list)

    def describe(self) -> str:
        """The verdict in one line (and the limiting segment when the clock is not met)."""
        c = self.chosen
        cut = f"{self.param}={c.value}" if self.param else "no register cuts"
        delay = "no constrained path" if c.delay_ns is None else f"{c.delay_ns:.2f} ns"
        if self.met:
            return (f"{self.config}: meets {self.clock_ns:g} ns with {cut} ({delay}, latency "
                    f"{c.latency} cycles)")
        return (f"{self.config}: does not meet {self.clock_ns:g} ns; best {delay} with {cut}; "
                f"limited by the path {flow.describe_path(c.critical_path)}")


def cut_parameter(block: Block, params: dict) -> tuple[str | None, tuple]:
    """The parameter that adds register cuts and its values, fewest cuts first."""
    if "stages" in block.defaults:
        points = block.checked_build(**{**params, "stages": 0}).cut_points
        return "stages", tuple(range(len(points) + 1))
    if "pipeline" in block.defaults:
        return "pipeline", (False, True)
    return None, (None,)


def _probe(block, params, param, value, clock_ns, cache) -> Probe:
    p = dict(params) if param is None else {**params, param: value}
    name = block.config_name(**p)
    component = block.checked_build(**p)
    r = flow.synthesize(cached_verilog(block, p, name), name, clock_ns=clock_ns, cache=cache)
    return Probe(value, name, r.get("delay_ns"), r.get("area_um2"), r["flipflops"],
                 component.latency, r.get("critical_path"), r.get("cached", False))


def close(block: Block, params: dict, clock_ns: float, *, cache: bool = True,
          hint=None) -> Closure:
    """The fewest register cuts with which ``block`` at ``params`` (its cut parameter ignored)
    meets ``clock_ns`` in the Liberty flow.

    ``hint`` is a value of the cut parameter expected to be the answer (e.g. the catalogue's,
    chosen for the flow's clock): the search probes it and its neighbour first, so a right
    hint costs two syntheses and a wrong one narrows the bisection to one side of it. The
    answer is the same with or without a hint (the delay does not grow with the cuts).

    Raises
    ------
    ParameterError
        A clock that is not a positive number, a bad parameter, or no Liberty flow (the search
        needs a Liberty library and OpenSTA).
    synth.flow.SynthesisError
        A probe that the flow could not synthesize.
    """
    if isinstance(clock_ns, bool) or not isinstance(clock_ns, (int, float)) or \
            not 0 < clock_ns < 1e6:
        raise ParameterError(f"clock_ns must be a positive number of nanoseconds, not "
                             f"{clock_ns!r}")
    if flow.liberty_path() is None or flow.sta_path() is None:
        raise ParameterError("timing closure needs the Liberty flow: install the Debian packages "
                             "qflow-tech-osu018 (or set MXFORGE_LIBERTY) and opensta")
    block.checked_build(**params)
    param, values = cut_parameter(block, params)
    probes: dict = {}

    def probe(i):
        if i not in probes:
            probes[i] = _probe(block, params, param, values[i], float(clock_ns), cache)
        return probes[i]

    lo, hi = 0, len(values) - 1
    if hint in values:            # narrow [lo, hi] around the hint first
        h = values.index(hint)
        if probe(h).meets(clock_ns):
            hi = h
            if h > 0 and not probe(h - 1).meets(clock_ns):
                lo = h
        else:
            lo = h + 1
    met = lo <= hi and probe(hi).meets(clock_ns)
    if met:
        while lo < hi:            # the fewest cuts that meet: the delay does not grow with them
            mid = (lo + hi) // 2
            if probe(mid).meets(clock_ns):
                hi = mid
            else:
                lo = mid + 1
        best = hi
    else:                         # the fastest probe (the fewest cuts among equals)
        best = min(probes, key=lambda i: (probes[i].delay_ns, i))
    chosen = dict(params) if param is None else {**params, param: values[best]}
    return Closure(block.name, chosen, probes[best].config, float(clock_ns), param, met,
                   probes[best], list(probes.values()))


def close_job(job) -> Closure:
    """Worker of ``mxforge synth --clock-ns``: ``job`` = (name, block, params, clock_ns,
    cache); module level, for a process pool or a Dask worker."""
    _, block, params, clock_ns, cache = job
    return close(block, params, clock_ns, cache=cache)


def iso_job(job) -> dict:
    """One row of an iso-frequency comparison (docs/cost.md "Comparisons at one clock"):
    ``job`` = (member, block, params, clock_ns, cache). The closure of ``params`` at the clock,
    hinted by their own cut value (the catalogue's, chosen for the flow's clock), then the
    configuration it chose synthesized at that clock with its energy workload (on the probe's
    cached netlist: only the energy simulation runs). Returns the synthesis result with
    ``config``, ``block``, ``member`` (the comparison's configuration), ``clock_ns``, ``met``,
    ``cut`` (``"stages=4"``, or None), ``latency``, ``verilog_sha256`` and ``probes`` (every
    probe: ``{"value", "config", "delay_ns", "area_um2", "flipflops", "latency"}``)."""
    import hashlib

    from synth.report import workload_stimulus

    member, block, params, clock_ns, cache = job
    param, _ = cut_parameter(block, params)
    c = close(block, params, clock_ns, cache=cache, hint=params.get(param))
    verilog = cached_verilog(block, c.params, c.config)
    row = flow.synthesize(verilog, c.config, clock_ns=clock_ns, cache=cache,
                          stimulus=workload_stimulus(block, c.params))
    row.update(config=c.config, block=block.name, member=member, clock_ns=float(clock_ns),
               met=c.met, cut=f"{param}={c.chosen.value}" if param else None,
               latency=c.chosen.latency,
               verilog_sha256=hashlib.sha256(verilog.encode()).hexdigest(),
               probes=[{"value": p.value, "config": p.config, "delay_ns": p.delay_ns,
                        "area_um2": p.area_um2, "flipflops": p.flipflops,
                        "latency": p.latency} for p in c.probes])
    return row
