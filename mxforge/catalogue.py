"""The block catalogue: one entry per block drives the CLI, the Makefile, the tests and the reports.

Adding a block means adding one ``Block`` to ``BLOCKS`` (see README, "Adding a block").
"""
from __future__ import annotations

from hw.lib.block import Block, ParameterError
from synth.report import Comparison


def _element_choices():
    """What an element parameter takes, for the CLI's help and errors (the generator checks)."""
    from golden.formats import MX_ELEMENTS, MXSF_NAMES
    return MX_ELEMENTS + (MXSF_NAMES,)


_ELEMENT_CHOICES = _element_choices()


#: the softmax units' input field (docs/blocks.md)
_SCORE = ("One score per beat, an `in_bits`-bit signed two's-complement code with `frac_bits` "
          "fraction bits (Q8.8 at the defaults); n consecutive beats form a vector.")


def _sig_bits(fmt) -> int:
    """Bits of the largest significand of an element format (name or format)."""
    from golden.formats import MX_ELEMENTS, check_element, fields
    fmt = check_element("elem", fmt, MX_ELEMENTS) if isinstance(fmt, str) else fmt
    return int(fields(range(1 << fmt.width), fmt)["sig"].max()).bit_length()


# The blocks' bare arithmetic (Block.bare, docs/cost.md "closeness"): module-level functions,
# so a Block pickles for a process pool or a Dask worker

def _bare_mx_quantize(elem, k, **_):
    from hw.lib.bare import BareQuantize
    return BareQuantize(k, _sig_bits(elem))


def _bare_mxsf_quantize(k, sub_ebits, sub_mbits, sub_bias, **_):
    from golden.formats import MxsfFormat
    from hw.lib.bare import BareQuantize
    return BareQuantize(k, _sig_bits(MxsfFormat(sub_ebits, sub_mbits, sub_bias)))


def _bare_mx_dot(elem_a, elem_b, k, **_):
    from hw.lib.bare import BareDot
    return BareDot(k, _sig_bits(elem_a), _sig_bits(elem_b))


def _bare_bf16_dot(k, **_):
    from hw.lib.bare import BareDot
    return BareDot(k, 8, 8)


def _bare_bfp_quantize(G, m, **_):
    from hw.lib.bare import BareQuantize
    return BareQuantize(G, m)


def _bare_bfp_dot(G, ma, mb, **_):
    from hw.lib.bare import BareDot
    return BareDot(G, ma, mb)


def _bare_opal_quantize(lanes, bits, **_):
    from hw.lib.bare import BareQuantize
    return BareQuantize(lanes, bits)


def _bare_opal_dot(n, bits, w, **_):
    from hw.lib.bare import BareDot
    return BareDot(n, bits, w)


#: the area breakdown's names for the functions of the shared FP32 accumulate step
_ACCUMULATE = {"acc_align": "align with c + add", "acc_add": "align with c + add",
               "acc_norm": "normalize + round", "acc_round": "normalize + round"}


