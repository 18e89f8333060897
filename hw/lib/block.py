"""What every block shares: the stream ports, and the parameter checks (from ``golden.checks``)."""
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.checks import check_bool, check_choice, check_int

__all__ = ["StreamBlock", "check_choice", "check_int", "check_bool"]


class StreamBlock(wiring.Component):
    """The block contract's ports: ``i`` (stream of ``in_layout``), ``o`` (stream of
    ``out_layout``). Subclasses validate their parameters, then call ``super().__init__`` with the
    two payload layouts, and expose ``latency``."""

    def __init__(self, in_layout, out_layout):
        self.in_layout, self.out_layout = in_layout, out_layout
        super().__init__({
            "i": In(stream.Signature(in_layout)),
            "o": Out(stream.Signature(out_layout)),
        })
