"""Parameter checks with one-sentence errors that name the parameter, the value and what is
allowed. Shared by the golden models and (through ``hw.lib.block``) the hardware generators."""

__all__ = ["check_choice", "check_int", "check_bool"]


def check_choice(name, value, allowed):
    """ValueError naming ``name``, the value and the allowed values unless ``value in allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def check_int(name, value, lo, hi, note=""):
    """TypeError for a non-integer, ValueError outside ``lo..hi`` (``note`` explains the range)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer in {lo}..{hi}{note}, not {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}{note}, not {value!r}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value