def _blocks() -> dict[str, Block]:
    from hw import mx_decode
    from hw import mx_dot
    from golden import mx_dot as mx_dot_golden
    from hw import mx_quantize
    from golden import mx
    from hw import mxsf_tile_buffer
    from golden import mxsf_tile
    from hw import bf16_dot
    from golden import bf16_dot as bf16_dot_golden
    from hw import bfp_pe
    from golden import bfp_pe as bfp_pe_golden
    from hw import bfp_array
    from golden import bfp_array as bfp_array_golden
    from hw import scale_guard
    from golden import secded
    from hw import bfp_quantize
    from hw import bfp_dot
    from golden import bfp
    from hw import rangebn
    from golden import rangebn as rangebn_golden
    from hw import opal_quantize, opal_dot, softmax
    from golden import opal, softmax as softmax_golden
    from golden import workloads
    from hw import mac_neuron, phase_neuron
    from golden import phase as phase_golden

    entries = [
        Block(
            name="mx_decode",
            family="OCP MX",
            description=(
                "Decodes one MX element code together with its E8M0 block scale into the exact "
                "integer view value = (-1)^sign · sig · 2^exp, with the scale already folded "
                "into `exp` (docs/numerics.md §4.2, built on the `fields` view of §1.3). The "
                "datapath is the shared element decoder (`hw/lib/fp.py`) followed by an adder "
                "that adds the unbiased scale to the element exponent, plus the logic that "
                "forces the canonical forms: a zero keeps its sign with sig = exp = 0, a NaN "
                "scale (0xFF, whatever the code, an Inf code included) or a NaN code sets `nan` "
                "and clears every other field, and an Inf code under a finite scale sets `inf` "
                "with its sign. It accepts one (scale, code) pair per cycle and is combinational "
                "unless `pipeline=True`. Every element format of the catalogue is accepted, MXSF "
                "variants (`mxsf_b6`, `mxsf_e<E>m<M>_b<bias>`) included; MXINT8's code 0x80 "
                "decodes as -2.0 even though the quantizers never produce it (§1.2)."),
            latency_note=(
                "Cycles from an accepted input beat to its output beat: 0 (combinational), or 1 "
                "with `pipeline=True` (an output register)."),
            fields={
                "scale": (
                    "E8M0 block scale code (8 bits, value 2^(scale − 127)); 0xFF is NaN and "
                    "makes the output the canonical NaN."),
                "code": (
                    "One element code in the `elem` format, as wide as that format (8 bits for "
                    "e4m3, e5m2, mxint8, mxsf and e2m5; 6 for e3m2 and e2m3; 4 for e2m1)."),
                "sign": (
                    "Sign of the decoded value (1 = negative); kept for zeros and Infs, 0 for "
                    "NaN."),
                "sig": (
                    "Unsigned significand including its hidden bit: 1 + mbits bits for float "
                    "elements (4 for e4m3), 8 bits for mxint8 (the magnitude |q|, 128 for code "
                    "0x80), 6 for MXSF; 0 for zero, Inf and NaN."),
                "exp": (
                    "Signed 10-bit exponent of the significand's least significant bit, element "
                    "exponent plus (scale − 127), so value = (−1)^sign · sig · 2^exp exactly; 0 "
                    "for zero, Inf and NaN."),
                "inf": (
                    "1 when the code is an infinity (only formats with Inf codes, e.g. e5m2) and "
                    "the scale is not NaN."),
                "nan": (
                    "1 when the scale is 0xFF or the code is a NaN code; then every other field "
                    "is 0."),
            },
            generator=mx_decode.MxDecode,
            golden=mx.decode_fields,
            stimulus=mx.decode_stimulus,
            exhaustive_size=mx.decode_space,
            defaults={"elem": "e4m3", "pipeline": False},
            choices={"elem": _ELEMENT_CHOICES, "pipeline": (False, True)},
            name_params=("elem",),
            # every element exhaustively, and two MXSF sub_bias variants (overlap, gap)
            configs=tuple({"elem": e} for e in mx_decode.ELEMENTS) + (
                {"pipeline": True}, {"elem": "mxsf_b6"}, {"elem": "mxsf_b10"}),
            # exhaustive everywhere: Icarus runs every configuration (no build to pay),
            # Verilator the default, the registered one and MXSF's mode multiplexer
            backend_configs={"verilator": ("mx_decode_e4m3", "mx_decode_e4m3_pipeline",
                                           "mx_decode_mxsf")},
            workload=workloads.mx_decode,
            summary="MX element + E8M0 scale decoder to (sign, significand, exponent, inf, nan)",
        ),
        Block(
            name="mx_quantize",
            family="OCP MX",
            description=(
                "Quantizes a block of k FP32 values to an OCP MX block: one E8M0 scale and k "
                "element codes, following docs/numerics.md §4.1 (§4.3 for MXINT elements). The "
                "datapath unpacks the FP32 words, finds the block maximum (a max tree over the "
                "exponent fields plus an OR of the fraction fields for the `floor` scale, a tree "
                "over the 31-bit magnitudes for `ceil`), forms the shared exponent E and then "
                "rounds every lane to the element format at 2^E with the shared saturating "
                "encoder. It is fully pipelined and takes one block per cycle. Choices to know "
                "(§4.1): a NaN or Inf anywhere in the block gives scale 0xFF and all-zero codes "
                "(project choice; OCP leaves the other elements undefined), E is clamped to "
                "[−127, 127] instead of producing a NaN scale (project choice), an all-zero "
                "block gives scale code 0 with signed zeros, and MXINT8 is symmetric (±127/64, "
                "microxcaling's convention); element rounding is `rne`, `rna` or `rtz`, fixed at "
                "elaboration (stochastic rounding is not an MX option). MXSF elements are also "
                "accepted here, but the catalogue covers them with `mxsf_quantize`."),
            latency_note=(
                "Cycles from an accepted input block to its output beat: `stages`, one per "
                "pipeline register."),
            fields={
                "x": "k FP32 bit patterns (32 bits each); element j is the block's j-th value.",
                "scale": (
                    "E8M0 scale code of the block, E + 127 (0 for an all-zero block, 0xFF when "
                    "the block holds a NaN or Inf)."),
                "codes": (
                    "k element codes in the `elem` format (width of that format, 8 bits for "
                    "e4m3); element j is input j divided by 2^E and rounded, saturating at the "
                    "format's largest finite value; all 0 when the scale is 0xFF."),
            },
            generator=mx_quantize.MxQuantize,
            golden=mx.quantize_block,
            stimulus=mx.quantize_stimulus,
            exhaustive_size=mx.quantize_space,
            defaults={"elem": "e4m3", "k": 32, "rounding": "rne", "scale_rounding": "floor",
                      "stages": mx_quantize.DEFAULT_STAGES},
            choices={"elem": _ELEMENT_CHOICES, "rounding": mx_quantize.ROUNDINGS,
                     "scale_rounding": mx_quantize.SCALE_ROUNDINGS,
                     "stages": tuple(range(mx_quantize.MAX_STAGES + 1))},
            name_params=("elem",),
            # every OCP element format at k = 32 (MXSF: mxsf_quantize); the variants at k = 8
            # and E2M5 at k = 4 (less simulation and build cost, the same per-lane logic)
            configs=tuple({"elem": e} for e in mx_quantize.ELEMENTS if e not in ("mxsf", "e2m5"))
            + ({"elem": "e2m5", "k": 4},
               {"k": 8, "stages": 0}, {"k": 8, "stages": mx_quantize.MAX_STAGES},
                {"k": 8, "rounding": "rna"}, {"k": 8, "scale_rounding": "ceil"},
                {"elem": "mxint8", "k": 8, "scale_rounding": "ceil"},
                {"k": 8, "stages": 1, "rounding": "rtz"},
                {"elem": "e2m1", "k": 8, "stages": 3, "rounding": "rna", "scale_rounding": "ceil"}),
            random_vectors=20000,
            interp_vectors=300,
            # Verilator: the six OCP formats at k = 32, E2M5, and three k = 8 variants; Icarus
            # the other k = 8 variants and three k = 32 formats
            backend_configs={
                "verilator": ("mx_quantize_e4m3", "mx_quantize_e5m2", "mx_quantize_e2m1",
                              "mx_quantize_mxint8", "mx_quantize_e3m2", "mx_quantize_e2m3",
                              "mx_quantize_e2m5_k4", "mx_quantize_e4m3_k8_stages0",
                              "mx_quantize_e2m1_k8_rna_ceil_stages3"),
                "icarus": ("mx_quantize_e4m3", "mx_quantize_mxint8", "mx_quantize_e2m1",
                           "mx_quantize_e4m3_k8_stages4", "mx_quantize_e4m3_k8_rna",
                           "mx_quantize_e4m3_k8_ceil", "mx_quantize_mxint8_k8_ceil",
                           "mx_quantize_e4m3_k8_rtz_stages1")},
            workload=workloads.mx_quantize,
            breakdown={"enc": "element rounding (k lanes)",
                       "top": "unpack, max tree, shared exponent"},
            bare=_bare_mx_quantize,
            summary="FP32 block -> OCP MX block (E8M0 scale + k element codes), floor/ceil scale",
        ),
        Block(
            name="mxsf_quantize",
            family="MX-SAFE",
            description=(
                "The MX-SAFE quantizer: the `mx_quantize` datapath with the MXSF element built "
                "from `sub_ebits`, `sub_mbits` and `sub_bias` (docs/numerics.md §6, blocks as in "
                "§6.4 and §4.1; the MXSF coding is a reconstruction). The mode of each element "
                "is chosen on the fly by the shared encoder: a value whose magnitude rounds to "
                "at least 1 · 2^E gets an E2M5-mode code, anything smaller a sub-mode code, so "
                "mode allocation falls out of rounding on the list of canonical magnitudes "
                "(§6.1, §6.3). It takes one k-element FP32 block per cycle and has exactly the "
                "payload of `mx_quantize`. The default (3, 2, 8) has neither overlap nor gap; "
                "the encoder also handles overlap variants (alias codes are never produced) and "
                "gap variants (the gap's midpoint is the rounding threshold), §6.2."),
            latency_note=(
                "Cycles from an accepted input block to its output beat: `stages`, one per "
                "pipeline register."),
            fields={
                "x": "k FP32 bit patterns; element j is the block's j-th value.",
                "scale": (
                    "E8M0 scale code of the block, E + 127 with E = floor(log2 amax) − 2 under "
                    "the default `floor` scale (0 for an all-zero block, 0xFF for a block "
                    "holding NaN or Inf)."),
                "codes": (
                    "k 8-bit MXSF codes, S | E2 | M5 (sign in bit 7): E2 ≠ 0 is an E2M5 value, "
                    "E2 = 0 a sub-mode value (§6.1); element j encodes input j at scale 2^E; all "
                    "0 when the scale is 0xFF."),
            },
            generator=mx_quantize.MxsfQuantize,
            golden=mx.mxsf_quantize_block,
            stimulus=mx.mxsf_quantize_stimulus,
            exhaustive_size=mx.mxsf_quantize_space,
            defaults={"k": 32, "rounding": "rne", "scale_rounding": "floor",
                      "stages": mx_quantize.DEFAULT_STAGES, "sub_ebits": 3, "sub_mbits": 2,
                      "sub_bias": 8},
            choices={"rounding": mx_quantize.ROUNDINGS,
                     "scale_rounding": mx_quantize.SCALE_ROUNDINGS,
                     "stages": tuple(range(mx_quantize.MAX_STAGES + 1))},
            # docs/numerics.md §6's MXSF at k = 32; sub_bias 6 (overlap) and 10 (gap) at k = 4 (the
            # per-lane encoder is what the variants change)
            configs=({}, {"k": 4, "sub_bias": 6}, {"k": 4, "sub_bias": 10},
                     {"k": 4, "rounding": "rtz", "sub_bias": 10}),
            random_vectors=20000,
            interp_vectors=300,
            amaranth_full=("mxsf_quantize",),
            baseline="mx_quantize_e4m3",
            workload=workloads.mxsf_quantize,
            breakdown={"enc": "element rounding (k lanes)",
                       "top": "unpack, max tree, shared exponent, mode"},
            bare=_bare_mxsf_quantize,
            summary="FP32 block -> MXSF block (MX-SAFE: E2M5 / sub-mode allocation on the fly)",
        ),
        Block(
            name="mx_dot",
            family="OCP MX",
            description=(
                "Computes the fused MX block dot product with FP32 accumulation, RNE_fp32(acc + "
                "2^(scale_a − 127) · 2^(scale_b − 127) · Σ P_i(A) · P_i(B)), with the whole sum "
                "exact and a single rounding (docs/numerics.md §4.4, accumulate step §4.5; the "
                "internal precision is a project definition, OCP leaves it open). The datapath "
                "decodes both operands, forms every product as an exact fixed-point integer at "
                "the common smallest exponent, sums them in a signed adder tree that grows one "
                "bit per level and so cannot overflow, then aligns the sum with the accumulator "
                "in a window of (sum bits + 25) bits with a sticky bit and rounds once to FP32 "
                "(overflow to ±Inf, gradual underflow) through the accumulate step shared with "
                "`bfp_dot` and `bfp_pe`. It takes one block pair and one accumulator per cycle. "
                "The two operands may use different element formats (MXSF variants included), k "
                "is 1..128; an exactly zero result is +0 even for acc = −0 (project rule), and "
                "NaN results are the canonical 0x7FC00000."),
            latency_note=(
                "Cycles from an accepted input beat to its result: `stages`, one per pipeline "
                "register."),
            fields={
                "scale_a": (
                    "E8M0 scale code X_A of block A (0xFF = NaN, which makes the result NaN)."),
                "codes_a": (
                    "k element codes of block A in the `elem_a` format (8 bits each for e4m3); "
                    "element i is A's i-th element."),
                "scale_b": "E8M0 scale code X_B of block B (0xFF = NaN).",
                "codes_b": (
                    "k element codes of block B in the `elem_b` format; element i is multiplied "
                    "with element i of A."),
                "acc": (
                    "FP32 bit pattern of the accumulator c added to the block product "
                    "(subnormals are used at their value, not flushed)."),
                "result": (
                    "FP32 bit pattern of the rounded result; chaining it into the next beat's "
                    "`acc` accumulates a long dot product block by block."),
            },
            generator=mx_dot.MxDot,
            golden=mx_dot_golden.dot_block,
            stimulus=mx_dot_golden.dot_stimulus,
            exhaustive_size=mx_dot_golden.dot_space,
            defaults={"elem_a": "e4m3", "elem_b": "e4m3", "k": 32,
                      "stages": mx_dot.DEFAULT_STAGES},
            choices={"elem_a": _ELEMENT_CHOICES, "elem_b": _ELEMENT_CHOICES},
            name_params=("elem_a", "elem_b"),
            # e5m2 operands (the widest windows) meet 10 ns only with every cut but the
            # innermost tree one: 7 stages (mxforge synth NAME --clock-ns 10)
            configs=({"elem_a": "e4m3", "elem_b": "e4m3"},
                     {"elem_a": "e5m2", "elem_b": "e5m2", "stages": 7}) + tuple(
                {"elem_a": e, "elem_b": e} for e in (
                    "e2m1", "mxint8", "e3m2", "e2m3", "mxsf")) + (
                {"elem_a": "e2m5", "elem_b": "e2m5"},
                {"elem_a": "mxsf_b6", "elem_b": "mxsf_b6", "k": 4},
                {"elem_a": "mxsf_b10", "elem_b": "mxsf_b10", "k": 4},
                {"elem_a": "e4m3", "elem_b": "e5m2", "stages": 7},
                {"stages": 0},
                {"stages": len(mx_dot.cut_points(32))},
                {"elem_a": "e5m2", "elem_b": "e2m1", "k": 5, "stages": 2},
                # OPAL's MXINT8 baseline lane: one block of 128 per beat
                {"elem_a": "mxint8", "elem_b": "mxint8", "k": 128}),
            random_vectors=20000,
            interp_vectors=500,
            # Verilator: the MX-SAFE comparison's formats, the mixed pairs, the stage extremes;
            # Icarus the remaining element formats (their decoders are exhaustively checked in
            # mx_decode on every backend) at the same datapath
            backend_configs={
                "verilator": ("mx_dot_e4m3_e4m3", "mx_dot_mxsf_mxsf", "mx_dot_e2m5_e2m5",
                              "mx_dot_e4m3_e5m2_stages7", "mx_dot_e4m3_e4m3_stages0",
                              "mx_dot_e4m3_e4m3_stages8", "mx_dot_e5m2_e2m1_k5_stages2",
                              "mx_dot_mxsf_b10_mxsf_b10_k4"),
                "icarus": ("mx_dot_e4m3_e4m3", "mx_dot_e5m2_e5m2_stages7", "mx_dot_e2m1_e2m1",
                           "mx_dot_mxint8_mxint8", "mx_dot_e3m2_e3m2", "mx_dot_e2m3_e2m3",
                           "mx_dot_mxsf_b6_mxsf_b6_k4", "mx_dot_mxint8_mxint8_k128")},
            amaranth_full=("mx_dot_mxsf_mxsf",),
            # OPAL's 128-element MXINT8 baseline lane: 60 random blocks and every corner
            large={"mx_dot_mxint8_mxint8_k128": 60},
            baseline="mx_dot_e4m3_e4m3",
            workload=workloads.mx_dot,
            breakdown={"lane": "decode + multiply (k lanes)", "top": "adder tree",
                       **_ACCUMULATE},
            bare=_bare_mx_dot,
            summary="MX block dot product + FP32 accumulate, exact sum, one RNE rounding",
        ),
        Block(
            name="mxsf_tile_buffer",
            family="MX-SAFE",
            description=(
                "A store of `depth` r × c tiles (default 8 tiles of 8 × 4 MXSF codes, one E8M0 "
                "scale per tile) that answers every request with one k-element dot-product "
                "operand, read in the tile's row-major order or, with `transpose`, in "
                "column-major order, which is exactly the corresponding tile of `quantize_tiled` "
                "of the transposed tensor (docs/numerics.md §6.5, tiles and the transpose "
                "property §6.4; the block is a reconstruction of MX-SAFE's tile-based block). "
                "Each tile is one wide memory word, so a write stores a whole tile in one beat "
                "and a transposed read is a fixed wiring permutation plus a 2:1 multiplexer per "
                "bit, with no banks or address arithmetic. It serves one request per cycle, in "
                "order, one response per request: a write answers with a write-through echo of "
                "the new tile, a read right after a write to the same address sees the new tile, "
                "and back-pressure delays responses but never drops or reorders them. Tiles "
                "never written read as scale 0 and zero codes (the memory's initial content, "
                "what `quantize` gives a zero block); `rst` resets the pipeline, not the stored "
                "tiles. r · c must be k times a power of two and `depth` a power of two, so "
                "every `addr` and `part` value names something."),
            latency_note=(
                "Cycles from an accepted request to its response: `stages`. Without a register "
                "the store is read combinationally (a write's response then takes the request's "
                "own tile through a bypass); the request register makes it a synchronous read "
                "with write-first ordering; the output register follows the permutation."),
            fields={
                "write": "1: write the request's tile to `addr`; 0: read tile `addr`.",
                "addr": "Tile address, log2(depth) bits (3 at the default depth 8).",
                "transpose": (
                    "Read order of the response: 0 row-major, 1 column-major (the row-major "
                    "order of the transposed tile); used by reads and by a write's echo."),
                "part": (
                    "Exists only when r · c > k: which k-element operand of the ordered tile to "
                    "return (elements part·k .. part·k + k − 1), log2(r·c/k) bits."),
                "in.scale": "E8M0 scale code of the tile to write; ignored on a read.",
                "in.codes": (
                    "The r · c element codes of the tile to write, row-major (element i·c + j is "
                    "tile element (i, j)), each as wide as the `elem` format (8 bits for MXSF); "
                    "ignored on a read."),
                "out.scale": (
                    "E8M0 scale code of the addressed tile (for a write, the newly written one); "
                    "0 for a tile never written."),
                "out.codes": (
                    "k element codes: element j is element part·k + j of the tile in the "
                    "requested order (row-major, or column-major with `transpose`)."),
            },
            generator=mxsf_tile_buffer.MxsfTileBuffer,
            golden=mxsf_tile.tile_buffer,
            stimulus=mxsf_tile.tile_stimulus,
            exhaustive_size=mxsf_tile.tile_space,
            defaults={"rows": mxsf_tile.ROWS, "cols": mxsf_tile.COLS, "depth": mxsf_tile.DEPTH,
                      "k": mxsf_tile.K, "elem": mxsf_tile.ELEM, "stages": mxsf_tile.STAGES},
            choices={"elem": _ELEMENT_CHOICES,
                     "stages": tuple(range(mxsf_tile.MAX_STAGES + 1))},
            configs=({}, {"stages": 0}, {"stages": 2}, {"rows": 1, "cols": 32},
                     {"rows": 16, "cols": 8, "depth": 4},
                     {"rows": 4, "cols": 4, "k": 16, "elem": "e2m1", "depth": 16}),
            # a stateful request stream: no evenly spaced cap (it would split read-after-write
            # pairs); 5,000 requests per configuration and backend. Icarus runs every
            # configuration, Verilator the default, the unregistered read and the largest tile
            random_vectors=5000,
            backend_configs={"verilator": ("mxsf_tile_buffer", "mxsf_tile_buffer_stages0",
                                           "mxsf_tile_buffer_rows16_cols8_depth4")},
            baseline="mxsf_tile_buffer_rows1_cols32",
            summary="MX-SAFE r x c tile store (one E8M0 scale per tile), read row- or "
                    "column-wise as k-element dot-product operands",
        ),
        Block(
            name="bf16_dot",
            family="MX-SAFE",
            description=(
                "The BF16 baseline of the MX-SAFE and OPAL comparisons: k BF16 pairs and an FP32 "
                "accumulator give RNE_fp32(acc + tree(RNE_fp32(a_i · b_i))) (docs/numerics.md "
                "§3.4, tree order §3.3). The datapath is k separate BF16 × BF16 → FP32 "
                "multipliers, a balanced tree of FP32 adders in a fixed pairwise order (an odd "
                "value passes a level unchanged) and one more FP32 adder for the accumulator, "
                "each operator a textbook IEEE unit (`hw/lib/fp_arith.py`) that rounds to "
                "nearest even. It takes one vector pair and accumulator per cycle, k = 1..128. "
                "IEEE 754 holds in every step: gradual underflow, signed zeros (no +0 forcing, "
                "unlike `mx_dot`), 0 · Inf and Inf − Inf give NaN, and every NaN is the "
                "canonical 0x7FC00000."),
            latency_note=(
                "Cycles from an accepted input beat to its result: `stages`, one per pipeline "
                "register."),
            fields={
                "a": "k BF16 codes (16 bits each); element i is a_i.",
                "b": "k BF16 codes; element i is b_i, multiplied with a_i.",
                "acc": "FP32 bit pattern of the accumulator added last.",
                "result": "FP32 bit pattern of acc + tree sum of the products, IEEE RNE.",
            },
            generator=bf16_dot.Bf16Dot,
            golden=bf16_dot_golden.dot_block,
            stimulus=bf16_dot_golden.dot_stimulus,
            exhaustive_size=bf16_dot_golden.dot_space,
            defaults={"k": bf16_dot_golden.DEFAULT_K, "stages": bf16_dot.DEFAULT_STAGES},
            # k = 32: MX-SAFE's baseline; k = 4 unpipelined: the whole tree in one cycle;
            # OPAL's BF16 baseline lane of 128 with its 10 ns cuts (default_stages(128) = 16)
            configs=({}, {"k": 4, "stages": 0}, {"k": 128, "stages": bf16_dot.default_stages(128)}),
            # Icarus: the unpipelined k = 4 tree and OPAL's 128-element baseline (a 4 MB
            # design: Icarus builds it in seconds where Verilator's C++ compile takes minutes);
            # Verilator the k = 32 and k = 4 trees on every vector
            backend_configs={"verilator": ("bf16_dot", "bf16_dot_k4_stages0"),
                             "icarus": ("bf16_dot_k4_stages0", "bf16_dot_k128_stages16")},
            large={"bf16_dot_k128_stages16": 60},
            random_vectors=20000,
            # ~17 ms per k = 32 vector in Amaranth's simulator (63 FP32 operators, each a submodule)
            interp_vectors=200,
            workload=workloads.bf16_dot,
            breakdown={"mul": "FP products (k)", "add": "FP adder tree", "norm": "FP adder tree",
                       "add_acc": "FP32 accumulate", "norm_acc": "FP32 accumulate",
                       "top": "specials, control"},
            bare=_bare_bf16_dot,
            summary="BF16 dot product (baseline): FP32 products, FP32 adder tree, FP32 "
                    "accumulate, IEEE RNE in every step",
        ),
        Block(
            name="bfp_quantize",
            family="FlexBlock",
            description=(
                "Converts a group of G FP32 values to block floating point: a shared exponent M "
                "(the largest biased FP32 exponent field of the group), G signs, G m-bit "
                "magnitudes q = round(|x| / 2^(M − 127 − (m − 1))) and the zero-setting-error "
                "count (docs/numerics.md §5.1–§5.3; `rtz` is bit-exact with FlexBlock's lab "
                "simulator). The datapath is a max tree over the exponent fields, one right "
                "shift per lane by M − e, the rounding window (nothing for `rtz`, round and "
                "sticky bits for `rne`, the top `rbits` discarded bits added to the lane's "
                "`rand` for `stochastic`), saturation of a round-up to 2^m − 1, and a popcount "
                "tree for the count. It takes one group per cycle; FlexBlock's group lines are G "
                "× m = 54 × 16, 108 × 8 and 216 × 4. Project choices (§5.3): signs are kept when "
                "q = 0, FP32 subnormals flush to 0 without raising M and count as zero-setting "
                "errors, a NaN or Inf makes M = 255 with zero magnitudes and no count, and zeros "
                "are never counted."),
            latency_note=(
                "Cycles from an accepted input group to its output beat: `stages`, one per "
                "pipeline register."),
            fields={
                "x": "G FP32 bit patterns; element j is the group's j-th value.",
                "rand": (
                    'Exists only with `rounding="stochastic"`: G random integers of `rbits` '
                    "bits; element j is lane j's r in [0, 2^rbits), and lane j rounds up iff its "
                    "top `rbits` discarded fraction bits plus r carry out (§5.2)."),
                "exp": (
                    "Shared exponent M: the largest biased FP32 exponent field in the group (8 "
                    "bits); 255 marks a group holding NaN or Inf (decodes as NaN), 0 an all-zero "
                    "or all-subnormal group."),
                "signs": (
                    "G sign bits; element j is the sign bit of input j, kept even when its "
                    "magnitude is 0."),
                "mags": (
                    "G unsigned m-bit magnitudes (hidden bit counted); element j is q_j, so "
                    "value_j = (−1)^s_j · q_j · 2^(M − 127 − (m − 1)); all 0 in a NaN group."),
                "zse": (
                    "Zero-setting-error count, bit_length(G) bits: how many nonzero inputs "
                    "(flushed subnormals included) got magnitude 0; 0 in a NaN group."),
            },
            generator=bfp_quantize.BfpQuantize,
            golden=bfp.quantize_block,
            stimulus=bfp.quantize_stimulus,
            exhaustive_size=bfp.quantize_space,
            defaults={"G": bfp.DEFAULT_G, "m": bfp.DEFAULT_M, "rounding": "rtz",
                      "rbits": bfp.DEFAULT_RBITS, "stages": bfp_quantize.DEFAULT_STAGES},
            choices={"rounding": bfp_quantize.ROUNDINGS,
                     "stages": tuple(range(bfp_quantize.MAX_STAGES + 1))},
            # FlexBlock's three modes on its 864-bit group line (16 x 54, 8 x 108, 4 x 216
            # magnitude bits), and rne / stochastic rounding at G = 16
            configs=({}, {"G": 108, "m": 8}, {"G": 216, "m": 4},
                     {"G": 16, "m": 8, "rounding": "rne"},
                     {"G": 16, "m": 8, "rounding": "stochastic"}),
            random_vectors=5000,
            # Amaranth ~3.7 ms per G = 216 group (Icarus ~6.6 ms)
            interp_vectors=400,
            backend_configs={
                "verilator": ("bfp_quantize", "bfp_quantize_G216_m4",
                              "bfp_quantize_G16_m8_rne", "bfp_quantize_G16_m8_stochastic"),
                "icarus": ("bfp_quantize", "bfp_quantize_G108_m8",
                           "bfp_quantize_G16_m8_stochastic")},
            workload=workloads.bfp_quantize,
            breakdown={"top": "max tree, alignment, rounding"},
            bare=_bare_bfp_quantize,
            summary="FP32 group -> block floating point (shared exponent, signs, m-bit "
                    "magnitudes, zero-setting-error count), rtz/rne/stochastic",
        ),
        Block(
            name="bfp_dot",
            family="FlexBlock",
            description=(
                "FlexBlock's group dot product with FP32 accumulation: RNE_fp32(acc + 2^(M_a + "
                "M_b − 254 − (ma − 1) − (mb − 1)) · Σ (−1)^(sa_i ⊕ sb_i) · qa_i · qb_i), with an "
                "exact integer sum and one rounding (docs/numerics.md §5.5, accumulate step "
                "§4.5). The datapath is G sign-magnitude ma × mb multipliers (all products share "
                "one exponent, so nothing is shifted), an exact signed adder tree, and the fused "
                "accumulate step shared with `mx_dot` (alignment window of sum bits + 25 with "
                "sticky, one normalization, RNE to FP32, overflow to ±Inf, gradual underflow). "
                "It takes one group pair and one accumulator per cycle, G = 1..256, and the two "
                "magnitude widths may differ. A shared exponent of 255 on either side or a NaN "
                "accumulator gives the canonical NaN, an Inf accumulator stays Inf, and an "
                "exactly zero result is +0."),
            latency_note=(
                "Cycles from an accepted input beat to its result: `stages`, one per pipeline "
                "register."),
            fields={
                "exp_a": (
                    "Shared exponent M_a of group A (biased FP32 exponent field, 8 bits; 255 = "
                    "NaN group)."),
                "signs_a": "G sign bits of group A; element i is sa_i.",
                "mags_a": (
                    "G unsigned magnitudes of group A, `ma` bits each (hidden bit counted); "
                    "element i is qa_i."),
                "exp_b": "Shared exponent M_b of group B (255 = NaN group).",
                "signs_b": "G sign bits of group B; element i is sb_i.",
                "mags_b": (
                    "G unsigned magnitudes of group B, `mb` bits each; element i is qb_i, "
                    "multiplied with qa_i."),
                "acc": "FP32 bit pattern of the accumulator c.",
                "result": (
                    "FP32 bit pattern of the rounded result (canonical NaN 0x7FC00000; an exact "
                    "zero is +0)."),
            },
            generator=bfp_dot.BfpDot,
            golden=bfp.dot_block,
            stimulus=bfp.dot_stimulus,
            exhaustive_size=bfp.dot_space,
            defaults={"G": bfp.DEFAULT_G, "ma": bfp.DEFAULT_M, "mb": bfp.DEFAULT_M,
                      "stages": bfp_dot.DEFAULT_STAGES},
            # FlexBlock's three modes on its 864-bit group line (G * m = 864): 16-bit (the
            # defaults), 8-bit, 4-bit; a mixed 16 x 8 pair at G = 54 with every register cut;
            # a small unpipelined one
            configs=({}, {"G": 108, "ma": 8, "mb": 8}, {"G": 216, "ma": 4, "mb": 4},
                     {"mb": 8, "stages": len(bfp_dot.cut_points(bfp.DEFAULT_G))},
                     {"G": 16, "ma": 8, "mb": 8, "stages": 0}),
            random_vectors=20000,
            # ~1-1.6 ms per vector in Amaranth's simulator (G = 54 .. 216), ~430 corners on top
            interp_vectors=500,
            backend_configs={
                "verilator": ("bfp_dot", "bfp_dot_G216_ma4_mb4", "bfp_dot_mb8_stages8",
                              "bfp_dot_G16_ma8_mb8_stages0"),
                "icarus": ("bfp_dot", "bfp_dot_G108_ma8_mb8", "bfp_dot_G16_ma8_mb8_stages0")},
            workload=workloads.bfp_dot,
            breakdown={"lane": "multiply (G lanes)", "top": "adder tree", **_ACCUMULATE},
            bare=_bare_bfp_dot,
            summary="BFP group dot product + FP32 accumulate (FlexBlock): exact integer sum, "
                    "one RNE rounding",
        ),
        Block(
            name="bfp_pe",
            family="FlexBlock",
            description=(
                "FlexBlock's multi-mode BFP processing element (docs/numerics.md §5.6, a "
                "reconstruction): each side supplies a 16-bit lane per beat holding one 16-bit, "
                "two 8-bit or four 4-bit magnitudes, the two sides' modes are chosen "
                "independently per group, and every cross product of the sub-words (1 to 16 per "
                "beat) is accumulated exactly in its own integer slot s = i · n_b + j (an "
                "outer-product mapping; the beats of a group are the reduction). The products "
                "come from one array of sixteen 4 × 4 sub-multipliers, combined hierarchically "
                "by shift-adds into the products of the current mode pair; at a group's end the "
                "integer accumulators move to a shadow bank and one shared conversion unit turns "
                "one slot per cycle into RNE_fp32(c + 2^(exp_a + exp_b − 254 − (m_a − 1) − (m_b "
                "− 1)) · S_s), exactly `bfp_dot` of the two sub-word streams (§5.5), kept in a "
                "file of FP32 accumulators. The conversion unit is pipelined (registers inside "
                "the FP32 step, after the add and the alignment shift at the default); a slot is "
                "converted again only after its previous result is written back (an interlock: "
                "each group's result is the next one's accumulator), 3 cycles at the default. It "
                "accepts one beat per cycle without bubbles as long as every group is at least "
                "n_a · n_b and at least that conversion depth beats long (a shorter group holds "
                "the input until the conversions catch up) and emits n_a · n_b output beats per "
                "group, so with both sides in 8-bit mode it does 4× and in 4-bit mode 16× the "
                "MACs per cycle of 16-bit mode. `modes=(16,)`, `(8,)` and `(4,)` build the "
                "single-mode baseline PEs from the same generator."),
            latency_note=(
                "Cycles from a group's last input beat to that group's first output beat "
                "(conversion unit free, output ready): `stages + 2`, every register cut adding "
                "one (the first three inside the FP32 conversion step, after the add, the "
                "alignment shift and the normalization; then after the sub-multipliers and "
                "after product formation). The group's other n_a · n_b − 1 results follow one "
                "per cycle. The default, 2 cuts, is the fewest that meet 10 ns in OSU 0.18 µm "
                "(9.4 ns; the single-mode PEs 9.0-9.3 ns): unpipelined, the conversion step "
                "took 23 ns."),
            fields={
                "a": (
                    "Side a's lane word (`lane_bits` = 16 bits) holding n_a = 16 / m_a "
                    "sub-words; sub-word i is bits [i·m_a, (i+1)·m_a), an unsigned magnitude."),
                "sa": (
                    "Side a's sign bits, one per sub-word of the narrowest mode (4 at the "
                    "defaults); bit i is the sign of sub-word i, bits above n_a are ignored."),
                "mode_a": (
                    "Index into `modes` selecting side a's sub-word width (defaults: 0 = 16-bit, "
                    "1 = 8-bit, 2 = 4-bit; 2 bits, 1 bit for a single-mode PE); must stay "
                    "constant within a group."),
                "exp_a": (
                    "BFP shared exponent of side a's group (biased FP32 exponent field, 8 bits; "
                    "255 = NaN group); read on the group's last beat only."),
                "b": (
                    "Side b's lane word holding n_b = 16 / m_b sub-words; sub-word j is bits "
                    "[j·m_b, (j+1)·m_b)."),
                "sb": "Side b's sign bits; bit j is the sign of sub-word j.",
                "mode_b": (
                    "Index into `modes` selecting side b's sub-word width, independent of side "
                    "a; constant within a group."),
                "exp_b": (
                    "BFP shared exponent of side b's group; read on the group's last beat only."),
                "in.last": (
                    "1 on the beat that closes the group (a group is at most `max_beats` = 64 "
                    "beats long; the integer accumulators are sized for it)."),
                "clear": (
                    "Read on the group's last beat: 1 starts every converted slot from c = +0, 0 "
                    "adds to the slot's FP32 accumulator (which starts at +0 after reset)."),
                "result": (
                    "FP32 bit pattern of slot s's updated FP32 accumulator after this group's "
                    "conversion, s = row · n_b + col."),
                "row": "Sub-word index i of side a for this result (2 bits at the defaults).",
                "col": "Sub-word index j of side b for this result.",
                "out.last": (
                    "1 on the group's final output beat (its last slot); results leave in slot "
                    "order."),
            },
            generator=bfp_pe.BfpPe,
            golden=bfp_pe_golden.pe_block,
            stimulus=bfp_pe_golden.pe_stimulus,
            exhaustive_size=bfp_pe_golden.pe_space,
            defaults={"lane_bits": bfp_pe_golden.LANE_BITS, "modes": bfp_pe_golden.MODES,
                      "max_beats": bfp_pe_golden.MAX_BEATS, "stages": bfp_pe.DEFAULT_STAGES},
            choices={"stages": tuple(range(bfp_pe.MAX_STAGES + 1))},
            # the multi-mode PE; the single-mode baselines (16-bit: a plain 16 x 16 multiplier;
            # 8- and 4-bit for the three-PE composite). The other stage counts run in
            # tests/hw/test_bfp_pe.py (Amaranth, heavy back-pressure).
            configs=({}, {"modes": (16,)}, {"modes": (8,)}, {"modes": (4,)}),
            # a stateful beat stream (groups): no evenly spaced cap; 3,000 beats per
            # configuration and backend, then the corner groups. Icarus runs every
            # configuration, Verilator the multi-mode PE and its 16-bit baseline
            random_vectors=3000,
            backend_configs={"verilator": ("bfp_pe", "bfp_pe_modes16")},
            baseline="bfp_pe_modes16",
            workload=workloads.bfp_pe,
            breakdown={"conv_align": "conversion: align with c", "conv_add": "conversion: add",
                       "conv_norm": "conversion: normalize", "conv_round": "conversion: round",
                       "top": "sub-word products, group accumulators, control"},
            summary="FlexBlock multi-mode BFP PE: 16-bit lanes as 1x16, 2x8 or 4x4-bit "
                    "sub-words per side, every cross product per cycle, exact group "
                    "accumulation, shared FP32 conversion",
        ),
        Block(
            name="bfp_array",
            family="FlexBlock",
            description=(
                "FlexBlock's core as an R × C array of multi-mode PEs (docs/flexblock.md "
                "\"The array\"; contract: golden/bfp_array.py). Every beat broadcasts R a-side "
                "16-bit lane words along the PE rows and C b-side lane words along the PE "
                "columns, each side in its own mode (16-, 8- or 4-bit sub-words, chosen per "
                "group); PE (r, c) forms every cross product of its two words' sub-words and "
                "accumulates them exactly in integer accumulators over the group's beats, as "
                "`bfp_pe` does, and at the group's end moves them to a shadow bank. The FP32 "
                "state is not in the PEs: each column has `units` conversion units (unit k "
                "serving rows k, k + units, ...), each with an FP32 accumulation buffer (a "
                "memory of (R / units) · 16 entries), which turn the group's R · n_a · n_b sums "
                "per column into RNE_fp32(c + 2^(exp_a[r] + exp_b[c] − 254 − (m_a − 1) − (m_b − "
                "1)) · S) in (R / units) · n_a · n_b cycles, exactly `bfp_dot` of the two "
                "sub-word streams (§5.5). It takes a beat every cycle while every group is at "
                "least as long as the previous group's conversions and at least the conversion "
                "depth (3 cycles at the default; a group that clears skips that interlock), and "
                "the mapper's cycle model (mxforge/mapping.py) predicts its cycle count "
                "exactly. `modes=(16,)`, `(8,)` and `(4,)` build the single-mode baseline "
                "arrays of the same R × C from the same generator."),
            latency_note=(
                "Cycles from a group's last input beat to that group's first output beat "
                "(conversion units free, output ready): `stages + 2` (the register cuts inside "
                "the FP32 conversion step after the add, the alignment shift and the "
                "normalization, then one on the broadcast operands). The group's other "
                "conversion cycles follow one per cycle."),
            fields={
                "a": ("Side a's lane words, one per PE row (`R` × 16 bits); row r's word holds "
                      "n_a = 16 / m_a sub-words, sub-word i at bits [i·m_a, (i+1)·m_a), an "
                      "unsigned magnitude."),
                "sa": ("Side a's sign bits, one row of 4 (the narrowest mode's sub-words) per PE "
                       "row; bits above n_a are ignored."),
                "mode_a": ("Index into `modes` selecting side a's sub-word width for the whole "
                           "array; constant within a group."),
                "exp_a": ("BFP shared exponent of each PE row's group (8 bits each; 255 = NaN "
                          "group); read on the group's last beat only."),
                "b": "Side b's lane words, one per PE column (`C` × 16 bits).",
                "sb": "Side b's sign bits, one row of 4 per PE column.",
                "mode_b": "Side b's sub-word width, independent of side a; constant in a group.",
                "exp_b": "BFP shared exponent of each PE column's group; read on its last beat.",
                "in.last": ("1 on the beat that closes the group (at most `max_beats` = 64 beats; "
                            "the integer accumulators are sized for it)."),
                "clear": ("Read on the group's last beat: 1 starts every converted entry from "
                          "c = +0, 0 adds to its FP32 accumulator. The accumulators are "
                          "memories: a reset does not clear them (the first group after a reset "
                          "must clear; in simulation they start at +0)."),
                "result": ("FP32 results of one conversion cycle: `result[k][c]` is unit k of "
                           "column c's, for PE row `row + k`, sub-words (i, j)."),
                "row": "The PE row of unit 0's results in this beat.",
                "i": "Sub-word index i of side a for this beat's results.",
                "j": "Sub-word index j of side b for this beat's results.",
                "out.last": "1 on the group's final output beat.",
            },
            generator=bfp_array.BfpArray,
            golden=bfp_array_golden.array_block,
            stimulus=bfp_array_golden.array_stimulus,
            exhaustive_size=bfp_array_golden.array_space,
            defaults={"R": 2, "C": 2, "lane_bits": bfp_array_golden.LANE_BITS,
                      "modes": bfp_array_golden.MODES, "max_beats": bfp_array_golden.MAX_BEATS,
                      "stages": bfp_array.DEFAULT_STAGES, "units": 1},
            choices={"stages": tuple(range(bfp_array.MAX_STAGES + 1))},
            # the multi-mode 2 x 2 array and its single-mode baselines of the same R x C (more
            # sizes, stage counts and units per column: tests/hw/test_bfp_array.py,
            # tests/test_array_mapping.py)
            # (the 4 x 4 and 8 x 8 arrays are synthesized as SIZES below)
            configs=({}, {"modes": (16,)}, {"modes": (8,)}, {"modes": (4,)}),
            # a stateful beat stream (groups): no evenly spaced cap; 800 beats of random groups
            # per configuration and backend, then the corner groups
            random_vectors=800,
            backend_configs={"verilator": ("bfp_array",)},
            baseline="bfp_array_modes16",
            workload=workloads.bfp_array,
            breakdown={"pe": "PE: sub-word products, integer accumulators, shadow bank",
                       "top": "FP32 accumulation buffers (memories), shadow selection, "
                              "conversion units, control"},
            summary="FlexBlock core: an R x C array of multi-mode PEs, operands broadcast "
                    "along rows and columns, FP32 accumulation buffers and conversion units "
                    "shared per column",
        ),
        Block(
            name="rangebn_fwd",
            family="LightNorm",
            description=(
                "LightNorm's range batch-norm forward unit (docs/numerics.md §8.1, §8.2, streams "
                "§8.4; a reconstruction): per channel of n fp10_e5m4 values it computes the "
                "mean, a range-based scale s = 1 / ((mean of chunk maxima − mean of chunk "
                "minima) · C(m) + eps) over K = 8 chunks of m = n/K values, and y = fp10((x − "
                "mu) · (s · gamma) + beta), every step one rounded fp18_e5m12 operation (`rtz` "
                "by default, as the lab's bit masking, or `rne`; saturating). Pass 1 sums each "
                "beat's `lanes` values with a pairwise tree of rounded adders into a running sum "
                "and tracks each chunk's largest and smallest value and index; between the "
                "passes a time-shared scalar unit (one adder, one multiplier, an iterative "
                "divider giving one quotient bit per cycle) computes mu, s and a = s · gamma; "
                "pass 2 runs each lane through a sub, mul, add chain and one conversion to FP10. "
                "A channel is 2n/lanes input beats (the same values twice) and n/lanes output "
                "beats: pass 1 takes a beat per cycle, the input stalls while the scalar unit "
                "runs, and pass 2 gives one output beat per input beat. Project choices: eps = "
                "2^−14 (so a constant channel gives s = 2^14), argmax/argmin ties go to the "
                "first index, and with `bfp=True` each output beat leaves as one BFP group of "
                "its `lanes` values (m = 5, `rtz`, FlexBlock's converter) instead of grouping 8 "
                "channels."),
            latency_note=(
                "Cycles from an accepted pass-2 (normalize) beat to its output beat: the "
                "registers of the pass-2 chain, min(`stages`, 3) (its cut points come first; "
                "the later ones cut pass 1, after each adder level of the beat tree but the last, "
                "which only delays the scalar unit's start; the default, every cut, meets 10 ns: "
                "9.5 ns in OSU 0.18 µm, the chunk-sum accumulator's one rounded add per beat). "
                "Pass-1 beats produce no output, and the wait "
                "for the scalar unit between the passes is not part of it."),
            fields={
                "x": (
                    "`lanes` fp10_e5m4 codes (10 bits); element j is value beat · lanes + j of "
                    "the channel. The channel is sent twice: pass-1 beats feed the statistics, "
                    "pass-2 beats the values that are normalized."),
                "gamma": (
                    "fp10_e5m4 scale of the channel, read on the channel's first beat only "
                    "(ignored on the others)."),
                "beta": "fp10_e5m4 shift of the channel, read on the channel's first beat only.",
                "y": (
                    "Absent with `bfp=True`. `lanes` fp10_e5m4 outputs; element j is y for x[j] "
                    "of the matching pass-2 beat."),
                "exp": (
                    "Only with `bfp=True`: shared exponent of this beat's BFP group (largest "
                    "biased FP32 exponent field of the beat's y values, 8 bits)."),
                "signs": "Only with `bfp=True`: `lanes` sign bits, element j the sign of y_j.",
                "mags": (
                    "Only with `bfp=True`: `lanes` 5-bit magnitudes, element j is y_j truncated "
                    "(rtz) to 5 bits at the group exponent (§5.1)."),
                "mu": (
                    "fp18_e5m12 code of the channel mean S · (1/n); the same on every output "
                    "beat of the channel."),
                "s": (
                    "fp18_e5m12 code of the channel's range scale s = 1/r (the reciprocal of the "
                    "range-based standard-deviation estimate); held for the channel's output "
                    "beats."),
                "amax": (
                    "K = `chunks` indices, bit_length(n − 1) bits each (10 at n = 1024); element "
                    "k is the position in the channel (0..n − 1) of the first largest value of "
                    "chunk k. `rangebn_bwd` needs them."),
                "amin": (
                    "K indices; element k is the position of the first smallest value of chunk "
                    "k."),
                "last": "1 on the channel's last output beat.",
            },
            generator=rangebn.RangeBnFwd,
            golden=rangebn_golden.fwd_block,
            stimulus=rangebn_golden.fwd_stimulus,
            exhaustive_size=rangebn_golden.stream_space,
            defaults={"n": rangebn_golden.DEFAULT_N, "lanes": rangebn_golden.DEFAULT_LANES,
                      "rounding": "rtz",
                      "stages": rangebn.RangeBnFwd.default_stages(rangebn_golden.DEFAULT_LANES),
                      "chunks": rangebn_golden.CHUNKS, "bfp": False},
            choices={"rounding": rangebn_golden.ROUNDINGS, "bfp": (False, True)},
            # n = 1024 and 64 (32 and 4 beats per chunk), rtz and rne, 4 and 2 lanes; the BFP
            # output in LightNorm's groups of 8 (here the 8 lanes of a beat)
            configs=({}, {"n": 64, "lanes": 2, "rounding": "rne", "stages": 1},
                     {"n": 64, "lanes": 8, "bfp": True}),
            backend_configs={"icarus": ("rangebn_fwd", "rangebn_fwd_n64_lanes2_rne_stages1")},
            random_vectors=1200,
            # channels (two passes) are records: the interpreted simulators keep whole channels
            # (16 of ~30 at n = 64, 2 of ~14 at n = 1024); Verilator runs every channel
            interp_vectors=1024,
            record_beats=rangebn_golden.channel_beats,
            baseline="bn_fwd",
            workload=workloads.rangebn_fwd,
            summary="LightNorm range batch-norm forward: FP10 (1-5-4) values, FP18 "
                    "accumulators, chunked range statistics, iterative reciprocal, two passes",
        ),
        Block(
            name="rangebn_bwd",
            family="LightNorm",
            description=(
                "LightNorm's range batch-norm backward unit (docs/numerics.md §8.3, streams "
                "§8.4; a reconstruction): from the forward's inputs x and gamma, its saved mu, s "
                "and chunk indices, and the output gradients g it computes dbeta = Σg, dgamma = "
                "s · Σg(x − mu) and dx_i = fp10((s·gamma·g_i − s·gamma·Σg/n) + e_i), where e_i "
                "is −cc at a chunk's argmax and +cc at its argmin, the exact subgradient of "
                "range BN. Gradients are fp10_e6m3 and every step is one rounded fp17_e6m11 "
                "operation (`rtz` or `rne`, saturating). Pass 1 forms p = g · (x − mu) per lane "
                "and keeps running sums of g and p, the scalar unit then computes dgamma, "
                "s·gamma, c0 and cc with its time-shared multiplier, and pass 2 runs each lane "
                "through a mul, add, add chain and one conversion to FP10. As in the forward "
                "unit, a channel is 2n/lanes input beats and n/lanes output beats; pass 1 takes "
                "a beat per cycle and the input stalls between the passes while the scalar unit "
                "runs."),
            latency_note=(
                "Cycles from an accepted pass-2 (dx) beat to its output beat: the registers of "
                "the pass-2 chain, min(`stages`, 3) (its cut points come first; the later ones cut "
                "pass 1 after x − mu, after g · (x − mu) and after each adder level of the beat "
                "trees but the last, which only delays the scalar unit's start; the default, every "
                "cut, meets 10 ns: 9.4 ns in OSU 0.18 µm). Pass-1 beats produce no output."),
            fields={
                "x": (
                    "`lanes` fp10_e5m4 codes of the forward's input values (element j = value "
                    "beat · lanes + j); read in pass 1 only, ignored in pass 2."),
                "g": (
                    "`lanes` fp10_e6m3 output gradients dL/dy (element j = value beat · lanes + "
                    "j); read in both passes."),
                "gamma": (
                    "The forward's fp10_e5m4 gamma of the channel, read on the channel's first "
                    "beat only."),
                "mu": (
                    "The forward's fp18_e5m12 mean (its `mu` output), read on the first beat; "
                    "rounded once to fp17_e6m11."),
                "s": (
                    "The forward's fp18_e5m12 scale (its `s` output), read on the first beat; "
                    "rounded once to fp17_e6m11."),
                "amax": (
                    "The forward's K chunk argmax indices (positions 0..n − 1), read on the "
                    "first beat."),
                "amin": "The forward's K chunk argmin indices, read on the first beat.",
                "dx": (
                    "`lanes` fp10_e6m3 input gradients dL/dx; element j belongs to g[j] of the "
                    "matching pass-2 beat."),
                "dgamma": (
                    "fp17_e6m11 code (18 bits wide) of dL/dgamma = s' · Σ g·(x − mu); the same "
                    "on every output beat of the channel."),
                "dbeta": (
                    "fp17_e6m11 code of dL/dbeta = Σ g (the running sum of pass 1); held for the "
                    "channel's output beats."),
                "last": "1 on the channel's last output beat.",
            },
            generator=rangebn.RangeBnBwd,
            golden=rangebn_golden.bwd_block,
            stimulus=rangebn_golden.bwd_stimulus,
            exhaustive_size=rangebn_golden.stream_space,
            defaults={"n": rangebn_golden.DEFAULT_N, "lanes": rangebn_golden.DEFAULT_LANES,
                      "rounding": "rtz",
                      "stages": rangebn.RangeBnBwd.default_stages(rangebn_golden.DEFAULT_LANES),
                      "chunks": rangebn_golden.CHUNKS},
            choices={"rounding": rangebn_golden.ROUNDINGS},
            configs=({}, {"n": 64, "lanes": 2, "rounding": "rne", "stages": 1}),
            random_vectors=1200,
            interp_vectors=1024,
            record_beats=rangebn_golden.channel_beats,
            workload=workloads.rangebn_bwd,
            summary="LightNorm range batch-norm backward: FP10 (1-6-3) gradients, FP17 "
                    "accumulators, argmax/argmin chunk terms, two passes",
        ),
        Block(
            name="bn_fwd",
            family="LightNorm",
            description=(
                "The conventional batch-norm forward unit, LightNorm's baseline "
                "(docs/numerics.md §8.5): FP16 values, FP32 running sums of x and x² (the FP16 "
                "square is exact in FP32), mu = S1/n, var = S2/n − mu² clamped at 0, s = "
                "1/sqrt(var + 1e−5) and y = FP16((x − mu) · (s · gamma) + beta), IEEE RNE in "
                "every step with overflow to ±Inf and NaN propagation. It shares the two-pass "
                "structure of `rangebn_fwd`: pass 1 sums each beat with pairwise FP32 adder "
                "trees, the scalar unit runs the per-channel sequence with one adder, one "
                "multiplier, an iterative square root and an iterative divider, and pass 2 is a "
                "per-lane sub, mul, add chain with a final FP16 rounding. A channel is 2n/lanes "
                "input beats and n/lanes output beats; the input stalls between the passes while "
                "the scalar unit, square root and division included, runs."),
            latency_note=(
                "Cycles from an accepted pass-2 beat to its output beat: the registers of the "
                "pass-2 chain, 0..6: min(`stages`, 3) after its sub, mul and add (its cut points "
                "come first; the next ones cut pass 1 after the square, inside each FP32 adder "
                "of the beat trees and after each level but the last), plus one for each of the "
                "last three cut points, inside pass 2's FP32 mul, sub and add (6 with the "
                "default, every cut). Pass-1 beats produce no output; the scalar unit's FP32 "
                "adds and multiplies take two cycles each between the passes."),
            timing_floor=(
                "Its floor is the pass-1 running FP32 sums: each is one loop-carried rounded add "
                "per beat, which a register cannot split without changing the summation order "
                "(docs/numerics.md: BN statistics are sequential FP32 sums). The loop (`acc2`: "
                "the first-beat multiplexer and one FP32 adder) is the critical path "
                "at every cut count; docs/cost.md has its delay. Every other segment meets "
                "10 ns. The LightNorm comparison is therefore also made at a second clock that "
                "every row meets."),
            fields={
                "x": (
                    "`lanes` FP16 codes; element j is value beat · lanes + j of the channel, "
                    "sent in both passes (statistics, then normalize)."),
                "gamma": "FP16 scale of the channel, read on the channel's first beat only.",
                "beta": "FP16 shift of the channel, read on the channel's first beat only.",
                "y": (
                    "`lanes` FP16 outputs (RNE, IEEE overflow to ±Inf, NaN as 0x7E00); element j "
                    "normalizes x[j] of the matching pass-2 beat."),
                "mu": (
                    "FP32 bit pattern of the channel mean S1 · FP32(1/n); held for the channel's "
                    "output beats."),
                "s": "FP32 bit pattern of 1/sqrt(var + eps); held for the channel's output beats.",
                "last": "1 on the channel's last output beat.",
            },
            generator=rangebn.BnFwd,
            golden=rangebn_golden.bn_block,
            stimulus=rangebn_golden.bn_stimulus,
            exhaustive_size=rangebn_golden.stream_space,
            defaults={"n": rangebn_golden.DEFAULT_N, "lanes": rangebn_golden.DEFAULT_LANES,
                      "stages": rangebn.BnFwd.default_stages(rangebn_golden.DEFAULT_LANES)},
            configs=({}, {"n": 64, "lanes": 2, "stages": 1}),
            random_vectors=1200,
            interp_vectors=1024,
            record_beats=rangebn_golden.channel_beats,
            workload=workloads.bn_fwd,
            summary="Conventional batch-norm forward (LightNorm's baseline): FP16 values, FP32 "
                    "sums of x and x^2, iterative square root and divider, two passes",
        ),
        Block(
            name="opal_quantize",
            family="OPAL",
            description=(
                "OPAL's activation quantizer (docs/numerics.md §7.1–§7.2, a reconstruction): a "
                "block of n FP32 values (default 128, streamed `lanes` = 16 per beat) becomes "
                "its k largest-magnitude values as BF16 codes with their in-block indices, "
                "listed largest first, plus an MXINT-b block of the other values with an E8M0 "
                "scale and the outlier slots set to 0. A streaming top-(k+1) tracker ranks "
                "magnitudes by the FP32 bits with the sign cleared (ties to the lower index, NaN "
                "above Inf above every finite value) and so finds the outliers and the inlier "
                "maximum in one pass; the values wait in one block buffer in a compact form (b + "
                "10 bits each, exact for every admissible scale) and are encoded `lanes` at a "
                "time by the shared MXINT encoders while the next block is written into the "
                "slots already read. It accepts one beat per cycle when the output is ready and "
                "emits one output beat per block of n/lanes input beats. Outliers are always "
                "IEEE RNE to BF16 (overflow to ±Inf, NaN to 0x7FC0), `rounding` applies to the "
                "inliers only, and with more than k NaN/Inf values the inlier block takes MX's "
                "rule: scale 0xFF and every code 0 (§7.1 rule 4)."),
            latency_note=(
                "Cycles from a block's last input beat to its output beat, with the encoder idle "
                "and the output ready: n/lanes + 1 + `stages`."),
            fields={
                "x": (
                    "`lanes` FP32 bit patterns; n/lanes consecutive beats form a block, and "
                    "element j of beat β is block value β · lanes + j."),
                "scale": (
                    "E8M0 scale code of the inlier block, E + 127 with E = floor(log2 of the "
                    "largest inlier magnitude) clamped to [−127, 127]; 0 when every inlier is "
                    "zero, 0xFF when an inlier is NaN or Inf."),
                "codes": (
                    "n inlier codes, `bits`-bit two's complement (MXINT-b, value q · 2^(E − (b − "
                    "2)), symmetric); element i is block value i; outlier slots hold 0."),
                "outliers": (
                    "k BF16 codes of the outliers in rank order: element 0 has the largest "
                    "magnitude."),
                "idx": (
                    "k in-block indices of the outliers, log2(n) bits each (7 at n = 128); "
                    "element j is the position of `outliers[j]`."),
            },
            generator=opal_quantize.OpalQuantize,
            golden=opal.quantize_block,
            stimulus=opal.quantize_stimulus,
            exhaustive_size=opal.quantize_space,
            defaults={"n": opal.DEFAULT_N, "k": opal.DEFAULT_K, "bits": opal.DEFAULT_BITS,
                      "lanes": opal.DEFAULT_LANES, "rounding": "rne",
                      **opal_quantize.HW_DEFAULTS},
            choices={"rounding": opal.ROUNDINGS, **opal_quantize.HW_CHOICES},
            # OPAL's two inlier widths at n = 128, k = 4, 16 lanes; a small block with wide
            # inliers, one outlier, rtz and 4 lanes
            configs=({}, {"bits": 5}, {"n": 16, "k": 1, "bits": 8, "lanes": 4,
                                       "rounding": "rtz"}),
            random_vectors=2000,
            # 100 blocks (800 beats) on the interpreted simulators; Verilator every block
            interp_vectors=800,
            record_beats=opal.block_beats,
            # every configuration on Verilator (whole blocks: the interpreted simulators keep an
            # evenly spaced subset of the blocks, corners included); Icarus the default and the
            # small block
            backend_configs={"icarus": ("opal_quantize", "opal_quantize_n16_k1_bits8_lanes4_rtz")},
            workload=workloads.opal_quantize,
            breakdown={"enc": "inlier rounding (lanes)", "beat_top": "top-k of a beat",
                       "merge": "top-k merge", "top": "max, scale, buffers, control"},
            bare=_bare_opal_quantize,
            summary="OPAL quantizer: FP32 block of 128 (16 per beat) -> k BF16 outliers + "
                    "indices (streaming top-k), MXINT-b inliers with an E8M0 scale",
        ),
        Block(
            name="opal_dot",
            family="OPAL",
            description=(
                "OPAL's mixed INT/FP dot-product lane (docs/numerics.md §7.3, a reconstruction): "
                "one OPAL activation block against an MXINT-w weight block and an FP32 "
                "accumulator c gives RNE_fp32(c + RNE_fp32(I_f + t)), where I_f is the exact "
                "integer sum Σ q_i · w_i over all n slots rounded once to FP32 at the two "
                "scales, and t is the pairwise FP32 tree of the k outlier products "
                "RNE_fp32(bf16(o_j) · w[idx_j] · 2^(E_w − (w − 2))). The datapath is n b-bit × "
                "w-bit sign-magnitude multipliers with an exact adder tree and one "
                "integer-to-FP32 rounding, k BF16 × INT-w products that each read their weight "
                "through a selector and round once, and FP32 adders for the outlier tree, I_f + "
                "t and the accumulator, in that fixed order. It takes one block per cycle. The "
                "lane does not mask outlier slots (their codes are 0 for a quantized block), "
                "repeated indices are allowed, a NaN scale on either side gives the canonical "
                "NaN, and zeros and Infs otherwise follow IEEE 754 (no +0 rule)."),
            latency_note=(
                "Cycles from an accepted input beat to its result: `stages`, one per pipeline "
                "register (the register at `tree2`, the outlier tree's last level for k = 4, "
                "also holds the converted inlier sum)."),
            fields={
                "scale": (
                    "E8M0 scale code of the activation's inlier block (E_a + 127; 0xFF = NaN)."),
                "codes": (
                    "n inlier codes, `bits`-bit two's complement; element i is q_i, multiplied "
                    "with weight w_i (all n slots are summed; outlier slots are 0 in a quantized "
                    "block)."),
                "outliers": "k BF16 outlier codes o_j (rank order as produced by `opal_quantize`).",
                "idx": (
                    "k indices, log2(n) bits each; element j selects the weight w[idx_j] that "
                    "multiplies outliers[j] (repeats allowed)."),
                "w_scale": "E8M0 scale code of the weight block (E_w + 127; 0xFF = NaN).",
                "w": (
                    "n weight codes, `w`-bit two's complement MXINT-w (1.(w−2) fixed point, the "
                    "most negative code included); element i is w_i."),
                "acc": "FP32 bit pattern of the accumulator c.",
                "result": (
                    "FP32 bit pattern of c + (I_f + t), two IEEE RNE additions (canonical NaN "
                    "0x7FC00000)."),
            },
            generator=opal_dot.OpalDot,
            golden=opal.dot_block,
            stimulus=opal.dot_stimulus,
            exhaustive_size=opal.dot_space,
            defaults={"n": opal.DEFAULT_N, "k": opal.DEFAULT_K, "bits": opal.DEFAULT_BITS,
                      "w": opal.DEFAULT_W, **opal_dot.HW_DEFAULTS},
            choices=dict(opal_dot.HW_CHOICES),
            configs=({}, {"bits": 5}, {"n": 16, "k": 3, "bits": 8, "w": 4}),
            random_vectors=5000,
            interp_vectors=400,
            backend_configs={
                "verilator": ("opal_dot", "opal_dot_n16_k3_bits8_w4"),
                "icarus": ("opal_dot_bits5", "opal_dot_n16_k3_bits8_w4")},
            baseline="bf16_dot_k128_stages16",
            workload=workloads.opal_dot,
            breakdown={"int_dot": "inlier products + integer tree",
                       "int_cvt": "integer sum to FP32", "omul": "outlier products (BF16)",
                       "osel": "outlier weight select",
                       "add": "FP32 adds", "add_sum": "FP32 adds", "add_acc": "FP32 accumulate",
                       "norm": "FP32 adds", "norm_sum": "FP32 adds", "norm_acc": "FP32 accumulate",
                       "top": "specials, control"},
            bare=_bare_opal_dot,
            summary="OPAL mixed lane: b-bit x INT8 inlier products (exact integer sum), k BF16 "
                    "outlier products, FP32 adds in a defined order, FP32 accumulate",
        ),
        Block(
            name="log2_softmax",
            family="OPAL",
            description=(
                "OPAL's log2 softmax over a vector of n fixed-point scores, in integer "
                "arithmetic only (docs/numerics.md §7.4, a reconstruction): z = x − max, u = z + "
                "(z >> 1) − (z >> 4) ≈ z · log2 e, e = 2^u by Mitchell's (1 + frac) · 2^floor "
                "with `exp_bits` fraction bits, D = Σ e exactly, lg = log2(D / 2^exp_bits) from "
                "D's leading one and the bits below it, and y = 2^(u − lg) by Mitchell again "
                "with `out_bits` fraction bits. Scores stream into an n-entry buffer while a "
                "running maximum is kept; a SUM phase re-reads the buffer through a "
                "four-register chain (read, z, u, pow2 by one shifter) into D, one cycle derives "
                "lg, and an OUT phase re-reads the buffer through the same chain, subtracting lg "
                "before the shifter, which now produces y. It takes one score per input beat and "
                "gives one probability per output beat in input order; the next vector loads "
                "behind the current output phase, but the SUM phase needs the whole vector, so "
                "without stalls a vector takes roughly two passes of n cycles. Every "
                "intermediate width is derived from the parameters (§7.4), not chosen "
                "separately."),
            latency_note=(
                "Clock edges from the handshake of a vector's last input beat to the handshake "
                "of its first output beat, with the output ready and nothing else in flight: n + "
                "11; the other outputs follow one per cycle."),
            fields={
                "x": _SCORE,
                "y": (
                    "One probability per beat, in the order of the inputs: unsigned, `out_bits` "
                    "+ 1 bits with `out_bits` fraction bits (9 bits, value y / 256 at the "
                    "defaults; y = 2^out_bits is 1.0)."),
            },
            generator=softmax.Log2Softmax,
            golden=softmax_golden.log2_block,
            stimulus=softmax_golden.log2_stimulus,
            exhaustive_size=softmax_golden.stream_space,
            defaults={**softmax_golden.LOG2_DEFAULTS, **softmax.LOG2_HW_DEFAULTS},
            choices=dict(softmax.HW_CHOICES),
            configs=({}, {"n": 8, "in_bits": 12, "frac_bits": 6, "exp_bits": 10,
                          "out_bits": 6}),
            random_vectors=4000,
            interp_vectors=1024,
            record_beats=softmax_golden.vector_beats,
            baseline="exp_softmax",
            workload=workloads.softmax,
            summary="OPAL log2 softmax: shift-and-subtract exponent, leading-one log2 of the "
                    "sum, power-of-two-ish outputs; n scores streamed in and out",
        ),
        Block(
            name="exp_softmax",
            family="OPAL",
            description=(
                "The conventional softmax, OPAL's baseline (docs/numerics.md §7.5; all its "
                "choices are project choices): z = x − max, t = z · log2 e rounded half up to "
                "`frac_bits` with a `log2e_bits`-bit constant, 2^frac from a `segments`-chord "
                "piecewise-linear table, e = that mantissa shifted right by −floor(t), D = Σ e "
                "exactly, and y = floor(e · 2^out_bits / D) by an exact division. It shares the "
                "streaming skeleton of `log2_softmax` (n-entry score buffer with a running "
                "maximum, SUM and OUT phases through one register chain, next vector's load "
                "overlapping the output phase), here with a seven-register front chain (read, z, "
                "two partial products of z · K, t, the chord product, the mantissa, the shift) "
                "and, for OUT items only, a restoring array divider of out_bits + 1 rows with a "
                "register every `div_rows` rows. It takes one score per input beat and gives one "
                "probability per output beat in input order."),
            latency_note=(
                "Clock edges from the handshake of a vector's last input beat to the handshake "
                "of its first output beat, with the output ready and nothing else in flight: n + "
                "17 + ceil((out_bits + 1) / div_rows); the other outputs follow one per cycle."),
            fields={
                "x": _SCORE,
                "y": (
                    "One probability per beat, in input order: unsigned, `out_bits` + 1 bits "
                    "with `out_bits` fraction bits (9 bits at the defaults), y = floor(e · "
                    "2^out_bits / D) ≤ 2^out_bits."),
            },
            generator=softmax.ExpSoftmax,
            golden=softmax_golden.exp_block,
            stimulus=softmax_golden.exp_stimulus,
            exhaustive_size=softmax_golden.stream_space,
            defaults={**softmax_golden.EXP_DEFAULTS, **softmax.EXP_HW_DEFAULTS},
            choices=dict(softmax.HW_CHOICES),
            configs=({},),
            random_vectors=4000,
            interp_vectors=1024,
            record_beats=softmax_golden.vector_beats,
            workload=workloads.softmax,
            summary="Conventional softmax (OPAL's baseline): piecewise-linear exp, exact "
                    "divider; n scores streamed in and out",
        ),
        Block(
            name="scale_guard",
            family="ZeBRA",
            description=(
                "SECDED over a stored block scale, in front of the decoders (docs/numerics.md "
                "§9; the code and the policy: golden/secded.py). One block per beat: the 8-bit "
                "scale (MX E8M0 or BFP exponent), its 5-bit check word (extended Hamming: 4 "
                "check bits at the power-of-two positions of a 12-bit codeword and an overall "
                "parity bit) and the block's k element codes. A single flip anywhere in the 13 "
                "stored bits is corrected (`corrected`), two are detected (`detected`); then "
                "`policy` applies: `zero` outputs scale 0 and every code 0, so the block "
                "decodes as zero in every MX and BFP element format (neither NaN nor a wrong "
                "magnitude), `hold` substitutes the last scale that was not detected. Three "
                "flips are miscorrected to another codeword: the code costs an attacker 2 flips "
                "per block to trigger the policy and 3 to move a scale."),
            latency_note="`pipeline` registers the outputs: 1 cycle, else 0.",
            fields={
                "in.scale": "The stored 8-bit block scale as read from memory (maybe flipped).",
                "check": "The stored 5-bit check word (bits 0-3 Hamming, bit 4 overall parity).",
                "in.codes": "The block's k element codes of w bits, as stored.",
                "out.scale": "The corrected scale, or the policy's scale on a detected error.",
                "out.codes": "The codes, zeroed by the `zero` policy on a detected error.",
                "corrected": "1 when one flip was corrected (in the scale or the check word).",
                "detected": "1 when the error is uncorrectable (two flips, or a syndrome that "
                            "names no position); the policy applied.",
            },
            generator=scale_guard.ScaleGuard,
            golden=secded.guard_block,
            stimulus=secded.guard_stimulus,
            exhaustive_size=secded.guard_space,
            defaults={"k": 32, "w": 8, "policy": "zero", "pipeline": False},
            choices={"policy": secded.POLICIES, "pipeline": (False, True)},
            # both policies; every received 13-bit word exhaustively on every backend
            configs=({}, {"policy": "hold"}),
            summary="SECDED over a stored block scale (13 bits): corrects one flip, detects two; "
                    "on a detected error zero the block or hold the last good scale",
        ),
        Block(
            name="phase_neuron",
            family="One-Spike",
            description=(
                "A layer slice of n integrate-and-fire neurons for single-spike phase coding "
                "(docs/numerics.md §10; contract: `golden.phase.slice_block`). Commands on one "
                "stream: SPIKE (input index, phase t) adds w·B^(−t) to all n membranes in one "
                "cycle, computed as `round_s(w · TAB[t mod m], t >> log2 m)` for B = 2^(1/m): per "
                "lane an INT8 × (F+1)-bit multiplier by a table constant, a barrel shift and a "
                "W-bit saturating adder, the weight column read from a memory of fan_in × n "
                "INT8 weights; LOAD writes a weight, a bias (restarting that membrane) or one "
                "of the T thresholds; FIRE scans the neurons one per cycle (T comparators and a "
                "priority encoder: the first phase whose threshold the membrane meets), emits "
                "one output event per neuron that fires and a `last` beat, and restarts every "
                "membrane from its bias. At most one output spike per neuron per window. A "
                "SPIKE with a phase ≥ T or an index ≥ fan_in, a LOAD outside the map and op 3 "
                "change nothing."),
            latency_note=(
                "A FIRE takes n + 1 cycles without back-pressure (one per neuron, then the `last` "
                "beat), during which the input is not ready; SPIKE and LOAD take one cycle and "
                "give no output."),
            fields={
                "op": "0 SPIKE, 1 FIRE, 2 LOAD, 3 nothing.",
                "addr": "SPIKE: the input index; LOAD: weight (i, j) at i·n + j, bias j at "
                        "fan_in·n + j, threshold t at fan_in·n + n + t.",
                "in.phase": "SPIKE: the input spike's phase (the field holds up to 2T − 1).",
                "data": "LOAD: the value (a weight: its low 8 bits; bias, threshold: W-bit two's "
                        "complement).",
                "index": "The neuron that fires.",
                "out.phase": "Its phase: the first t with membrane ≥ threshold t.",
                "last": "1 on the beat that closes the window (index and phase 0).",
            },
            generator=phase_neuron.PhaseNeuron,
            golden=phase_golden.slice_block,
            stimulus=phase_golden.slice_stimulus,
            exhaustive_size=phase_golden.slice_space,
            defaults={"n": 8, "fan_in": 16, "m": 2, "T": 8, "F": 8, "W": 24,
                      "rounding": "floor"},
            choices={"m": phase_golden.BASES_M, "rounding": phase_golden.ROUNDINGS},
            # the default (B = √2), rounding to nearest with B = 2^(1/4) and a 16-bit membrane
            # (saturates), and B = 2 with sizes that are no powers of two
            configs=({}, {"rounding": "nearest", "m": 4, "W": 16},
                     {"n": 3, "fan_in": 5, "m": 1, "T": 5}),
            random_vectors=3000,
            workload=workloads.phase_neuron,
            summary="Single-spike phase-coded integrate-and-fire layer slice: n neurons, "
                    "B = 2^(1/m) as shift + table, saturating membranes, at most one spike each",
        ),
        Block(
            name="mac_neuron",
            family="One-Spike",
            description=(
                "The ANN baseline of `phase_neuron` on the same operands (contract: "
                "`golden.phase.mac_block`): n neurons with the same fan_in × n INT8 weight "
                "memory and W-bit biases; an ACT beat (input index, 8-bit unsigned activation "
                "code) adds w · a to all n saturating accumulators in one cycle (per lane an "
                "INT8 × UINT8 multiplier and a W-bit adder); LOAD writes a weight or a bias "
                "(restarting that accumulator); FIRE emits the n accumulators one per cycle "
                "(`last` on the final one) and restarts them from their biases. An ACT with an "
                "index ≥ fan_in, a LOAD outside the map and op 3 change nothing."),
            latency_note=(
                "A FIRE takes n cycles without back-pressure (one output per neuron), during "
                "which the input is not ready; ACT and LOAD take one cycle and give no output."),
            fields={
                "op": "0 ACT, 1 FIRE, 2 LOAD, 3 nothing.",
                "addr": "ACT: the input index; LOAD: weight (i, j) at i·n + j, bias j at "
                        "fan_in·n + j.",
                "data": "ACT: the activation code (low 8 bits, unsigned); LOAD: the value (a "
                        "weight: its low 8 bits; a bias: W-bit two's complement).",
                "index": "The neuron.",
                "value": "Its accumulator (W-bit two's complement).",
                "last": "1 on the window's last output (neuron n − 1).",
            },
            generator=mac_neuron.MacNeuron,
            golden=phase_golden.mac_block,
            stimulus=phase_golden.mac_stimulus,
            exhaustive_size=phase_golden.slice_space,
            defaults={"n": 8, "fan_in": 16, "W": 24},
            # the default; a 16-bit accumulator that saturates, sizes no powers of two
            configs=({}, {"n": 3, "fan_in": 5, "W": 16}),
            random_vectors=3000,
            workload=workloads.mac_neuron,
            summary="INT8 MAC neuron slice (the ANN baseline of phase_neuron): n INT8 x UINT8 "
                    "MACs per cycle into saturating accumulators",
        ),
    ]
    return {b.name: b for b in entries}


