"""mx_decode: golden model against independent references, parameter validation, interface."""
import math

import numpy as np
import pytest
from amaranth.lib import data

from tests.reference import element_value
from golden import mx
from golden.formats import E8M0, get_format
from hw.mx_decode import ELEMENTS, EXP_BITS, MxDecode





@pytest.mark.parametrize("elem", ELEMENTS)
def test_golden_value_matches_reference_for_every_scale_and_code(elem):
    """Exhaustive: (-1)^sign * sig * 2^exp == element * 2^(scale - 127), NaN/Inf as the spec says."""
    inputs = mx.decode_stimulus(None, 0, exhaustive=True, elem=elem)
    out = mx.decode_fields(inputs, elem=elem)
    width = get_format(elem).width
    assert len(inputs["code"]) == 256 << width
    ref_elem = np.array([element_value(elem, c) for c in range(1 << width)])
    ref = ref_elem[inputs["code"]] * np.exp2(inputs["scale"].astype(float) - 127)
    scale_nan = inputs["scale"] == 255
    ref_nan = scale_nan | np.isnan(ref)
    np.testing.assert_array_equal(out["nan"] == 1, ref_nan)
    np.testing.assert_array_equal(out["inf"] == 1, np.isinf(ref) & ~ref_nan)
    fin = ~ref_nan & ~np.isinf(ref)
    got = np.array([math.ldexp(int(g), int(e)) for g, e in zip(out["sig"][fin], out["exp"][fin])])
    got = np.where(out["sign"][fin] == 1, -got, got)
    np.testing.assert_array_equal(got, ref[fin])
    # signed zeros keep their sign
    np.testing.assert_array_equal(out["sign"][fin] == 1, np.signbit(ref[fin]))
    # canonical forms (docs/blocks.md)
    special = ~fin | (out["sig"] == 0)
    assert np.all(out["exp"][special] == 0) and np.all(out["sig"][special] == 0)
    assert np.all(out["sign"][ref_nan] == 0)
    # the fields fit the ports
    assert out["sig"].max() < 1 << get_format(elem).sig_bits
    lim = 1 << (EXP_BITS - 1)
    assert out["exp"].min() >= -lim and out["exp"].max() < lim


def test_exhaustive_space_covers_every_pair_once():
    inputs = mx.decode_stimulus(None, 0, exhaustive=True, elem="e2m1")
    pairs = set(zip(inputs["scale"].tolist(), inputs["code"].tolist()))
    assert pairs == {(s, c) for s in range(256) for c in range(16)}


@pytest.mark.parametrize("elem", ELEMENTS)
def test_ports_follow_the_format(elem):
    fmt = get_format(elem)
    dut = MxDecode(elem)
    assert dut.in_layout == data.StructLayout({"scale": E8M0.width, "code": fmt.width})
    assert dut.out_layout.size == 1 + fmt.sig_bits + EXP_BITS + 2
    assert dut.latency == 0 and MxDecode(elem, pipeline=True).latency == 1


def test_bad_elem_names_parameter_and_allowed_values():
    with pytest.raises(ValueError, match=r"elem must be one of e5m2, e4m3, .*mxsf.*, not 'fp7'"):
        MxDecode("fp7")
    with pytest.raises(ValueError, match="elem must be one of"):
        MxDecode("bf16")  # a real format, but not an MX element


def test_bad_pipeline_names_parameter():
    with pytest.raises(TypeError, match="pipeline must be a bool, not 'yes'"):
        MxDecode("e4m3", pipeline="yes")
