"""``mxsf_tile_buffer``: MX-SAFE tile store read row-wise or column-wise (docs/blocks.md,
``mxsf_tile_buffer``)."""
from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import data
from amaranth.lib.memory import Memory

from golden.formats import E8M0
from golden.mxsf_tile import (COLS, DEPTH, ELEM, ELEMENTS, K, MAX_DEPTH, MAX_K, MAX_SIDE,
                              MAX_STAGES, ROWS, STAGES, tile_geometry)

from .lib.block import StreamBlock
from .lib.pipeline import Cuts, StreamPipeline

__all__ = ["MxsfTileBuffer", "ELEMENTS", "CUTS", "MAX_SIDE", "MAX_K", "MAX_DEPTH", "MAX_STAGES"]

#: the cut points in the order ``stages`` fills them (the class docstring): the request
#: register (a synchronous read), then an output register
CUTS = ("request", "out")


class MxsfTileBuffer(StreamBlock):
    """Store of ``depth`` MX-SAFE r x c tiles (one E8M0 scale + r * c element codes each) that
    answers every request with one k-element dot-product operand of a tile, in the tile's
    row-major order or, with ``transpose``, in the order of the transposed tile (docs/numerics.md
    §6: the backward pass reads the forward pass's quantization instead of re-quantizing).

    Requests are processed in order, one response per request, ``latency`` cycles later; the
    golden model is ``golden.mxsf_tile.tile_buffer``.

    - Read (``write = 0``): response ``scale`` = the tile's scale, ``codes`` = operand ``part``
      (elements part*k .. part*k + k - 1) of the tile's codes in row-major order, or with
      ``transpose = 1`` in column-major order, i.e. row-major order of the transposed tile: tile
      (i, j) of ``quantize_tiled(X, (r, c))`` read transposed is tile (j, i) of
      ``quantize_tiled(X.T, (c, r))``. The request's ``scale``/``codes`` are ignored.
    - Write (``write = 1``): tile ``addr`` := (``scale``, ``codes``), codes row-major. The
      response is the new tile read with the request's ``transpose``/``part`` (write-through
      echo): a producer can forward a freshly quantized tile in either orientation without a
      second beat, and the output needs no extra mux to zero.
    - A read after a write to the same address, in the very next beat or later, sees the new
      tile; back-pressure delays responses but never reorders, drops or repeats them.
    - A tile never written reads as scale code 0 and codes 0: the power-up content of the
      store, and exactly what ``quantize`` gives an all-zero block (docs/numerics.md §4 rule 2).
      ``rst`` resets the pipeline, not the tiles (like an SRAM, the store has no reset; clearing a
      tile is a write).

    Design choices
    --------------
    Storage: one wide word per tile (scale + r * c codes, 8 + w * r * c bits) in one
    ``amaranth.lib.memory.Memory``. A write stores a whole tile in one beat, as the k-lane
    quantizer produces it, and a read fetches the whole tile, so the transposed order is a fixed
    wiring permutation of the word plus a 2:1 mux per bit: no banks, no address arithmetic, no
    bank conflicts, and a write and a read never compete for a port (one request per beat).
    Banking (one bank per row or column, with skewed placement so that both a row and a column
    hit every bank once) only pays when a tile moves in slices over several beats or no memory
    is wide enough; it would add per-bank address generation and a rotation network for
    nothing here.

    Read timing: the read side of the request (``addr``, ``transpose``, ``part``: log2(depth) +
    1 + log2(r*c/k) bits) is registered and the store is read combinationally from the registered
    address, i.e. a synchronous read with the register on the address side. For a flip-flop
    store (Yosys maps ``Memory`` to flip-flops; there are no SRAM macros here) this costs a few
    flip-flops instead of a full-word data register (8 + w * r * c, 264 for 8 x 4 MXSF), and it
    gives write-first ordering for free: a write commits at the clock edge that accepts it, the
    response it leaves in the register reads the store after that edge (the echo), and so does
    every later read. Under back-pressure nothing is written while a response waits (a request
    is accepted only when the register advances), so a waiting response never changes. An SRAM
    macro with a write-first synchronous read port is the same contract at the same latency.

    ``stages``: 0 reads the store combinationally from the request (the write echo then takes
    the request's own tile through a bypass mux, since the store changes only at the edge);
    1 (default) registers the request as above; 2 adds an output register after the
    permutation (8 + w * k bits), cutting the path register -> depth:1 word mux -> transpose
    and part muxes -> output.

    Tile size: r * c must be k times a power of two. Padding a smaller tile up to k would waste
    k - r * c MAC lanes of every dot product it feeds (and storage); for small tiles choose
    k = r * c (``mx_dot`` takes k in 1..128). With a power-of-two count of operands per tile,
    and a power-of-two ``depth``, every ``part`` and ``addr`` value names something: there is
    no out-of-range request to define and no comparator on the path.

    Parameters
    ----------
    rows, cols : int
        Tile shape r x c, each 1..32 (default 8 x 4, 32 elements).
    depth : int
        Tiles stored, a power of two in 2..256 (default 8: a 16 x 16 tensor of 8 x 4 tiles).
    k : int
        Operand length, 1..64 (default 32); r * c must be k times a power of two.
    elem : str
        Element format of the codes, one of ``ELEMENTS`` (default "mxsf"); it sets the code
        width w (8 bits for MXSF; the buffer only moves codes).
    stages : int
        0, 1 or 2 pipeline registers (default 1), see above.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"write": 1, "addr": log2(depth), "transpose": 1,
        ["part": log2(r*c/k)], "scale": 8, "codes": ArrayLayout(w, r * c)})))
        ``part`` exists only when r * c > k.
    o : Out(stream.Signature(StructLayout({"scale": 8, "codes": ArrayLayout(w, k)})))
    latency : int
        Equal to ``stages``.
    rows, cols, depth, k, elem, stages, parts, width : read-only parameters; ``parts`` =
        r * c / k operands per tile, ``width`` = w bits per code.

    Raises
    ------
    ValueError
        A parameter out of range, ``depth`` not a power of two, r * c not k times a power of
        two, ``elem`` not an MX element format (``ELEMENTS`` or an MXSF variant).
    TypeError
        A non-integer ``rows``, ``cols``, ``depth``, ``k`` or ``stages``.
    """

    def __init__(self, rows=ROWS, cols=COLS, depth=DEPTH, k=K, elem=ELEM, stages=STAGES):
        self._g = g = tile_geometry(rows, cols, depth, k, elem, stages)
        self._cuts = Cuts(CUTS, stages)
        self._tile = data.StructLayout({
            "scale": E8M0.width,
            "codes": data.ArrayLayout(g.width, g.size),
        })
        request = {"write": 1, "addr": g.addr_bits, "transpose": 1}
        if g.parts > 1:
            request["part"] = g.part_bits
        request.update(scale=E8M0.width, codes=data.ArrayLayout(g.width, g.size))
        super().__init__(
            data.StructLayout(request),
            data.StructLayout({"scale": E8M0.width, "codes": data.ArrayLayout(g.width, k)}))

    @property
    def rows(self):
        return self._g.rows

    @property
    def cols(self):
        return self._g.cols

    @property
    def depth(self):
        return self._g.depth

    @property
    def k(self):
        return self._g.k

    @property
    def elem(self):
        return self._g.elem

    @property
    def stages(self):
        return self._g.stages

    @property
    def parts(self):
        return self._g.parts

    @property
    def width(self):
        return self._g.width

    @property
    def latency(self) -> int:
        return self._g.stages

    def elaborate(self, platform):
        g = self._g
        m = Module()
        p = StreamPipeline(m, self.i, self.o, self._cuts)
        req = self.i.payload

        m.submodules.tiles = tiles = Memory(shape=self._tile, depth=g.depth, init=[])
        wr = tiles.write_port()
        rd = tiles.read_port(domain="comb")
        m.d.comb += [
            wr.addr.eq(req.addr),
            wr.data.scale.eq(req.scale),
            wr.data.codes.eq(req.codes),
            wr.en.eq(self.i.valid & p.en & req.write),   # commits at the accepting edge
        ]
        part = req.part if g.parts > 1 else None
        if "request" not in self._cuts:
            m.d.comb += rd.addr.eq(req.addr)
            # the store changes only at the accepting edge: a write echoes its own tile
            new = Cat(req.scale, req.codes)
            word = data.View(self._tile, Mux(req.write, new, rd.data.as_value()))
            transpose = req.transpose
        else:
            if part is None:
                addr, transpose = p.cut("request", req.addr, req.transpose)
            else:
                addr, transpose, part = p.cut("request", req.addr, req.transpose, part)
            m.d.comb += rd.addr.eq(addr)     # reads the store after the accepting edge
            word = rd.data

        operand = self._operand(word, transpose, part)
        scale = word.scale
        scale, operand = p.cut("out", scale, operand)
        p.finish({"scale": scale, "codes": operand})
        return m

    def _operand(self, word, transpose, part):
        """Operand ``part`` of the tile ``word`` in row-major order, or column-major order when
        ``transpose``: wiring plus a 2:1 mux per bit, then a parts:1 word mux."""
        g = self._g
        # stored index i*c + j for element (i, j); the column-major order lists t = j*r + i
        codes = [word.codes[t] for t in range(g.size)]
        row_major = Cat(*codes)
        if g.rows == 1 or g.cols == 1:
            ordered = row_major                  # a vector is its own transpose
        else:
            col_major = Cat(*(codes[i * g.cols + j] for j in range(g.cols)
                              for i in range(g.rows)))
            ordered = Mux(transpose, col_major, row_major)
        return ordered if part is None else ordered.word_select(part, g.k * g.width)
