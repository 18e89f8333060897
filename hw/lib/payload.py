"""Packing of payload fields to and from the flat bit vectors seen on a stream port.

A payload is described by an ``amaranth.lib.data.StructLayout``. On the Python side it is a dict
``field name -> NumPy array`` with one row per vector: a plain field is a 1-D array, an
``ArrayLayout`` field adds one trailing axis per array level (``(n, length)``), and a nested
``StructLayout`` field is a nested dict of the same form (an array of structs is a dict whose
leaves carry the array axes). Signed fields carry signed values.

On the hardware side a payload is one integer per vector, bit ``offset`` of a field at bit
``offset`` of the integer (the layout's own ``Field.offset``), exactly as Amaranth packs a
``View``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

__all__ = ["pack", "unpack", "leaves", "Leaf", "flat_fields"]


@dataclass(frozen=True)
class Leaf:
    """One scalar field of a flattened layout.

    Attributes
    ----------
    path : tuple of str
        Names from the top struct down to this field (array levels are not names).
    dims : tuple of int
        Lengths of the enclosing arrays, outermost first (``()`` for a plain field).
    offsets : numpy.ndarray
        Bit offset of every element, shape ``dims`` (a 0-d array for a plain field).
    width : int
    signed : bool
    """

    path: tuple
    dims: tuple
    offsets: np.ndarray
    width: int
    signed: bool


def _walk(shape, path, dims, offsets, out):
    if isinstance(shape, data.StructLayout):
        for name, field in shape:
            _walk(field.shape, path + (name,), dims, offsets + field.offset, out)
    elif isinstance(shape, data.ArrayLayout):
        elem_width = Shape.cast(shape.elem_shape).width
        step = np.arange(shape.length, dtype=np.int64) * elem_width
        _walk(shape.elem_shape, path, dims + (shape.length,),
              offsets[..., None] + step, out)
    elif isinstance(shape, data.Layout):
        raise TypeError(f"payload field {'.'.join(path)!r} has a {type(shape).__name__}, "
                        f"which hw.lib.payload does not support (struct and array layouts only)")
    else:
        s = Shape.cast(shape)
        out.append(Leaf(path, dims, offsets, s.width, s.signed))


def leaves(layout) -> list[Leaf]:
    """Flatten ``layout`` (a StructLayout) into its scalar fields, in layout order."""
    if not isinstance(layout, data.StructLayout):
        raise TypeError(f"payload layout must be a StructLayout, not {layout!r}")
    out: list[Leaf] = []
    _walk(layout, (), (), np.zeros((), dtype=np.int64), out)
    return out


def flat_fields(fields: dict, prefix: str = ""):
    """``(dotted name, array)`` of every leaf of a nested field dict (``"a.b"`` for field ``b``
    of struct field ``a``), in dict order."""
    for name, v in fields.items():
        if isinstance(v, dict):
            yield from flat_fields(v, f"{prefix}{name}.")
        else:
            yield prefix + name, np.asarray(v)


def _total_width(layout) -> int:
    return Shape.cast(layout).width


def _get(fields, path):
    v = fields
    for i, name in enumerate(path):
        if not isinstance(v, dict) or name not in v:
            raise KeyError(f"payload field {'.'.join(path[:i + 1])!r} is missing")
        v = v[name]
    return v


def _check_names(layout, fields, prefix=""):
    if not isinstance(fields, dict):
        raise TypeError(f"payload field {prefix.rstrip('.') or '(top)'!r} must be a dict")
    names = {name for name, _ in layout}
    extra = sorted(set(fields) - names)
    if extra:
        raise KeyError(f"payload has no field {prefix + extra[0]!r}; "
                       f"its fields are: {', '.join(prefix + n for n in names)}")
    for name, field in layout:
        shape = field.shape
        while isinstance(shape, data.ArrayLayout):
            shape = shape.elem_shape
        if isinstance(shape, data.StructLayout) and name in fields:
            _check_names(shape, fields[name], prefix + name + ".")


def pack(layout, fields: dict) -> np.ndarray:
    """Pack ``fields`` into one integer per vector.

    Parameters
    ----------
    layout : StructLayout
    fields : dict
        Field name -> integer array (see the module docstring); every row count must agree.

    Returns
    -------
    numpy.ndarray
        ``uint64`` when the payload is at most 63 bits wide, otherwise ``object`` (Python ints).

    Raises
    ------
    KeyError
        A field is missing or unknown.
    ValueError
        A value does not fit its field, or an array field has the wrong shape.
    """
    _check_names(layout, fields)
    wide = _total_width(layout) > 63
    n = None
    acc = None
    for leaf in leaves(layout):
        name = ".".join(leaf.path)
        v = np.asarray(_get(fields, leaf.path))
        if v.dtype == object:
            v = v.astype(np.int64) if leaf.width <= 63 else v
        elif not np.issubdtype(v.dtype, np.integer) and not np.issubdtype(v.dtype, np.bool_):
            raise ValueError(f"payload field {name!r} must hold integers, not {v.dtype}")
        if n is None:
            n = v.shape[0] if v.ndim else 1
            acc = np.zeros(n, dtype=object if wide else np.uint64)
        if v.shape != (n,) + leaf.dims:
            raise ValueError(f"payload field {name!r} has shape {v.shape}, "
                             f"expected {(n,) + leaf.dims}")
        lo, hi = (-(1 << (leaf.width - 1)), 1 << (leaf.width - 1)) if leaf.signed \
            else (0, 1 << leaf.width)
        if v.size and (int(v.min()) < lo or int(v.max()) >= hi):
            bad = next(int(x) for x in v.ravel().tolist() if not lo <= int(x) < hi)
            raise ValueError(f"payload field {name!r} value {bad} does not fit "
                             f"{'signed' if leaf.signed else 'unsigned'}({leaf.width})")
        mask = (1 << leaf.width) - 1
        flat = v.reshape(n, int(np.prod(leaf.dims, dtype=np.int64)))
        for j, off in enumerate(leaf.offsets.reshape(-1).tolist()):
            if wide:
                col = np.array([int(x) & mask for x in flat[:, j].tolist()], dtype=object)
                acc = acc + (col << off)
            else:
                col = flat[:, j].astype(np.int64) & mask
                acc |= col.astype(np.uint64) << np.uint64(off)
    if acc is None:
        return np.zeros(0, dtype=np.uint64)
    return acc


def unpack(layout, ints) -> dict:
    """Split packed payloads back into fields (inverse of :func:`pack`).

    Parameters
    ----------
    layout : StructLayout
    ints : sequence of int or numpy.ndarray
        One packed payload per vector (non-negative).

    Returns
    -------
    dict
        Field name -> ``int64`` array (``object`` for a field wider than 63 bits); signed
        fields are sign-extended.
    """
    wide = _total_width(layout) > 63
    if wide:
        arr = np.array([int(x) for x in ints], dtype=object)
    else:
        arr = np.asarray(ints)
        arr = arr.astype(np.uint64) if arr.dtype != object else \
            np.array([int(x) for x in arr], dtype=np.uint64)
    n = arr.shape[0]
    out: dict = {}
    for leaf in leaves(layout):
        mask = (1 << leaf.width) - 1
        offs = leaf.offsets.reshape(-1).tolist()
        cols = []
        for off in offs:
            if wide:
                col = (arr >> off) & mask
                if leaf.signed:
                    half = 1 << (leaf.width - 1)
                    col = (col ^ half) - half
                if leaf.width <= 63:
                    col = col.astype(np.int64)
            else:
                col = ((arr >> np.uint64(off)) & np.uint64(mask)).astype(np.int64)
                if leaf.signed:
                    half = np.int64(1 << (leaf.width - 1))
                    col = (col ^ half) - half
            cols.append(col)
        dtype = cols[0].dtype if cols else np.int64
        v = np.stack(cols, axis=1).reshape((n,) + leaf.dims) if leaf.dims else \
            (cols[0] if cols else np.zeros(n, dtype))
        d = out
        for name in leaf.path[:-1]:
            d = d.setdefault(name, {})
        d[leaf.path[-1]] = v
    return out
