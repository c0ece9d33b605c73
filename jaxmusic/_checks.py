"""Errors and argument checks shared by every jaxmusic entry point.

All checks run on static information (Python values, shapes and dtypes) so that
they work at trace time under ``jax.jit``. Value checks (NaN/inf) run only on
concrete arrays; under a trace they are skipped, since a traced value cannot be
inspected without a host callback. `checked` is the way to keep them under a
trace: it stages the checks with ``jax.experimental.checkify``.

The input rules every transform and feature follows:

- signals are ``(..., time)``; channels-last audio is refused with a hint to pass
  ``y.T`` (`check_layout`);
- float16 and bfloat16 input is computed in float32 and gives float32 output
  (`upcast`); float32 and float64 keep their precision; integer, bool and (where
  not meant) complex input is an error;
- a signal shorter than one frame gives a `JaxMusicWarning` (`warn_short`);
- an empty batch ``(0, ..., time)`` gives an empty output of the documented shape.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import threading
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "JaxMusicError",
    "ParameterError",
    "AudioError",
    "NonFiniteError",
    "JaxMusicWarning",
    "checked",
    "check_int",
    "check_real",
    "check_choice",
    "check_signal",
    "is_concrete",
    "is_float_dtype",
    "upcast",
    "check_layout",
    "warn_short",
    "check_output",
]


class JaxMusicError(Exception):
    """Base class of every error raised by jaxmusic."""


class ParameterError(JaxMusicError, ValueError):
    """A bad argument: wrong shape, dtype, range or combination of options."""


class AudioError(JaxMusicError):
    """Missing, unreadable or corrupt audio, or audio that is empty or not finite."""


class NonFiniteError(ParameterError):
    """NaN or inf values in an input or an output of a `checked` function."""


class JaxMusicWarning(UserWarning):
    """A result that is computed but probably not what was meant (e.g. a signal
    shorter than one frame, which is then mostly zero padding)."""


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
    kind = "f" if is_float_dtype(dtype) else np.dtype(dtype).kind
    if kind == "c" and not allow_complex:
        raise ParameterError(f"{name} must be real floating point, got dtype {dtype}")
    if kind not in "fc":
        raise ParameterError(
            f"{name} must be floating point (e.g. float32), got dtype {dtype}; "
            "convert integer PCM with jaxmusic.audio.to_float"
        )
    n = shape[-1]
    if length is not None and n != length:
        hint = ""
        if len(shape) >= 2 and shape[-2] == length:
            hint = (f"; its time axis looks like axis -2 (channels-last?): jaxmusic takes signals as "
                    f"(..., time), pass {name}.T or jnp.moveaxis({name}, -2, -1)")
        raise ParameterError(
            f"{name} must have {length} samples on its last axis, got shape {tuple(shape)}{hint}"
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


# ------------------------------------------------------------- dtypes and layout


def is_float_dtype(dtype: Any) -> bool:
    """True for real floating dtypes, bfloat16 included (NumPy sees it as kind ``'V'``)."""
    try:
        return bool(jnp.issubdtype(dtype, jnp.floating))
    except TypeError:
        return False


def upcast(x: Any) -> jax.Array:
    """``x`` as a JAX array, half precision (float16, bfloat16) cast to float32.

    The one dtype rule of every jaxmusic transform and feature: FFTs and matrix
    products do not run (or lose too much) in 16 bits, so half-precision input is
    computed in float32 and gives float32 output; float32 and float64 are kept.
    """
    x = jnp.asarray(x)
    if is_float_dtype(x.dtype) and jnp.finfo(x.dtype).bits < 32:
        x = x.astype(jnp.float32)
    return x


def check_layout(x: Any, frame: int, *, name: str = "y", what: str | None = None) -> None:
    """Refuse channels-last audio: a last axis shorter than ``frame`` samples while
    axis -2 is at least that long (``(samples, channels)`` instead of ``(..., time)``).

    ``what`` names the frame in the message (default ``"one frame (n_fft=...)"``).
    """
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) >= 2 and shape[-1] < frame <= shape[-2]:
        what = what or f"one frame (n_fft={frame})"
        raise ParameterError(
            f"{name} has shape {shape}: its last axis ({shape[-1]} samples) is shorter than {what} "
            f"while axis -2 ({shape[-2]}) is long enough to be time. jaxmusic, like librosa, takes "
            f"audio as (..., time): for channels-last audio (samples, channels) pass {name}.T; "
            f"for a batch of short signals, pad each to at least {frame} samples"
        )


_PACKAGE_DIRS = None


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside jaxmusic and
    jax (the user's call, also when the warning is raised while ``jax.jit`` traces)."""
    global _PACKAGE_DIRS
    if _PACKAGE_DIRS is None:
        import os

        _PACKAGE_DIRS = tuple(os.path.dirname(m.__file__) + os.sep
                              for m in (jax, __import__(__name__.rpartition(".")[0])))
    frame, level = inspect.currentframe(), 0
    while frame is not None and (frame.f_code.co_filename.startswith(_PACKAGE_DIRS) or level == 0):
        frame, level = frame.f_back, level + 1
    return max(level, 1)


