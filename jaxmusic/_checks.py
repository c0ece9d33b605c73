"""Errors and argument checks shared by every jaxmusic entry point.

All checks run on static information (Python values, shapes and dtypes) so that
they work at trace time under ``jax.jit``. Value checks (NaN/inf) run only on
concrete arrays; under a trace they are skipped, since a traced value cannot be
inspected without a host callback.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "JaxMusicError",
    "ParameterError",
    "AudioError",
    "check_int",
    "check_real",
    "check_choice",
    "check_signal",
    "is_concrete",
]


class JaxMusicError(Exception):
    """Base class of every error raised by jaxmusic."""


class ParameterError(JaxMusicError, ValueError):
    """A bad argument: wrong shape, dtype, range or combination of options."""


class AudioError(JaxMusicError):
    """Missing, unreadable or corrupt audio, or audio that is empty or not finite."""


def check_int(name: str, value: Any, *, min: int | None = None, max: int | None = None) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer in ``[min, max]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if min is not None and value < min:
        raise ParameterError(f"{name} must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ParameterError(f"{name} must be <= {max}, got {value}")
    return value


def check_real(
    name: str,
    value: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    strict_min: bool = False,
) -> float:
    """Return ``value`` as a ``float`` after checking it is a finite real number in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ParameterError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not np.isfinite(value):
        raise ParameterError(f"{name} must be finite, got {value}")
    if min is not None and (value <= min if strict_min else value < min):
        raise ParameterError(f"{name} must be {'>' if strict_min else '>='} {min}, got {value}")
    if max is not None and value > max:
        raise ParameterError(f"{name} must be <= {max}, got {value}")
    return value


def check_choice(name: str, value: Any, choices) -> Any:
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ParameterError(f"{name} must be one of {sorted(map(repr, choices))}, got {value!r}")
    return value


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values (not a tracer inside ``jit``/``vmap``/``grad``)."""
    return not isinstance(x, jax.core.Tracer)


def check_signal(
    x: Any,
    *,
    name: str = "x",
    length: int | None = None,
    min_length: int = 1,
    min_ndim: int = 1,
    allow_complex: bool = False,
) -> None:
    """Check a signal of shape ``(..., time)``.

    Raises `ParameterError` for a non-array, an integer/bool dtype, a complex
    dtype (unless allowed), a last axis that is not ``length`` or is shorter than
    ``min_length``, and NaN/inf values when ``x`` is concrete.
    """
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is None or dtype is None:
        raise ParameterError(
            f"{name} must be an array of shape (..., time), got {type(x).__name__}"
        )
    if len(shape) < min_ndim:
        raise ParameterError(f"{name} must have at least {min_ndim} axis, got shape {tuple(shape)}")
    kind = np.dtype(dtype).kind
    if kind == "c" and not allow_complex:
        raise ParameterError(f"{name} must be real floating point, got dtype {dtype}")
    if kind not in "fc":
        raise ParameterError(
            f"{name} must be floating point (e.g. float32), got dtype {dtype}; "
            "convert integer PCM with jaxmusic.audio.to_float"
        )
    n = shape[-1]
    if length is not None and n != length:
        raise ParameterError(
            f"{name} must have {length} samples on its last axis, got shape {tuple(shape)}"
        )
    if n < min_length:
        raise ParameterError(
            f"{name} is too short: {n} samples on its last axis (shape {tuple(shape)}), "
            f"need at least {min_length}"
        )
    if is_concrete(x) and np.size(x):
        # on the array's own device: only the count comes back to the host
        xp = np if isinstance(x, np.ndarray) else jnp
        bad = int(xp.size(x) - xp.count_nonzero(xp.isfinite(x)))
        if bad:
            raise ParameterError(f"{name} has {bad} NaN or inf values (shape {tuple(shape)})")
