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
    from hw import bfp_quantize
    from hw import bfp_dot
    from golden import bfp
    from hw import rangebn
    from golden import rangebn as rangebn_golden
    from hw import opal_quantize, opal_dot, softmax
    from golden import opal, softmax as softmax_golden

    entries = [
        Block(
            name="mx_decode",
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
            summary="MX element + E8M0 scale decoder to (sign, significand, exponent, inf, nan)",
        ),
        Block(
            name="mx_quantize",
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
            summary="FP32 block -> OCP MX block (E8M0 scale + k element codes), floor/ceil scale",
        ),
        Block(
            name="mxsf_quantize",
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
            # numerics §6's MXSF at k = 32; sub_bias 6 (overlap) and 10 (gap) at k = 4 (the
            # per-lane encoder is what the variants change)
            configs=({}, {"k": 4, "sub_bias": 6}, {"k": 4, "sub_bias": 10},
                     {"k": 4, "rounding": "rtz", "sub_bias": 10}),
            random_vectors=20000,
            interp_vectors=300,
            amaranth_full=("mxsf_quantize",),
            baseline="mx_quantize_e4m3",
            summary="FP32 block -> MXSF block (MX-SAFE: E2M5 / sub-mode allocation on the fly)",
        ),
        Block(
            name="mx_dot",
            generator=mx_dot.MxDot,
            golden=mx_dot_golden.dot_block,
            stimulus=mx_dot_golden.dot_stimulus,
            exhaustive_size=mx_dot_golden.dot_space,
            defaults={"elem_a": "e4m3", "elem_b": "e4m3", "k": 32,
                      "stages": mx_dot.DEFAULT_STAGES},
            choices={"elem_a": _ELEMENT_CHOICES, "elem_b": _ELEMENT_CHOICES},
            name_params=("elem_a", "elem_b"),
            configs=tuple({"elem_a": e, "elem_b": e} for e in (
                "e4m3", "e5m2", "e2m1", "mxint8", "e3m2", "e2m3", "mxsf")) + (
                {"elem_a": "e2m5", "elem_b": "e2m5"},
                {"elem_a": "mxsf_b6", "elem_b": "mxsf_b6", "k": 4},
                {"elem_a": "mxsf_b10", "elem_b": "mxsf_b10", "k": 4},
                {"elem_a": "e4m3", "elem_b": "e5m2"},
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
                              "mx_dot_e4m3_e5m2", "mx_dot_e4m3_e4m3_stages0",
                              "mx_dot_e4m3_e4m3_stages6", "mx_dot_e5m2_e2m1_k5_stages2",
                              "mx_dot_mxsf_b10_mxsf_b10_k4"),
                "icarus": ("mx_dot_e4m3_e4m3", "mx_dot_e5m2_e5m2", "mx_dot_e2m1_e2m1",
                           "mx_dot_mxint8_mxint8", "mx_dot_e3m2_e3m2", "mx_dot_e2m3_e2m3",
                           "mx_dot_mxsf_b6_mxsf_b6_k4", "mx_dot_mxint8_mxint8_k128")},
            amaranth_full=("mx_dot_mxsf_mxsf",),
            # OPAL's 128-element MXINT8 baseline lane: 60 random blocks and every corner
            large={"mx_dot_mxint8_mxint8_k128": 60},
            baseline="mx_dot_e4m3_e4m3",
            summary="MX block dot product + FP32 accumulate, exact sum, one RNE rounding",
        ),
        Block(
            name="mxsf_tile_buffer",
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
            # pairs); 5,000 requests per configuration and backend
            random_vectors=5000,
            baseline="mxsf_tile_buffer_rows1_cols32",
            summary="MX-SAFE r x c tile store (one E8M0 scale per tile), read row- or "
                    "column-wise as k-element dot-product operands",
        ),
        Block(
            name="bf16_dot",
            generator=bf16_dot.Bf16Dot,
            golden=bf16_dot_golden.dot_block,
            stimulus=bf16_dot_golden.dot_stimulus,
            exhaustive_size=bf16_dot_golden.dot_space,
            defaults={"k": bf16_dot_golden.DEFAULT_K, "stages": bf16_dot.DEFAULT_STAGES},
            # k = 32: MX-SAFE's baseline; k = 4 unpipelined: the whole tree in one cycle
            # OPAL's BF16 baseline lane of 128
            configs=({}, {"k": 4, "stages": 0}, {"k": 128}),
            # Icarus: the unpipelined k = 4 tree and OPAL's 128-element baseline (a 4 MB
            # design: Icarus builds it in seconds where Verilator's C++ compile takes minutes);
            # Verilator the k = 32 and k = 4 trees on every vector
            backend_configs={"verilator": ("bf16_dot", "bf16_dot_k4_stages0"),
                             "icarus": ("bf16_dot_k4_stages0", "bf16_dot_k128")},
            large={"bf16_dot_k128": 60},
            random_vectors=20000,
            # ~17 ms per k = 32 vector in Amaranth's simulator (63 FP32 operators, each a submodule)
            interp_vectors=200,
            summary="BF16 dot product (baseline): FP32 products, FP32 adder tree, FP32 "
                    "accumulate, IEEE RNE in every step",
        ),
        Block(
            name="bfp_quantize",
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
            summary="FP32 group -> block floating point (shared exponent, signs, m-bit "
                    "magnitudes, zero-setting-error count), rtz/rne/stochastic",
        ),
        Block(
            name="bfp_dot",
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
                "verilator": ("bfp_dot", "bfp_dot_G216_ma4_mb4", "bfp_dot_mb8_stages6",
                              "bfp_dot_G16_ma8_mb8_stages0"),
                "icarus": ("bfp_dot", "bfp_dot_G108_ma8_mb8", "bfp_dot_G16_ma8_mb8_stages0")},
            summary="BFP group dot product + FP32 accumulate (FlexBlock): exact integer sum, "
                    "one RNE rounding",
        ),
        Block(
            name="bfp_pe",
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
            # configuration and backend, then the corner groups (~1,300 beats)
            random_vectors=3000,
            baseline="bfp_pe_modes16",
            summary="FlexBlock multi-mode BFP PE: 16-bit lanes as 1x16, 2x8 or 4x4-bit "
                    "sub-words per side, every cross product per cycle, exact group "
                    "accumulation, shared FP32 conversion",
        ),
        Block(
            name="rangebn_fwd",
            generator=rangebn.RangeBnFwd,
            golden=rangebn_golden.fwd_block,
            stimulus=rangebn_golden.fwd_stimulus,
            exhaustive_size=rangebn_golden.stream_space,
            defaults={"n": rangebn_golden.DEFAULT_N, "lanes": rangebn_golden.DEFAULT_LANES,
                      "rounding": "rtz", "stages": rangebn.DEFAULT_STAGES,
                      "chunks": rangebn_golden.CHUNKS, "bfp": False},
            choices={"rounding": rangebn_golden.ROUNDINGS,
                     "stages": tuple(range(rangebn.MAX_STAGES + 1)), "bfp": (False, True)},
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
            summary="LightNorm range batch-norm forward: FP10 (1-5-4) values, FP18 "
                    "accumulators, chunked range statistics, iterative reciprocal, two passes",
        ),
        Block(
            name="rangebn_bwd",
            generator=rangebn.RangeBnBwd,
            golden=rangebn_golden.bwd_block,
            stimulus=rangebn_golden.bwd_stimulus,
            exhaustive_size=rangebn_golden.stream_space,
            defaults={"n": rangebn_golden.DEFAULT_N, "lanes": rangebn_golden.DEFAULT_LANES,
                      "rounding": "rtz", "stages": rangebn.DEFAULT_STAGES,
                      "chunks": rangebn_golden.CHUNKS},
            choices={"rounding": rangebn_golden.ROUNDINGS,
                     "stages": tuple(range(rangebn.MAX_STAGES + 1))},
            configs=({}, {"n": 64, "lanes": 2, "rounding": "rne", "stages": 1}),
            random_vectors=1200,
            interp_vectors=1024,
            record_beats=rangebn_golden.channel_beats,
            summary="LightNorm range batch-norm backward: FP10 (1-6-3) gradients, FP17 "
                    "accumulators, argmax/argmin chunk terms, two passes",
        ),
        Block(
            name="bn_fwd",
            generator=rangebn.BnFwd,
            golden=rangebn_golden.bn_block,
            stimulus=rangebn_golden.bn_stimulus,
            exhaustive_size=rangebn_golden.stream_space,
            defaults={"n": rangebn_golden.DEFAULT_N, "lanes": rangebn_golden.DEFAULT_LANES,
                      "stages": rangebn.DEFAULT_STAGES},
            choices={"stages": tuple(range(rangebn.MAX_STAGES + 1))},
            configs=({}, {"n": 64, "lanes": 2, "stages": 1}),
            random_vectors=1200,
            interp_vectors=1024,
            record_beats=rangebn_golden.channel_beats,
            summary="Conventional batch-norm forward (LightNorm's baseline): FP16 values, FP32 "
                    "sums of x and x^2, iterative square root and divider, two passes",
        ),
        Block(
            name="opal_quantize",
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
            summary="OPAL quantizer: FP32 block of 128 (16 per beat) -> k BF16 outliers + "
                    "indices (streaming top-k), MXINT-b inliers with an E8M0 scale",
        ),
        Block(
            name="opal_dot",
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
            baseline="bf16_dot_k128",
            summary="OPAL mixed lane: b-bit x INT8 inlier products (exact integer sum), k BF16 "
                    "outlier products, FP32 adds in a defined order, FP32 accumulate",
        ),
        Block(
            name="log2_softmax",
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
            summary="OPAL log2 softmax: shift-and-subtract exponent, leading-one log2 of the "
                    "sum, power-of-two-ish outputs; n scores streamed in and out",
        ),
        Block(
            name="exp_softmax",
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
            summary="Conventional softmax (OPAL's baseline): piecewise-linear exp, exact "
                    "divider; n scores streamed in and out",
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
        claim="MX-SAFE: an MXSF training-inference accelerator reaches BF16 accuracy with "
              "24.9 % less total energy than BF16 (accelerator level, not a single unit)"),
    Comparison(
        name="mxsf_decode",
        title="MX-SAFE: MXSF element decoder beside the MXFP8 E4M3 and E2M5 ones",
        baseline="mx_decode_e4m3",
        configs=("mx_decode_mxsf", "mx_decode_e2m5", "mx_decode_e4m3")),
    Comparison(
        name="mxsf_quantize",
        title="MX-SAFE: FP32 -> MXSF block quantizer (k = 32, mode allocation on the fly) "
              "beside the MXFP8 E4M3 one",
        baseline="mx_quantize_e4m3",
        configs=("mxsf_quantize", "mx_quantize_e4m3")),
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
        claim="FlexBlock: 4x (8-bit) and 16x (4-bit) MACs per cycle over 16-bit mode on the "
              "same core; target here: multi-mode PE <= 1.25x the single-mode 16-bit PE's area"),
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
        claim="LightNorm: significant area and energy savings over conventional BN hardware "
              "without hurting training accuracy (no numbers public)"),
    Comparison(
        name="opal_lane",
        title="OPAL: the mixed INT/FP lane (b-bit inliers x MXINT8 weights, 4 BF16 outlier "
              "products) beside a BF16 x BF16 lane and an MXINT8 x MXINT8 lane, all 128 "
              "elements per cycle with FP32 accumulation",
        baseline="bf16_dot_k128",
        configs=("opal_dot", "opal_dot_bits5", "mx_dot_mxint8_mxint8_k128", "bf16_dot_k128"),
        claim="OPAL: 2.4-3.1x less area and 1.6-2.2x better energy efficiency than its "
              "baselines (whole accelerator, its own baselines and technology)"),
    Comparison(
        name="opal_softmax",
        title="OPAL: the log2 softmax (shifts and subtractions) beside a conventional softmax "
              "(piecewise-linear exp, exact divider), same streaming structure, same n and "
              "fixed-point widths",
        baseline="exp_softmax",
        configs=("log2_softmax", "exp_softmax"),
        claim="OPAL: a log2-based softmax that needs only shifts and subtractions, for power "
              "efficiency (part of the accelerator-level claim above)"),
)


def get_block(name: str) -> Block:
    if name not in BLOCKS:
        raise ParameterError(f"unknown block {name!r}; blocks are: {', '.join(BLOCKS)}")
    return BLOCKS[name]


def all_configurations() -> dict[str, tuple[Block, dict]]:
    """Every named configuration of every block: config name -> (block, params)."""
    return {n: (b, p) for b in BLOCKS.values() for n, p in b.configurations().items()}