def warn_short(n: int, frame: int, *, name: str = "y", what: str | None = None,
               fix: str = "pass a longer signal or a smaller n_fft") -> None:
    """Warn (`JaxMusicWarning`) when a signal of ``n`` samples is shorter than one
    frame of ``frame`` samples, as librosa does for ``n_fft`` larger than the signal."""
    if 0 < n < frame:
        head = what or f"n_fft={frame} is too large for input signal of length={n}"
        warnings.warn(
            f"{head} ({name} has {n} sample{'s' if n != 1 else ''} on its last axis): its frames are "
            f"mostly zero padding; {fix}",
            JaxMusicWarning,
            stacklevel=_user_stacklevel(),
        )


def check_output(out: Any, x: Any, *, name: str = "y", what: str = "output") -> Any:
    """Return ``out``; for a concrete input ``x`` whose output holds NaN/inf (float
    overflow, e.g. the power spectrum of a signal peaking near 1e30 in float32),
    raise `ParameterError` naming the peak of ``x``. Under a trace nothing is checked."""
    leaves = [a for a in jax.tree_util.tree_leaves(out) if hasattr(a, "dtype")]
    if not leaves or not is_concrete(x) or not all(is_concrete(a) for a in leaves):
        return out
    bad = sum(int(a.size - jnp.count_nonzero(jnp.isfinite(a))) for a in leaves if a.size)
    if bad:
        size = int(np.size(x))
        peak = float(jnp.max(jnp.abs(jnp.asarray(x, jnp.float32 if is_float_dtype(x.dtype) and
                                                 jnp.finfo(x.dtype).bits < 32 else None)))) if size else 0.0
        real = jnp.finfo(leaves[0].dtype)
        raise ParameterError(
            f"{name} peaks at {peak:.3g} (shape {tuple(np.shape(x))}): {bad} values of its {what} are "
            f"not representable in {real.dtype} (largest {float(real.max):.3g}); scale {name} down "
            f"first (e.g. {name} / abs({name}).max()), or compute in float64 (jax_enable_x64)"
        )
    return out


# ------------------------------------------------------------------ checked path

_CHECKED = threading.local()


def _is_array(v: Any) -> bool:
    return isinstance(v, (jax.Array, np.ndarray, np.generic))


_FIX = "; find where they come from, or repair those samples (e.g. jnp.nan_to_num) before the call"