BLOCKS: dict[str, Block] = _blocks()

#: cross-block comparisons for the PPA report
COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        name="mxsf_dot_vs_bf16",
        title="MX-SAFE: dot products of 32 elements with FP32 accumulation, one block per "
              "cycle, against a BF16 dot product with an FP32 adder tree",
        baseline="bf16_dot",
        configs=("mx_dot_mxsf_mxsf", "mx_dot_e4m3_e4m3", "mx_dot_e2m5_e2m5", "bf16_dot"),
        clocks=(10.0, 8.0),
        claim="MX-SAFE: an MXSF training-inference accelerator reaches BF16 accuracy with "
              "24.9 % less total energy than BF16 (accelerator level, not a single unit)"),
    Comparison(
        name="mxsf_decode",
        title="MX-SAFE: MXSF element decoder beside the MXFP8 E4M3 and E2M5 ones",
        baseline="mx_decode_e4m3",
        configs=("mx_decode_mxsf", "mx_decode_e2m5", "mx_decode_e4m3"),
        clocks=(10.0, 2.0)),
    Comparison(
        name="mxsf_quantize",
        title="MX-SAFE: FP32 -> MXSF block quantizer (k = 32, mode allocation on the fly) "
              "beside the MXFP8 E4M3 one",
        baseline="mx_quantize_e4m3",
        configs=("mxsf_quantize", "mx_quantize_e4m3"),
        clocks=(10.0, 9.0)),
)


