"""What every block shares: parameter validation with one-sentence errors, and the stream ports."""
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamBlock", "check_choice", "check_int", "check_bool"]


def check_choice(name, value, allowed):
    """ValueError naming ``name``, the value and the allowed values unless ``value in allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def check_int(name, value, lo, hi, note=""):
    """TypeError for a non-integer, ValueError outside ``lo..hi`` (``note`` explains the range)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer in {lo}..{hi}{note}, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}{note}, not {value!r}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value


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
