"""golden.secded against what a SECDED code must do, by brute force over all 256 scales: the 256
codewords are pairwise at Hamming distance >= 4; every single flip of the 13 stored bits is
corrected back, every double flip detected and nothing corrected, every triple flip either
detected or miscorrected to another codeword (never passed as clean); then the scale_guard
policies on hand-made streams and the parameter errors."""
import itertools

import numpy as np
import pytest

from golden import secded as s

SCALES = np.arange(256)
WORDS = SCALES | s.encode(SCALES) << 8


def _dec(word):
    return s.decode(word & 0xFF, word >> 8)


def test_layout():
    assert s.check_bits(8) == 4 and s.positions(8).tolist() == [3, 5, 6, 7, 9, 10, 11, 12]
    assert s.guard_space() == 1 << 13


def test_minimum_distance_is_four():
    x = WORDS[:, None] ^ WORDS[None, :]
    dist = np.vectorize(lambda v: bin(int(v)).count("1"))(x)
    np.fill_diagonal(dist, 99)
    assert dist.min() == 4


def test_every_single_and_double_flip():
    for b in range(13):
        out, cor, det = _dec(WORDS ^ (1 << b))
        assert np.array_equal(out, SCALES) and cor.all() and not det.any()
    for a, b in itertools.combinations(range(13), 2):
        out, cor, det = _dec(WORDS ^ (1 << a) ^ (1 << b))
        assert det.all() and not cor.any()
    out, cor, det = _dec(WORDS)
    assert np.array_equal(out, SCALES) and not cor.any() and not det.any()


def test_triple_flips_are_never_clean():
    codewords = set(WORDS.tolist())
    for a, b, c in itertools.combinations(range(13), 3):
        w = WORDS ^ (1 << a) ^ (1 << b) ^ (1 << c)
        out, cor, det = _dec(w)
        assert (cor | det).all()
        fixed = out | s.encode(out) << 8
        assert all(int(f) in codewords for f, k in zip(fixed, cor) if k)


def test_policies():
    cw = lambda v: int(v) | int(s.encode(v)) << 8          # noqa: E731
    words = np.array([cw(120), cw(121) ^ 0b11, cw(122) ^ (1 << 12), cw(123) ^ 0b1_0000_0001])
    v = {"scale": words & 0xFF, "check": words >> 8, "codes": np.full((4, 2), 5)}
    z = s.guard_block(v, k=2, policy="zero")
    assert z["scale"].tolist() == [120, 0, 122, 0] and z["detected"].tolist() == [0, 1, 0, 1]
    assert z["codes"].tolist() == [[5, 5], [0, 0], [5, 5], [0, 0]]
    assert z["corrected"].tolist() == [0, 0, 1, 0]
    h = s.guard_block(v, k=2, policy="hold")
    assert h["scale"].tolist() == [120, 120, 122, 122] and (h["codes"] == 5).all()
    first = s.guard_block({k: x[1:2] for k, x in v.items()}, k=2, policy="hold")
    assert first["scale"].tolist() == [s.HOLD_RESET]


@pytest.mark.parametrize("kw, message", [({"policy": "keep"}, "policy must be one of zero, hold"),
                                         ({"k": 0}, "k must be an integer in 1..1024"),
                                         ({"w": 33}, "w must be an integer in 1..32")])
def test_bad_parameters(kw, message):
    with pytest.raises(ValueError, match=message):
        s.guard_block({"scale": [0], "check": [0], "codes": [[0]]}, **kw)