def _pe_rates():
    """MACs per cycle of the FlexBlock PEs for 16-, 8- and 4-bit data on both sides."""
    from golden.bfp_pe import data_rate
    pes = {"bfp_pe": (16, 8, 4), "bfp_pe_modes16": (16,), "bfp_pe_modes8": (8,),
           "bfp_pe_modes4": (4,)}
    rates = {n: {f"{d}-bit": data_rate(16, modes, d) for d in (16, 8, 4)}
             for n, modes in pes.items()}
    rates["three single-mode PEs"] = {d: max(rates[n][d] for n in list(pes)[1:])
                                      for d in rates["bfp_pe"]}
    return rates


COMPARISONS += (
    Comparison(
        name="flexblock_pe",
        title="FlexBlock: the multi-mode BFP PE (16-bit lanes, modes 16/8/4) beside a "
              "single-mode 16-bit PE and three single-mode PEs side by side, same "
              "accumulation and FP32 conversion",
        baseline="bfp_pe_modes16",
        configs=("bfp_pe", "bfp_pe_modes16", "bfp_pe_modes8", "bfp_pe_modes4"),
        composites=(("three single-mode PEs", ("bfp_pe_modes16", "bfp_pe_modes8",
                                               "bfp_pe_modes4")),),
        rates=_pe_rates(),
        rate_unit="MACs/cycle",
        clocks=(10.0, 8.0),
        area_targets=(("bfp_pe_modes16", 1.25, "FlexBlock target: 1.25 × the 16-bit PE"),),
        claim="FlexBlock: 4x (8-bit) and 16x (4-bit) MACs per cycle over 16-bit mode on the "
              "same core; target here: multi-mode PE <= 1.25x the single-mode 16-bit PE's area"),
)


