"""hw.lib.payload: packing matches Amaranth's own View layout, and unpack inverts pack."""
import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hw.lib.payload import pack, unpack

NESTED = data.StructLayout({
    "a": unsigned(4),
    "b": signed(6),
    "c": data.ArrayLayout(signed(3), 4),
    "d": data.StructLayout({
        "x": unsigned(2),
        "y": data.ArrayLayout(data.StructLayout({"p": 1, "q": signed(5)}), 2),
    }),
})


def random_fields(rng, n):
    return {
        "a": rng.integers(0, 16, n),
        "b": rng.integers(-32, 32, n),
        "c": rng.integers(-4, 4, (n, 4)),
        "d": {"x": rng.integers(0, 4, n),
              "y": {"p": rng.integers(0, 2, (n, 2)), "q": rng.integers(-16, 16, (n, 2))}},
    }


def assert_fields_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert_fields_equal(a[k], b[k])
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_round_trip_nested():
    fields = random_fields(np.random.default_rng(1), 500)
    words = pack(NESTED, fields)
    assert words.dtype == np.uint64
    back = unpack(NESTED, words)
    assert_fields_equal(fields, back)
    assert back["b"].min() < 0 and back["d"]["y"]["q"].min() < 0   # signed stays signed


def test_matches_amaranth_const():
    fields = random_fields(np.random.default_rng(2), 20)
    for k, word in enumerate(pack(NESTED, fields).tolist()):
        c = data.Const(NESTED, word)
        assert c.a == fields["a"][k] and c.b == fields["b"][k]
        assert [c.c[i] for i in range(4)] == fields["c"][k].tolist()
        assert c.d.x == fields["d"]["x"][k]
        assert [c.d.y[i].q for i in range(2)] == fields["d"]["y"]["q"][k].tolist()
        assert [c.d.y[i].p for i in range(2)] == fields["d"]["y"]["p"][k].tolist()


def test_wide_payload_uses_python_ints():
    layout = data.StructLayout({"a": unsigned(40), "b": signed(40), "c": data.ArrayLayout(8, 3)})
    fields = {"a": np.array([2**40 - 1, 5]), "b": np.array([-2**39, 7]),
              "c": np.array([[1, 2, 255], [0, 0, 128]])}
    words = pack(layout, fields)
    assert words.dtype == object
    assert words[0] == (2**40 - 1) | (2**39 << 40) | ((1 | 2 << 8 | 255 << 16) << 80)
    assert_fields_equal(fields, unpack(layout, words))


def test_errors():
    layout = data.StructLayout({"a": unsigned(4), "b": signed(4)})
    with pytest.raises(ValueError, match="'a' value 16 does not fit unsigned\\(4\\)"):
        pack(layout, {"a": np.array([16]), "b": np.array([0])})
    with pytest.raises(ValueError, match="'b' value -9 does not fit signed\\(4\\)"):
        pack(layout, {"a": np.array([0]), "b": np.array([-9])})
    with pytest.raises(KeyError, match="'b' is missing"):
        pack(layout, {"a": np.array([0])})
    with pytest.raises(KeyError, match="no field 'z'"):
        pack(layout, {"a": np.array([0]), "b": np.array([0]), "z": np.array([0])})
