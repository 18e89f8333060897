"""mxforge: verified hardware for block-scaled number formats, and the tensor API over its golden
models (``from mxforge import quantize, dequantize``; docs/quantize.md).

The API names live in :mod:`mxforge.tensors` and are loaded on first use, so ``import mxforge``
imports neither NumPy nor amaranth.
"""
import importlib

#: the tensor API, re-exported from mxforge.tensors
_API = ("quantize", "dequantize", "formats", "Quantized", "QuantizeError")

__all__ = list(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(".tensors", __name__)
    for n in _API:
        globals()[n] = getattr(module, n)
    return globals()[name]