def _array_rates():
    """MACs per cycle of the 2 x 2 FlexBlock arrays for 16-, 8- and 4-bit data on both
    sides."""
    from golden.bfp_pe import data_rate
    arrays = {"bfp_array": (16, 8, 4), "bfp_array_modes16": (16,), "bfp_array_modes8": (8,),
              "bfp_array_modes4": (4,)}
    return {n: {f"{d}-bit": 4 * data_rate(16, modes, d) for d in (16, 8, 4)}
            for n, modes in arrays.items()}


COMPARISONS += (
    Comparison(
        name="flexblock_array",
        title="FlexBlock: the 2 × 2 multi-mode array (shared per-column conversion and FP32 "
              "buffers) beside single-mode 16-, 8- and 4-bit arrays of the same size from the "
              "same generator",
        baseline="bfp_array_modes16",
        configs=("bfp_array", "bfp_array_modes16", "bfp_array_modes8", "bfp_array_modes4"),
        rates=_array_rates(),
        rate_unit="MACs/cycle",
        clocks=(10.0, 8.0),
        area_targets=(("bfp_array_modes16", 1.25,
                       "FlexBlock target: 1.25 × the 16-bit array"),),
        claim="FlexBlock: 4x (8-bit) and 16x (4-bit) MACs per cycle over 16-bit mode on the "
              "same core; target here: the multi-mode PE's share of the array <= 1.25x the "
              "single-mode 16-bit PE's share"),
)