def _inexact(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and (is_float_dtype(dtype) or np.dtype(dtype).kind == "c") and np.size(leaf) > 0


def _stage_finite(name: str, leaf: Any) -> None:
    """Stage a checkify check that ``leaf`` holds no NaN/inf (floating or complex leaves)."""
    from jax.experimental import checkify

    if not _inexact(leaf):
        return
    a = jnp.asarray(leaf)
    n_nan = jnp.sum(jnp.isnan(a))
    n_inf = jnp.sum(jnp.isinf(a))
    label = name.replace("{", "{{").replace("}", "}}")
    checkify.check(
        n_nan + n_inf == 0,
        f"{label} has {{nan}} NaN and {{inf}} inf values (of {a.size}, shape {tuple(a.shape)})",
        nan=n_nan,
        inf=n_inf,
    )


def _eager_finite(name: str, leaf: Any) -> None:
    """`_stage_finite` for a concrete leaf: raise `NonFiniteError` now."""
    if not _inexact(leaf):
        return
    a = jnp.asarray(leaf)
    n_nan, n_inf = int(jnp.sum(jnp.isnan(a))), int(jnp.sum(jnp.isinf(a)))
    if n_nan or n_inf:
        raise NonFiniteError(f"{name} has {n_nan} NaN and {n_inf} inf values (of {a.size}, "
                             f"shape {tuple(a.shape)})" + _FIX)


def _named_leaves(prefix: str, tree: Any):
    return [(prefix + jax.tree_util.keystr(path), leaf)
            for path, leaf in jax.tree_util.tree_leaves_with_path(tree)]


def checked(fn: Callable) -> Callable:
    """Wrap ``fn`` so that NaN/inf in its array inputs or outputs raise `NonFiniteError`.

    jaxmusic checks values (NaN/inf) only for concrete input: inside ``jax.jit``,
    ``jax.vmap`` or ``jax.grad`` a traced value cannot be inspected, so a NaN goes
    through silently. ``checked(fn)`` stages the checks with
    ``jax.experimental.checkify`` instead, so they run inside compiled code, and
    raises after the call with a message naming the argument (or output) and how
    many NaN and inf values it holds.

    Put ``checked`` outermost: ``checked(jax.jit(S))(x)``,
    ``checked(jax.vmap(S))(xs)``, ``checked(jax.jit(step))(params, batch)``. A
    ``checked`` function called inside a function that is itself ``checked``
    contributes its checks to the outer one; called inside a bare
    ``jax.jit``/``vmap``/``grad`` it raises `ParameterError` saying where to put it.

    Parameters
    ----------
    fn : callable
        A transform (``Scattering1D(...)``, ``features.MFCC(...)``), a feature
        function (``features.mfcc``) or any function of arrays. Array arguments
        (JAX or NumPy, at any depth of a pytree) are checked and traced; every
        other argument (``sr=22050``, strings, None) is passed through as static.

    Returns
    -------
    callable
        Same signature and outputs as ``fn``.

    Raises (from the returned function)
    ------
    NonFiniteError
        An input or output holds NaN or inf; e.g. ``"argument x has 3 NaN and 0
        inf values (of 256, shape (256,))"`` (inside ``vmap``: per signal).

    Examples
    --------
    >>> S = jaxmusic.Scattering1D(J=6, shape=4096)
    >>> Sx = jaxmusic.checked(jax.jit(S))(x)          # doctest: +SKIP
    """
    if not callable(fn):
        raise ParameterError(f"checked needs a callable, got {type(fn).__name__}")
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    label = getattr(fn, "__name__", None) or type(fn).__name__

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from jax.experimental import checkify

        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        dyn_index = [i for i, v in enumerate(leaves) if _is_array(v)]

        def inputs(a, kw):
            for i, arg in enumerate(a):
                name = positional[i] if i < len(positional) else f"args[{i}]"
                yield from _named_leaves(f"argument {name}", arg)
            for key, arg in kw.items():
                yield from _named_leaves(f"argument {key}", arg)

        def instrumented(*dyn, check_inputs=True):
            full = list(leaves)
            for i, v in zip(dyn_index, dyn):
                full[i] = v
            a, kw = jax.tree_util.tree_unflatten(treedef, full)
            if check_inputs:
                for n, leaf in inputs(a, kw):
                    _stage_finite(n, leaf)
            out = fn(*a, **kw)
            for n, leaf in _named_leaves(f"the output of {label}", out):
                _stage_finite(n, leaf)
            return out

        dyn = [leaves[i] for i in dyn_index]
        if any(isinstance(v, jax.core.Tracer) for v in dyn):
            if not getattr(_CHECKED, "depth", 0):
                raise ParameterError(
                    f"jaxmusic.checked({label}) was called inside jax.jit/vmap/grad: errors cannot be "
                    "raised from inside a trace. Put checked outermost instead, e.g. "
                    "jaxmusic.checked(jax.jit(f)) or jaxmusic.checked(jax.vmap(f))"
                )
            return instrumented(*dyn)  # the enclosing checked functionalizes these checks
        for n, leaf in inputs(args, kwargs):  # concrete: the inputs are checked now
            _eager_finite(n, leaf)
        _CHECKED.depth = getattr(_CHECKED, "depth", 0) + 1
        try:
            err, out = checkify.checkify(functools.partial(instrumented, check_inputs=False),
                                         errors=checkify.user_checks)(*dyn)
        finally:
            _CHECKED.depth -= 1
        message = err.get()
        if message:
            raise NonFiniteError(message.replace(" (`check` failed)", "") + _FIX)
        return out

    return wrapper
