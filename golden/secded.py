"""SECDED protection of a stored block scale (issue 20's hardware answer; docs/numerics.md §9):
the extended Hamming code over the d-bit scale, and ``scale_guard``, the block in front of the
decoders that corrects, detects and applies a policy.

The code (d data bits, r Hamming check bits with 2**r >= d + r + 1, one overall parity bit; for
d = 8: r = 4, 13 stored bits). Codeword positions 1..d + r: the check bits at the powers of two,
the data bits at the other positions in increasing order (data bit 0 at position 3, bit 1 at 5,
bit 2 at 6, bit 3 at 7, bit 4 at 9, ...). Check bit j (stored bit j of the ``check`` word) is
the XOR of the data bits whose position has bit j set; stored bit r is the XOR of all data and
check bits (even overall parity). Decoding: the syndrome s is the XOR of the positions of the
set bits (data and Hamming check bits), P the XOR of every stored bit:

- s = 0, P = 0: no error;
- P = 1 (an odd number of flips, taken as one): s = 0 is the parity bit itself, s a power of two
  a check bit, s a data position that data bit (corrected); ``corrected`` = 1. A syndrome that is
  no position at all (s > d + r) is uncorrectable (``detected``);
- P = 0, s != 0: two flips, ``detected`` = 1.

Three flips look like one and are miscorrected to another codeword (distance 4): an attacker who
knows the code needs 2 flips to trigger the policy and 3 to move a scale to another value.

``scale_guard`` (one block per beat: the scale, its check word, the block's k element codes of
w bits) outputs the corrected scale and the codes, with the flags. On ``detected`` the policy
applies: ``"zero"`` outputs scale 0 and every code 0 (the block decodes as zero in every MX and
BFP element format: no NaN, no wrong magnitude), ``"hold"`` outputs the last scale that was not
detected (127 after reset) with the codes as received.
"""
from __future__ import annotations

import numpy as np

from .checks import check_choice, check_int

__all__ = ["check_bits", "encode", "decode", "guard_block", "guard_space", "guard_stimulus",
           "POLICIES", "DATA_BITS", "HOLD_RESET"]

DATA_BITS = 8
POLICIES = ("zero", "hold")
#: the held scale after reset (2**0)
HOLD_RESET = 127


def check_bits(d=DATA_BITS):
    """r: Hamming check bits for d data bits (the stored check word has r + 1 bits)."""
    r = 1
    while (1 << r) < d + r + 1:
        r += 1
    return r


def positions(d=DATA_BITS):
    """Codeword position of each data bit (the non-powers of two from 3 up)."""
    out, p = [], 1
    while len(out) < d:
        p += 1
        if p & (p - 1):
            out.append(p)
    return np.array(out, dtype=np.int64)


def _parity(v):
    v = np.asarray(v, dtype=np.int64)
    p = np.zeros_like(v)
    while np.any(v):
        p ^= v & 1
        v = v >> 1
    return p


def encode(data, d=DATA_BITS):
    """The (r + 1)-bit check word of each d-bit ``data`` (module docstring)."""
    data = np.asarray(data, dtype=np.int64)
    r = check_bits(d)
    pos = positions(d)
    check = np.zeros_like(data)
    for j in range(r):
        mask = sum(1 << i for i in range(d) if pos[i] >> j & 1)
        check |= _parity(data & mask) << j
    check |= (_parity(data) ^ _parity(check)) << r
    return check


def decode(data, check, d=DATA_BITS):
    """(corrected data, corrected flag, detected flag) of received words (module docstring)."""
    data = np.asarray(data, dtype=np.int64)
    check = np.asarray(check, dtype=np.int64)
    r = check_bits(d)
    pos = positions(d)
    s = np.zeros_like(data)
    for i in range(d):
        s ^= np.where(data >> i & 1, pos[i], 0)
    for j in range(r):
        s ^= np.where(check >> j & 1, 1 << j, 0)
    odd = (_parity(data) ^ _parity(check)) == 1
    hit = np.zeros_like(data)
    for i in range(d):
        hit |= np.where(s == pos[i], 1 << i, 0)
    valid = (s == 0) | ((s & (s - 1)) == 0) | np.isin(s, pos)
    corrected = odd & valid
    detected = (~odd & (s != 0)) | (odd & ~valid)
    out = np.where(corrected, data ^ hit, data)
    return out, corrected.astype(np.int64), detected.astype(np.int64)


def _check(k, w, policy):
    check_int("k", k, 1, 1024)
    check_int("w", w, 1, 32)
    check_choice("policy", policy, POLICIES)


def guard_block(inputs, k=32, w=8, policy="zero", pipeline=None, **_):
    """Golden ``scale_guard``: {"scale", "codes" (n, k), "corrected", "detected"} of a beat
    stream {"scale", "check", "codes" (n, k)} (module docstring). ``pipeline`` changes timing
    only."""
    _check(k, w, policy)
    scale, corrected, detected = decode(inputs["scale"], inputs["check"])
    codes = np.asarray(inputs["codes"], dtype=np.int64).reshape(-1, k)
    if policy == "zero":
        scale = np.where(detected == 1, 0, scale)
        codes = np.where(detected[:, None] == 1, 0, codes)
    else:
        held, out = HOLD_RESET, []
        for s, det in zip(scale.tolist(), detected.tolist()):
            if det:
                out.append(held)
            else:
                held = s
                out.append(s)
        scale = np.array(out, dtype=np.int64)
    return {"scale": scale, "codes": codes, "corrected": corrected, "detected": detected}


def guard_space(**_):
    """Every received (scale, check) word: 2**(d + r + 1)."""
    return 1 << (DATA_BITS + check_bits() + 1)


def guard_stimulus(rng, n, exhaustive=False, k=32, w=8, policy="zero", **_):
    """Exhaustive: every received 13-bit word (scale, check) once, in a seeded order (so the
    hold policy sees detected words after every kind of good one), random codes. Otherwise
    ``n`` beats: a valid codeword of a random scale with 0, 1, 2 or 3 random flips in the
    13 stored bits (equal shares), random codes; then, as corners, every scale's clean word
    and all its single flips for the scales 0, 1, 127, 254, 255."""
    _check(k, w, policy)
    r = check_bits()
    bits = DATA_BITS + r + 1
    if exhaustive:
        word = rng.permutation(1 << bits)
    else:
        s = rng.integers(0, 256, n)
        word = s | encode(s) << DATA_BITS
        nflip = rng.integers(0, 4, n)
        for t in range(n):
            for b in rng.choice(bits, nflip[t], replace=False):
                word[t] ^= 1 << int(b)
        corner_s = np.arange(256)
        corners = [corner_s | encode(corner_s) << DATA_BITS]
        for c in (0, 1, 127, 254, 255):
            cw = c | int(encode(c)) << DATA_BITS
            corners.append(np.array([cw ^ (1 << b) for b in range(bits)]))
        word = np.concatenate([word, *corners])
    m = len(word)
    codes = rng.integers(0, 1 << w, (m, k))
    return {"scale": word & 0xFF, "check": word >> DATA_BITS, "codes": codes}