COMPARISONS += (
    Comparison(
        name="lightnorm_bn",
        title="LightNorm: the range batch-norm forward unit (FP10 values, FP18 accumulators, "
              "chunked range, iterative reciprocal) beside a conventional BN forward unit "
              "(FP16 values, FP32 statistics, iterative square root and reciprocal), same n, "
              "same lanes, same two-pass streaming structure; and the range-BN backward unit",
        baseline="bn_fwd",
        configs=("rangebn_fwd", "bn_fwd", "rangebn_bwd"),
        # bn_fwd cannot meet 10 ns (its timing_floor): the second clock is the one every row
        # meets, not a faster one
        clocks=(10.0, 14.0),
        claim="LightNorm: significant area and energy savings over conventional BN hardware "
              "without hurting training accuracy (no numbers public)"),
    Comparison(
        name="opal_lane",
        title="OPAL: the mixed INT/FP lane (b-bit inliers x MXINT8 weights, 4 BF16 outlier "
              "products) beside a BF16 x BF16 lane and an MXINT8 x MXINT8 lane, all 128 "
              "elements per cycle with FP32 accumulation",
        baseline="bf16_dot_k128_stages16",
        configs=("opal_dot", "opal_dot_bits5", "mx_dot_mxint8_mxint8_k128",
                 "bf16_dot_k128_stages16"),
        clocks=(10.0, 8.0),
        area_targets=(("bf16_dot_k128_stages16", 1 / 2.4,
                       "OPAL claim: 2.4 × less than BF16 (accelerator level)"),),
        claim="OPAL: 2.4-3.1x less area and 1.6-2.2x better energy efficiency than its "
              "baselines (whole accelerator, its own baselines and technology)"),
    Comparison(
        name="opal_softmax",
        title="OPAL: the log2 softmax (shifts and subtractions) beside a conventional softmax "
              "(piecewise-linear exp, exact divider), same streaming structure, same n and "
              "fixed-point widths",
        baseline="exp_softmax",
        configs=("log2_softmax", "exp_softmax"),
        clocks=(10.0, 5.0),
        claim="OPAL: a log2-based softmax that needs only shifts and subtractions, for power "
              "efficiency (part of the accelerator-level claim above)"),
    Comparison(
        name="onespike_slice",
        title="One-Spike: a slice of 8 single-spike phase-coded neurons with 16 inputs against "
              "8 INT8 MAC neurons on the same weight memory (energy per input event in the "
              "energy table; per inference in docs/onespike.md)",
        baseline="mac_neuron",
        configs=("phase_neuron", "phase_neuron_m4_W16_nearest", "mac_neuron"),
        claim="One-Spike: 4.6–17.3× more energy-efficient than the ANN (whole networks)"),
)


