"""Deterministic Verilog export of a component."""
from amaranth.back import verilog

__all__ = ["to_verilog"]


def to_verilog(component, name: str) -> str:
    """Verilog text of ``component`` as module ``name``.

    ``emit_src=False`` keeps source paths out, so the same parameters give byte-identical text on
    any machine. Ports are ``clk``, ``rst`` and the flattened stream members (``i__payload``,
    ``i__valid``, ``i__ready``, ``o__payload``, ...); struct payloads are one packed vector.
    """
    return verilog.convert(component, name=name, emit_src=False, strip_internal_attrs=True)
