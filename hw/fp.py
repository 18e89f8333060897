"""Arithmetic building blocks shared by every block: element decode, FP32 unpack, leading-zero
count and the generic round-to-format encoder. Blocks never restate these."""
from amaranth.hdl import Cat, Mux

__all__ = ["decode_element"]


def decode_element(code, fmt):
    """Combinational element decode of ``code`` per ``golden.formats.fields`` (no scale).

    Returns ``(sign, sig, exp, inf, nan)`` Values; ``exp`` is signed and not yet canonical for
    zero (the caller zeroes it together with the scale).
    """
    if fmt.kind == "int":
        q = code.as_signed()
        sign = code[-1]
        sig = Mux(sign, -q, q)[: fmt.sig_bits]
        return sign, sig, -fmt.frac_bits, 0, 0
    sign = code[-1]
    e = code[fmt.mbits: fmt.mbits + fmt.ebits]
    mant = code[: fmt.mbits]
    normal = e != 0
    sig = Mux(normal, Cat(mant, 1), mant)
    exp = Mux(normal, e, 1) - (fmt.bias + fmt.mbits)
    inf = nan = 0
    if fmt.kind == "mxsf":
        sm, se = mant[: fmt.sub_mbits], mant[fmt.sub_mbits:]
        sub_normal = se != 0
        sub_sig = Mux(sub_normal, Cat(sm, 1), sm)
        sub_exp = Mux(sub_normal, se, 1) - (fmt.sub_bias + fmt.sub_mbits)
        sig = Mux(normal, sig, sub_sig)
        exp = Mux(normal, exp, sub_exp)
    elif fmt.specials != "none":
        top = e == (1 << fmt.ebits) - 1
        if fmt.specials == "ieee":
            inf, nan = top & (mant == 0), top & (mant != 0)
        else:
            nan = top & (mant == (1 << fmt.mbits) - 1)
    if fmt.kind == "float" and not fmt.subnormals:
        sig = Mux(normal, sig, 0)
    return sign, sig, exp, inf, nan