#: scaling sweeps that ``make synth`` measures besides the catalogue (docs/cost.md "Scaling"):
#: (block, fixed parameters, the parameter swept, its values)
SCALING = (
    ("mx_dot", {"elem_a": "e4m3", "elem_b": "e4m3"}, "k", (8, 16, 32, 64, 128)),
)


#: larger sizes of a block that ``make synth`` measures besides the catalogue, for the cost per
#: size (docs/cost.md "Array sizes"): (block, [parameter overrides]). They are not simulated by
#: ``make test`` (the generator is verified at the catalogue's sizes and, in
#: tests/hw/test_bfp_array.py, at other shapes and units per column). The 4 x 4 and 8 x 8
#: arrays have the units per column that hide a 54-beat group's conversions in 4 x 4 mode
#: ((R / units) * 16 <= 54).
SIZES = (
    ("bfp_array", ({"R": 4, "C": 4, "units": 2}, {"R": 8, "C": 8, "units": 4})),
)


def get_block(name: str) -> Block:
    if name not in BLOCKS:
        raise ParameterError(f"unknown block {name!r}; blocks are: {', '.join(BLOCKS)}")
    return BLOCKS[name]


def all_configurations() -> dict[str, tuple[Block, dict]]:
    """Every named configuration of every block: config name -> (block, params)."""
    return {n: (b, p) for b in BLOCKS.values() for n, p in b.configurations().items()}
