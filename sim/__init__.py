"""Simulation harness: payload packing, backends (Amaranth, Verilator, Icarus), lint, bench."""
