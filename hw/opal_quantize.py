"""``opal_quantize``: a block of n FP32 activations, ``lanes`` per beat -> one OPAL block
(docs/numerics.md §7; the contract is :mod:`golden.opal`'s module docstring).

Structure (n/lanes = ``per`` input beats per block, one output beat per block)::

    beat --+--> beat top-(k+1) (ranks among the lanes) --[stages]--> merge with the held
           |                                                          top-(k+1) --> H (per beat)
           |                               last beat: k outliers, E(the (k+1)-th) --> R
           +--> compact words -----------------------------[stages]--> block buffer slot w
                                                                            |  (read slot r)
                                                                            v
                                          lanes x encode(x, R.E) --> codes shift register
                          R: scale, BF16(outliers), idx ------------> output register

- **Top-(k+1) tracker** (k outliers and the largest inlier: the (k+1)-th ranked magnitude is the
  inlier maximum, so the scale needs no second pass). Key: the FP32 bits with the sign cleared
  (NaN > Inf > finite, +-0 equal); ties go to the lower index, and since earlier beats carry
  lower indices, a newer candidate must be strictly larger to rank above an older one. Each beat
  is first reduced to its own top-min(lanes, k+1), sorted: one comparator per lane pair, a
  lane's rank is the number of lanes that precede it, slot s takes the lane of rank s (one-hot
  AND-OR). That sorted list is then merged with the held sorted list H (k+1 entries with valid
  bits): one comparator per (held, new) pair, rank = own position + the entries of the other
  list that precede it, again a one-hot selection. lanes*(lanes-1)/2 + (k+1)*min(lanes, k+1)
  31-bit comparators (120 + 25 at the defaults, against 200 for ranking all k+1+lanes
  candidates at once). On a block's first beat H counts as empty; on its last beat the merged
  list goes to the result register R (H is free for the next block at once).
- **One block buffer, encoded in place** (not two): the encoder reads slot r of the latched
  block while the next block's beat r is written into the same slot in the same cycle (the
  read sees the old contents), so a beat is accepted when its slot has been encoded or is
  being encoded: ``free = ~busy | w < r | (w == r & encoding)``. With the output ready that
  sustains one beat per cycle, exactly as a double buffer would, with half its flops.
- **Compact words**: an inlier x satisfies E >= floor(log2 |x|) (E is floor(log2) of the
  largest inlier, clamped up to -127 at worst), so its code depends only on the sign, the
  exponent field, the fraction bits down to the round position for E = floor(log2|x|) (or
  E = -127 for a subnormal: fraction bit 23 - bits) and whether anything below is nonzero.
  The buffer keeps exactly that, bits + 10 bits per value: sign, exponent field, fraction bits
  22 .. 23-bits and their OR of the bits below (a sticky bit), which is put back as fraction bit
  22-bits. The rebuilt FP32 word has the same integer part, round bit and sticky as x at every
  admissible E (the sticky bit is always strictly below the round bit), so its code is x's:
  exact, 13 instead of 32 bits per value at bits = 3. Outlier slots and special blocks are
  forced to code 0, so what the buffer holds for them does not matter.
- **Shared exponent** of the (k+1)-th entry, when the last beat is merged, registered in R with
  the outliers: :func:`hw.lib.scale.shared_exponent` (floor, emax_elem = 0); NaN/Inf there
  (more than k specials) gives scale 0xFF and every code 0, zero gives scale 0. (Registered
  rather than computed from R: the encoder path after R is the block's longest.)
- **Inlier encoding**: ``lanes`` encoders :func:`hw.lib.scale.encode_lane` (``hw.lib.fp.encode``
  to MXINT-bits, saturating), one slot per cycle; slot indices equal to an outlier index get
  code 0. Codes enter a shift register (no write decoder); after ``per`` encoder cycles it holds
  the block and the output register takes the scale, the outliers (BF16) and their indices.
- **BF16**: ``hw.lib.fp.convert(fp32, bf16, rne, nonsat)``, which for this pair is RNE on the
  bit pattern, ``(x + 0x7FFF + x[16]) >> 16`` (a 16-bit incrementer: a carry out of the
  fraction rounds up the exponent, past the largest finite one to Inf); NaN -> 0x7FC0.

Register cuts (``stages``): 0 = the beat's selection, the merge (and at a block's end the shared
exponent) and the buffer write all happen in the cycle the beat is accepted; 1 = an input
register after the beat's selection and the compaction, so the selection and the merge each get
a cycle. Yosys ``ltp`` (generic gates, defaults n = 128, k = 4, 16 lanes): beat selection alone
57 levels, merge alone 44, encoder lane alone 39; the whole block at stages = 1 62 (buffer read
mux -> encoder -> codes register). ``latency`` = per + 1 + stages: cycles from a block's last
input beat to its output beat when the encoder is idle and the output ready; a full block is
then encoded while the next one streams in.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data

from golden.formats import BF16, E8M0, FP32, mxint
from golden.opal import (DEFAULT_BITS, DEFAULT_K, DEFAULT_LANES, DEFAULT_N, ROUNDINGS,
                         check_params)

from .lib.block import StreamBlock, check_choice
from .lib.fp import convert
from .lib.pipeline import Cuts, StreamPipeline
from .lib.scale import encode_lane, shared_exponent
from .lib.trees import plus, reduce_tree
from .lib.units import named, unit

__all__ = ["OpalQuantize", "HW_DEFAULTS", "HW_CHOICES", "CUTS", "MAX_STAGES",
           "compact_width", "compact", "expand"]

#: the one cut point: an input register after the beat's top-(k+1) selection and compaction
CUTS = ("select",)
MAX_STAGES = len(CUTS)
#: hardware-only parameters (beside golden.opal's) and their allowed values, for the catalogue
HW_DEFAULTS = {"stages": 1}
HW_CHOICES = {"stages": tuple(range(MAX_STAGES + 1))}



def compact_width(bits):
    """Bits the buffer keeps per value (module docstring): sign, exponent, ``bits`` fraction
    bits and a sticky bit."""
    return bits + 10


def compact(word, bits):
    """The buffer's form of an FP32 word: bits 23-bits .. 31 and, below them, the OR of the
    fraction bits 0 .. 22-bits."""
    word = Value.cast(word)
    cut = 23 - bits
    return Cat(word[:cut] != 0, word[cut:])


def expand(stored, bits):
    """The FP32 word :func:`compact` stands for: the sticky bit as fraction bit 22-bits, zeros
    below (an FP32 word with the same code as the original at every admissible E)."""
    stored = Value.cast(stored)
    return Cat(Const(0, 22 - bits), stored)


def _beat_top(m, x, lanes, slots):
    """The ``slots`` top-ranked lanes of one beat, sorted (rank 0 first): Cat of (word, lane)
    per slot. Lane p precedes lane q > p iff key_p >= key_q (ties to the lower index)."""
    lb = (lanes - 1).bit_length()
    words = [x[32 * q: 32 * (q + 1)] for q in range(lanes)]
    if lanes == 1:
        return words[0]
    ge = {(p, q): named(m, words[p][:31] >= words[q][:31], f"ge{p}_{q}")
          for p in range(lanes) for q in range(p + 1, lanes)}
    ranks = []
    for q in range(lanes):
        before = [ge[p, q] for p in range(q)] + [~ge[q, p] for p in range(q + 1, lanes)]
        ranks.append(named(m, reduce_tree(before, plus), f"rank{q}"))
    out = []
    for s in range(slots):
        picks = [Mux(ranks[q] == s, Cat(words[q], Const(q, lb)), 0) for q in range(lanes)]
        out.append(named(m, reduce_tree(picks, lambda a, b: a | b), f"top{s}"))
    return Cat(*out)


def _merge(m, held, valid, new, k, ib):
    """Merge the held sorted list (k+1 entries of (word, idx), ``valid`` bits, the valid ones
    first) with the beat's sorted list ``new`` (entries of (word, idx), all valid, all later
    indices): the top k+1 of both, sorted, as Cat of (valid, word, idx) per slot. A held entry
    precedes a new one iff it is valid and its key is >= the new key."""
    ew = 32 + ib
    hw_ = [held[ew * i: ew * (i + 1)] for i in range(k + 1)]
    nm = len(new) // ew
    nw = [new[ew * q: ew * (q + 1)] for q in range(nm)]
    g = {(i, q): named(m, valid[i] & (hw_[i][:31] >= nw[q][:31]), f"g{i}_{q}")
         for i in range(k + 1) for q in range(nm)}
    rank_h = [named(m, i + reduce_tree([~g[i, q] for q in range(nm)], plus),
                     f"rank_h{i}") for i in range(k + 1)]
    rank_n = [named(m, q + reduce_tree([g[i, q] for i in range(k + 1)], plus),
                     f"rank_n{q}") for q in range(nm)]
    out = []
    for s in range(k + 1):
        # an entry's rank is at least its own position: only positions <= s can land in s
        picks = [Mux(rank_h[i] == s, Cat(hw_[i], valid[i]), 0) for i in range(min(s, k) + 1)]
        picks += [Mux(rank_n[q] == s, Cat(nw[q], 1), 0) for q in range(min(s + 1, nm))]
        out.append(named(m, reduce_tree(picks, lambda a, b: a | b), f"slot{s}"))
    return Cat(*out)


class OpalQuantize(StreamBlock):
    """OPAL's activation quantizer (docs/blocks.md "OPAL", ``golden.opal.quantize_block``): the k
    largest-magnitude values of each n-block as BF16 codes with their indices, the rest as an
    MXINT-``bits`` block with an E8M0 scale. Structure, storage and timing: module docstring.

    Parameters
    ----------
    n : int
        Block size, a power of two in 2..1024.
    k : int
        Outliers per block, 1..n-1.
    bits : int
        Inlier code width, 2..8.
    lanes : int
        Values per input beat, a power of two dividing n.
    rounding : {"rne", "rna", "rtz"}
        Inlier rounding (the BF16 outliers are always RNE).
    stages : int
        Register cuts, 0..``MAX_STAGES`` (module docstring).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"x": ArrayLayout(32, lanes)})))
        n / lanes consecutive beats form a block; value index = beat * lanes + lane.
    o : Out(stream.Signature(StructLayout({"scale": 8, "codes": ArrayLayout(bits, n),
        "outliers": ArrayLayout(16, k), "idx": ArrayLayout(log2 n, k)})))
        One beat per block; outliers and idx in rank order (largest first, ties to the lower
        index); outlier slots hold code 0.
    latency : int
        Cycles from a block's last input beat to its output beat (encoder idle, output
        ready): n / lanes + 1 + stages.

    Raises
    ------
    ValueError
        A parameter outside its allowed values (the message names it and them).
    TypeError
        An integer parameter that is not an integer.
    """

    def __init__(self, n=DEFAULT_N, k=DEFAULT_K, bits=DEFAULT_BITS, lanes=DEFAULT_LANES,
                 rounding="rne", stages=HW_DEFAULTS["stages"]):
        check_params(n, k, bits, lanes)
        check_choice("rounding", rounding, ROUNDINGS)
        self._cuts = Cuts(CUTS, stages)
        self._n, self._k, self._bits, self._lanes, self._rounding = n, k, bits, lanes, rounding
        self._stages = stages
        super().__init__(
            data.StructLayout({"x": data.ArrayLayout(FP32.width, lanes)}),
            data.StructLayout({"scale": E8M0.width, "codes": data.ArrayLayout(bits, n),
                               "outliers": data.ArrayLayout(16, k),
                               "idx": data.ArrayLayout((n - 1).bit_length(), k)}))

    n = property(lambda self: self._n)
    k = property(lambda self: self._k)
    bits = property(lambda self: self._bits)
    lanes = property(lambda self: self._lanes)
    rounding = property(lambda self: self._rounding)
    stages = property(lambda self: self._stages)

    @property
    def latency(self):
        return self._n // self._lanes + 1 + self._stages

    def elaborate(self, platform):
        m = Module()
        n, k, b, L = self._n, self._k, self._bits, self._lanes
        per = n // L
        lb, ib = (L - 1).bit_length(), (n - 1).bit_length()
        slots = min(L, k + 1)           # entries of a beat that can reach the top k+1
        cw = compact_width(b)
        ew = 32 + ib                    # a tracker entry: word, index

        # ---- input side: the beat's sorted top entries and its compact words
        x = self.i.payload.x.as_value()
        top = unit(m, "beat_top", lambda sub, v: _beat_top(sub, v, L, slots), (x,),
                   slots * (32 + lb))
        beat = Cat(*(compact(x[32 * q: 32 * (q + 1)], b) for q in range(L)))
        free = Signal()                 # the buffer slot of the next write is free
        p = StreamPipeline(m, self.i, None, self._cuts)
        wbeat, wtop = p.cut("select", beat, top)
        wv = p.valid                    # a beat is ready to be written
        m.d.comb += p.en.eq(~wv | free)
        wr = Signal()
        m.d.comb += wr.eq(wv & free)

        w = Signal(range(per), name="wbeat_idx") if per > 1 else Const(0, 1)
        r = Signal(range(per), name="rbeat_idx") if per > 1 else Const(0, 1)
        last_w = (w == per - 1) if per > 1 else Const(1, 1)
        last_r = (r == per - 1) if per > 1 else Const(1, 1)
        if per > 1:
            with m.If(wr):
                m.d.sync += w.eq(w + 1)     # per is a power of two: wraps to 0

        # ---- tracker: merge the beat's entries (with full indices) into the held list
        tl = 32 + lb
        tentries = [wtop[tl * s: tl * (s + 1)] for s in range(slots)]
        new = Cat(*(Cat(t[:32], t[32:], w) if per > 1 else Cat(t[:32], t[32:])
                    for t in tentries))
        if per > 1:
            held = Signal((k + 1) * ew, name="held")
            hvalid = Signal(k + 1, name="held_valid")
            first = w == 0
            merged = unit(m, "merge", lambda sub, h, v, c: _merge(sub, h, v, c, k, ib),
                          (held, Mux(first, 0, hvalid), new), (k + 1) * (ew + 1))
            ents = [merged[(ew + 1) * s: (ew + 1) * (s + 1)] for s in range(k + 1)]
            with m.If(wr):
                m.d.sync += [held.eq(Cat(*(e[:ew] for e in ents))),
                             hvalid.eq(Cat(*(e[ew] for e in ents)))]
        else:
            # one beat per block: the beat's own sorted top k+1 is the block's
            ents = [new[ew * s: ew * (s + 1)] for s in range(k + 1)]
        # the result register R: the k outliers, and the shared exponent of the (k+1)-th
        # (computed before the register: the encoder path after it is the block's longest)
        fmt = mxint(b)
        e_new, special_new, scale_new = shared_exponent(m, fmt, ents[k][23:31], ents[k][:23])
        rword = [Signal(32, name=f"res_word{s}") for s in range(k)]
        ridx = [Signal(ib, name=f"res_idx{s}") for s in range(k)]
        e = Signal.like(e_new, name="res_e")
        special, scale = Signal(name="res_special"), Signal(8, name="res_scale")
        latch = wr & last_w
        with m.If(latch):
            m.d.sync += [rword[s].eq(ents[s][:32]) for s in range(k)]
            m.d.sync += [ridx[s].eq(ents[s][32: 32 + ib]) for s in range(k)]
            m.d.sync += [e.eq(e_new), special.eq(special_new), scale.eq(scale_new)]

        # ---- block buffer: slot w written, slot r read (the same cycle: old contents read)
        bufs = [Signal(L * cw, name=f"buf{j}") for j in range(per)]
        for j, slot in enumerate(bufs):
            with m.If(wr & (w == j) if per > 1 else wr):
                m.d.sync += slot.eq(wbeat)
        rd = Cat(*bufs).word_select(r, L * cw) if per > 1 else bufs[0]

        # ---- encoder side
        busy = Signal()                 # R holds a block whose slots r.. are not encoded
        ov = Signal()
        enc = Signal()
        m.d.comb += enc.eq(busy & (~ov | self.o.ready))
        if per > 1:
            m.d.comb += free.eq(~busy | (w < r) | ((w == r) & enc))
            with m.If(enc):
                m.d.sync += r.eq(r + 1)
        else:
            m.d.comb += free.eq(~busy | enc)
        with m.If(latch):
            m.d.sync += busy.eq(1)
        with m.Elif(enc & last_r):
            m.d.sync += busy.eq(0)

        hit_hi = [(ridx[i][lb:] == r) if per > 1 else Const(1, 1) for i in range(k)]
        codes = []
        for q in range(L):
            code = encode_lane(m, f"enc{q}", fmt, expand(rd[cw * q: cw * (q + 1)], b), e,
                               self._rounding)
            outl = reduce_tree([hit_hi[i] & (ridx[i][:lb] == q) if lb else hit_hi[i]
                                for i in range(k)], lambda a, c: a | c)
            codes.append(Mux(special | outl, 0, code))

        # ---- output register: codes shift in one slot per encoder cycle
        out = Signal(self.out_layout)
        cv = out.codes.as_value()
        m.d.comb += [self.o.payload.eq(out), self.o.valid.eq(ov)]
        with m.If(enc):
            m.d.sync += cv.eq(Cat(cv[L * b:], *codes))
            with m.If(last_r):
                m.d.sync += out.scale.eq(scale)
                m.d.sync += [out.outliers[i].eq(convert(m, FP32, BF16, rword[i], rounding="rne",
                                                        overflow="nonsat")) for i in range(k)]
                m.d.sync += [out.idx[i].eq(ridx[i]) for i in range(k)]
        with m.If(enc & last_r):
            m.d.sync += ov.eq(1)
        with m.Elif(self.o.ready):
            m.d.sync += ov.eq(0)
        return m
