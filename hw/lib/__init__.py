"""The shared tier of the hardware: arithmetic and stream primitives that the blocks in ``hw/``
are built from (the block contract's ports, the register-cut pipeline, reduction trees, element
decode and the one round-and-pack encoder, FP operators, the fused FP32 accumulate step, the
iterative divider and square root). Nothing here is a catalogued block; each primitive exists
once and every block uses that one."""
