r"""The four properties of a representation, measured: the course's "Representations" slide.

The course notes ask of a representation :math:`\Phi` discriminability, stability
(:math:`\|\Phi x - \Phi y\| \le C \|x - y\|`), invariance to a group of
transformations and reconstruction, and argue that the Fourier modulus is invariant
to translations but unstable to deformations (at high frequencies), that wavelets
and scattering are stable, and that MFCCs are not invariant to realistic pitch
shifts. Two experiments measure those claims:

- `representation_properties`: the four properties of several transforms on the
  same notes (one number per property and transform), and the Fourier-vs-wavelet
  argument on Gabor atoms swept in frequency;
- `transposition_distances`: how far a note's representation moves when the note
  is transposed, really (the same instrument at other keys) or by resampling,
  in units of the distance between instruments at the same pitch.

`run_properties` and `run_transposition` run them on the built-in notes
(`jaxmusic.data.gm8`) and write a figure, a JSON file and (properties) a markdown
table. `default_transforms` is the seed's set of transforms with small
configurations.

What is measured (every norm is Euclidean over all the coefficients)
--------------------------------------------------------------------
``discriminability``
    ``mean_{i<j} ||Phi x_i - Phi x_j|| / mean_i ||Phi x_i||``: the mean distance
    between the representations of different notes, relative to their mean norm
    (their spread about zero). 0 when every note has the same representation,
    about ``sqrt(2)`` for orthogonal ones (the waveform of unrelated notes); at most
    2. For a representation in decibels (MFCC) the norm includes the dB offset, so
    compare it with care.
``stability_noise``
    ``(||Phi(x + d) - Phi x|| / ||Phi x||) / (||d|| / ||x||)`` for white Gaussian
    ``d`` with ``||d|| = noise * ||x||``: the empirical Lipschitz ratio
    ``||Phi x - Phi y|| / ||x - y||`` divided by ``||Phi x|| / ||x||``, so that
    transforms of different scales compare (1 for the waveform, about 1 for a tight
    frame such as the STFT, below 1 for a modulus that discards the noise's phase;
    log representations amplify noise in quiet bins).
``stability_warp``
    ``(||Phi x_tau - Phi x|| / ||Phi x||) / eps`` with ``x_tau(t) = x(t + eps tau(t))``,
    ``tau(t) = t - n/2``: a dilation by ``1 + eps`` about the note's centre
    (``||tau'||_inf = 1``, so ``eps`` is the size of the deformation; the largest
    displacement is ``eps n / 2`` samples). Stability to deformations is
    ``||Phi x_tau - Phi x|| <= C eps ||x||``; this is the ``C`` measured. The warp is
    computed by windowed-sinc interpolation (`time_warp`).
``shift_small``, ``shift_large``
    ``||Phi(x delayed by s) - Phi x|| / ||Phi x||`` (`jaxmusic.geometry.invariance_error`)
    for a delay ``s`` much smaller than, and larger than, the averaging scales of the
    transforms (zeros in front, the last ``s`` samples dropped: not a circular shift,
    under which the Fourier modulus would be exactly invariant).
``transposition``
    The same relative error for the note transposed by ``semitone`` semitones with
    ``librosa.effects.pitch_shift`` (phase vocoder and resampling: duration kept).
``reconstruction``
    ``||Phi^{-1}(Phi x) - x|| / ||x||`` where an inverse is given (``inverses``);
    ``None`` (no inverse) otherwise. Of the default set only the waveform and the
    complex STFT (`jaxmusic.fourier.istft`) have one; every modulus discards phases
    and every averaging discards detail, so the Fourier modulus, the mel
    spectrogram, MFCC, the scalogram and the three scattering transforms have no
    direct inverse (they can only be inverted up to a group, e.g. by gradient descent).

Every number is a mean over the notes (the per-note values are in the result). The
norms run over all coefficients, so a scattering transform's numbers are those of its
first order, which holds nearly all its energy (time and spiral scattering read like
the scalogram); the MFCC norm is dominated by the dB level (c0), which makes its
relative changes look small, except to noise: noise fills the quiet (-80 dB floor)
frames and the logarithm magnifies it.

Measured (``run_properties``, gm8 notes at 16 kHz, 2**14 samples; 12 notes, Q=8)
-------------------------------------------------------------------------------
==========  =======  =====  =====  ========  =========  =======  ======
transform   discrim  noise  warp   shift 1ms shift 128ms  +1 st   recon
==========  =======  =====  =====  ========  =========  =======  ======
waveform    1.50     1      142    1.35      1.39       1.34     0
fourier     1.47     0.74   120    1.5e-07   0.0086     1.30     none
stft        1.50     1.00   142    1.35      1.39       1.34     1e-07
mel         1.41     0.48   21.6   0.0098    0.62       0.90     none
mfcc        0.47     14.2   4.3    0.0050    0.39       0.15     none
scalogram   1.37     0.38   13.2   0.0125    0.57       0.67     none
scattering  1.37     0.40   13.1   0.0112    0.53       0.67     none
jtfs        0.88     0.45   3.3    0.0069    0.53       0.16     none
spiral      1.37     0.38   13.1   0.0106    0.53       0.67     none
==========  =======  =====  =====  ========  =========  =======  ======

The warp ratio on Gabor atoms doubles per octave for the Fourier modulus (35 at 125 Hz
to 490 at 2 kHz, then saturating towards ``sqrt(2) / eps``: the moduli no longer
overlap) and is flat for the constant-Q transforms (14-16 for scattering, 1.5 for
jtfs). On an atom centred on the dilation's pivot the Fourier modulus changes exactly
as much as the waveform (its spectrum is real up to a linear phase). With ``Q = 4``
(``quick``) the scattering warp ratio halves (6.4) and its transposition error too
(0.36): narrower wavelets are less stable to dilations.

``run_transposition`` (standardised features, 285 notes, 93 references): a real
transposition by 2 semitones moves MFCC as far as another instrument at the same pitch
(1.0; 0.66 at one semitone, 1.1-1.4 beyond); time scattering (Q=12) 0.52 at one
semitone, levelling at 0.75; joint scattering 0.18 at one semitone, 0.47 an octave
down; spiral 0.28 and 0.6. Pitch-shifted notes give the same picture. Without
standardisation the MFCC distances are smaller than time scattering's (0.3 vs 0.6 at
one semitone, quick setup): the MFCC-vs-scattering order depends on the metric, the
non-invariance of both does not.
"""

from __future__ import annotations

import functools
import math
import time
import numbers
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import AudioError, JaxMusicError, ParameterError, check_choice, check_int, check_real
from .._files import as_run_dir, claim_dir, write_json, write_text
from .._pytree import pytree_dataclass, static_field
from ..features import MFCC, MelSpectrogram
from ..fourier import istft, stft
from ..geometry import invariance_error
from ..scattering.jtfs import TimeFrequencyScattering
from ..scattering.spiral import SpiralScattering
from ..scattering.time import Scattering1D

__all__ = [
    "PROPERTIES",
    "default_transforms",
    "default_inverses",
    "representation_properties",
    "time_warp",
    "transposition_distances",
    "run_properties",
    "run_transposition",
]

#: The numbers `representation_properties` reports per transform, in its figure's order.
PROPERTIES = ("discriminability", "stability_noise", "stability_warp", "shift_small",
              "shift_large", "transposition", "reconstruction")

_DEFINITIONS = {
    "discriminability": "mean_{i<j} ||Phi x_i - Phi x_j|| / mean_i ||Phi x_i|| (higher: notes "
                        "further apart)",
    "stability_noise": "(||Phi(x+d) - Phi x|| / ||Phi x||) / (||d|| / ||x||), white noise d "
                       "(lower: more stable; 1 for the waveform)",
    "stability_warp": "(||Phi x_tau - Phi x|| / ||Phi x||) / eps, x_tau(t) = x(t + eps (t - n/2)) "
                      "(lower: more stable to deformations)",
    "shift_small": "||Phi(delayed x) - Phi x|| / ||Phi x||, small delay (lower: more invariant)",
    "shift_large": "||Phi(delayed x) - Phi x|| / ||Phi x||, large delay (lower: more invariant)",
    "transposition": "||Phi(pitch-shifted x) - Phi x|| / ||Phi x|| (lower: more invariant)",
    "reconstruction": "||Phi^-1(Phi x) - x|| / ||x||, None without an inverse (lower: better)",
}

#: Largest transposition accepted (semitones, either way).
MAX_SEMITONES = 24

_TRACER_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


# ------------------------------------------------------------------------ transforms


def _fourier_modulus(x):
    """``|rfft(x)|`` of the whole signal: (..., n) -> (..., n // 2 + 1)."""
    return jnp.abs(jnp.fft.rfft(x, axis=-1))


def _waveform(x):
    """The identity (the signal as its own representation)."""
    return jnp.asarray(x)


@pytree_dataclass
class _Rows:
    """``transform(x)[..., start:, :]``: drops the first rows (order 0 of a scattering)."""

    transform: Any
    start: int = static_field(default=1)

    def __call__(self, x):
        return self.transform(x)[..., self.start:, :]


def _stft_params(n_samples: int, sr: float) -> dict:
    n_fft = 2 ** max(2, int(math.floor(math.log2(0.064 * sr))))  # 1024 at 16 kHz (64 ms)
    n_fft = min(n_fft, 2 ** int(math.floor(math.log2(n_samples))))
    return dict(n_fft=n_fft, hop_length=n_fft // 4)


def _default_J(n_samples: int, sr: float) -> int:
    """``round(log2(32 ms * sr))`` (9 at 16 kHz: T = 512 samples), at most ``log2(n) - 2``."""
    return max(2, min(int(round(math.log2(0.032 * sr))), int(math.floor(math.log2(n_samples))) - 2))


def default_transforms(n_samples: int, sr: float, *, J: int | None = None, Q: int = 8,
                       names: Sequence[str] | None = None) -> dict[str, Callable]:
    """The seed's transforms with small configurations, for `representation_properties`.

    ==============  ===================================================================
    ``waveform``    the identity (the reference: what a representation improves on)
    ``fourier``     ``|rfft(x)|`` of the whole note (Fourier modulus), ``(n // 2 + 1,)``
    ``stft``        complex STFT (`jaxmusic.fourier.stft`), ``n_fft`` the power of two
                    within 64 ms (1024 at 16 kHz), hop ``n_fft // 4``; invertible
    ``mel``         mel magnitude spectrogram (`jaxmusic.features.MelSpectrogram`, same
                    STFT, 64 bands, ``power=1``: homogeneous of degree 1 like the
                    wavelet moduli, so relative changes compare)
    ``mfcc``        `jaxmusic.features.MFCC`, same STFT and bands, 20 coefficients
    ``scalogram``   what `jaxmusic.features.scalogram` computes: Morlet wavelet modulus,
                    ``Q`` wavelets per octave, averaged over the STFT hop (256 at 16 kHz)
    ``scattering``  `jaxmusic.Scattering1D` ``(J, Q=(Q, 1))``, ``T = 2**J``
    ``jtfs``        `jaxmusic.TimeFrequencyScattering` ``(J, J_fr=2, Q=(Q, 1))``
    ``spiral``      `jaxmusic.SpiralScattering` ``(J, Q=(Q, 1))``
    ==============  ===================================================================

    The default ``J = round(log2(0.032 sr))`` is 9 at 16 kHz: ``T = 512`` samples
    (32 ms), half the STFT window. For 2**14-sample notes at 16 kHz (about 1 s) one note
    costs on two CPU cores about 2 ms (scattering), 60 ms (jtfs) and 0.1-0.4 s (spiral,
    2725 paths), after a compilation of a few seconds per transform.

    Parameters
    ----------
    n_samples : int
        Length of the notes.
    sr : float
        Sampling rate (Hz).
    J : int, optional, keyword-only
        Log2 of the scattering averaging scale (see above).
    Q : int, keyword-only
        Wavelets per octave of the scalogram and of the first order of the scattering
        transforms (default 8).
    names : sequence of str, optional, keyword-only
        Build only these (default all, in the order above).

    Returns
    -------
    dict of str -> callable
        Each maps a note ``(n_samples,)`` (or a batch ``(..., n_samples)``) to an array.

    Raises
    ------
    ParameterError
        ``n_samples`` too short, ``sr``, ``J`` or ``Q`` out of range, unknown names.
    """
    n_samples = check_int("n_samples", n_samples, min=64)
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    J = _default_J(n_samples, sr) if J is None else check_int(
        "J", J, min=1, max=int(math.floor(math.log2(n_samples))))
    Q = check_int("Q", Q, min=1, max=24)
    s = _stft_params(n_samples, sr)
    hop = s["hop_length"]
    builders = {
        "waveform": lambda: _waveform,
        "fourier": lambda: _fourier_modulus,
        "stft": lambda: functools.partial(stft, **s),
        "mel": lambda: MelSpectrogram(sr=sr, n_mels=64, power=1.0, **s),
        "mfcc": lambda: MFCC(sr=sr, n_mels=64, n_mfcc=20, **s),
        # jaxmusic.features.scalogram's computation, as a pytree (compiled once per config)
        "scalogram": lambda: _Rows(Scattering1D(J=J, shape=n_samples, Q=(Q,), T=min(hop, 2**J),
                                                max_order=1)),
        "scattering": lambda: Scattering1D(J=J, shape=n_samples, Q=(Q, 1)),
        "jtfs": lambda: TimeFrequencyScattering(J=J, J_fr=2, shape=n_samples, Q=(Q, 1), format="time"),
        "spiral": lambda: SpiralScattering(J=J, shape=n_samples, Q=(Q, 1), format="time"),
    }
    names = list(builders) if names is None else list(names)
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise ParameterError(f"unknown transform names {unknown}; known: {list(builders)}")
    return {n: builders[n]() for n in names}


def default_inverses(n_samples: int, sr: float) -> dict[str, Callable]:
    """Inverses of the invertible `default_transforms`: ``waveform`` and ``stft``.

    ``stft``'s inverse is `jaxmusic.fourier.istft` with the same window and hop (Hann,
    hop ``n_fft // 4``: exact up to float32 round-off). The other default transforms
    have no direct inverse (see the module docstring).

    Parameters
    ----------
    n_samples : int
    sr : float

    Returns
    -------
    dict of str -> callable
        Representation -> signal ``(n_samples,)``.
    """
    n_samples = check_int("n_samples", n_samples, min=64)
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    s = _stft_params(n_samples, sr)
    return {"waveform": _waveform,
            "stft": functools.partial(istft, length=n_samples, **s)}


# ------------------------------------------------------------------------ signals


def time_warp(x: Any, displacement: Any, *, half_width: int = 32, beta: float = 8.0) -> jax.Array:
    """``x(t + displacement(t))``: a time warp by windowed-sinc interpolation.

    Each output sample is ``sum_k x[k] h(t + displacement(t) - k)`` with ``h`` the sinc
    under a Kaiser window of ``2 * half_width`` taps (band-limited interpolation,
    accurate to about -70 dB up to 90% of Nyquist with the defaults); samples outside
    the signal are zero. An integer constant displacement is an exact shift.

    Parameters
    ----------
    x : array, shape (..., n), real floating point
    displacement : array, shape (n,), concrete (NumPy or a concrete JAX array)
        ``eps * tau(t)`` in samples; e.g. ``eps * (np.arange(n) - n / 2)`` dilates by
        ``1 + eps`` about the centre.
    half_width : int, keyword-only
        Half the number of interpolation taps.
    beta : float, keyword-only
        Kaiser window shape.

    Returns
    -------
    jax.Array, shape (..., n), the dtype of ``x``

    Raises
    ------
    ParameterError
        ``x`` not a real floating array, ``displacement`` not of shape ``(n,)``, not
        finite, or larger than the signal.
    """
    if getattr(x, "ndim", 0) < 1 or np.dtype(getattr(x, "dtype", np.int64)).kind != "f":
        raise ParameterError(f"x must be a real floating array of shape (..., n), got "
                             f"{type(x).__name__} {getattr(x, 'shape', '')} {getattr(x, 'dtype', '')}")
    n = int(x.shape[-1])
    half_width = check_int("half_width", half_width, min=1)
    beta = check_real("beta", beta, min=0.0)
    if isinstance(displacement, jax.core.Tracer):
        raise ParameterError("displacement must be concrete (NumPy): the interpolation weights "
                             "are built outside the trace")
    d = np.asarray(displacement, dtype=np.float64)
    if d.shape != (n,):
        raise ParameterError(f"displacement must have shape ({n},) like x's last axis, got {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ParameterError(f"displacement has {int(np.sum(~np.isfinite(d)))} NaN or inf values")
    if np.abs(d).max(initial=0.0) > n:
        raise ParameterError(f"displacement reaches {np.abs(d).max():.6g} samples, beyond the "
                             f"signal's {n}")
    pos = np.arange(n) + d
    base = np.floor(pos)
    taps = np.arange(-half_width + 1, half_width + 1)
    idx = base.astype(np.int64)[:, None] + taps[None, :]          # (n, 2 half_width)
    u = (pos - base)[:, None] - taps[None, :]                      # distance to each tap
    window = np.i0(beta * np.sqrt(np.clip(1.0 - (u / half_width) ** 2, 0.0, None))) / np.i0(beta)
    w = np.sinc(u) * window * ((idx >= 0) & (idx < n))
    x = jnp.asarray(x)
    w = jnp.asarray(w, dtype=x.dtype)
    return jnp.einsum("...nk,nk->...n", x[..., np.clip(idx, 0, n - 1)], w,
                      precision=jax.lax.Precision.HIGHEST)


def _delay(x: np.ndarray, s: int) -> np.ndarray:
    """Delay by ``s`` samples: ``s`` zeros in front, the last ``s`` samples dropped."""
    y = np.zeros_like(x)
    y[..., s:] = x[..., : x.shape[-1] - s]
    return y


def _pitch_shift(x: np.ndarray, sr: float, semitones: float) -> np.ndarray:
    """``librosa.effects.pitch_shift`` of each row (duration kept); float32."""
    if semitones == 0:
        return np.array(x, dtype=np.float32)
    import librosa

    rows = np.asarray(x, dtype=np.float32).reshape(-1, x.shape[-1])
    out = np.stack([librosa.effects.pitch_shift(r, sr=sr, n_steps=float(semitones)) for r in rows])
    return out.reshape(x.shape).astype(np.float32)


def _gabor_atoms(frequencies, n: int, sr: float) -> np.ndarray:
    """Gaussian-windowed cosines (std n/16 samples), peak 0.1, one per frequency."""
    t = np.arange(n)
    envelope = np.exp(-0.5 * ((t - n / 2) / (n / 16)) ** 2)
    return np.stack([0.1 * envelope * np.cos(2 * np.pi * f * t / sr) for f in frequencies]
                    ).astype(np.float32)


# ------------------------------------------------------------------------ checks


def _check_notes(notes: Any, *, min_notes: int = 2) -> np.ndarray:
    shape = getattr(notes, "shape", None)
    if shape is None:
        try:
            notes = np.asarray(notes)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"notes must be an array (n_notes, n_samples), got "
                                 f"{type(notes).__name__}") from exc
        shape = notes.shape
    if len(shape) != 2:
        raise ParameterError(f"notes must have shape (n_notes, n_samples), got shape {tuple(shape)}")
    if shape[0] < min_notes:
        raise ParameterError(f"notes must hold at least {min_notes} notes, got shape {tuple(shape)}")
    if shape[1] < 64:
        raise ParameterError(f"notes are too short: {shape[1]} samples (shape {tuple(shape)}), "
                             "need at least 64")
    arr = np.asarray(notes)
    if arr.dtype.kind != "f":
        raise ParameterError(f"notes must be floating point (float32), got dtype {arr.dtype}")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1))
        raise AudioError(f"notes has {int(arr.size - finite.sum())} NaN or inf samples (in notes "
                         f"{bad[:10].tolist()}{'...' if bad.size > 10 else ''}, shape {arr.shape})")
    silent = np.flatnonzero(~np.any(arr != 0, axis=1))
    if silent.size:
        raise AudioError(f"notes {silent[:10].tolist()} are all zeros: relative changes are undefined")
    return arr.astype(np.float32)


def _check_transforms(transforms: Any) -> dict[str, Callable]:
    if callable(transforms) and not isinstance(transforms, Mapping):
        transforms = {getattr(transforms, "__name__", type(transforms).__name__): transforms}
    if not isinstance(transforms, Mapping) or not transforms:
        raise ParameterError(f"transforms must be a non-empty dict name -> callable, got "
                             f"{type(transforms).__name__}")
    for name, f in transforms.items():
        if not isinstance(name, str):
            raise ParameterError(f"transform names must be strings, got {name!r}")
        if not callable(f):
            raise ParameterError(f"transform {name!r} must be callable, got {type(f).__name__}")
    return dict(transforms)


_apply_pytree = jax.jit(lambda f, x: f(x))


def _compiled(f: Callable) -> Callable:
    """A compiled ``f``: a transform pytree (a jaxmusic transform: static configuration,
    array leaves) goes through one module-level ``jit`` as an argument, so that transforms
    of the same configuration share one compilation; any other callable is wrapped in
    ``jax.jit``, falling back to eager calls on NumPy arrays when it cannot be traced (a
    NumPy/librosa function)."""
    leaves = jax.tree_util.tree_leaves(f)
    if not (len(leaves) == 1 and leaves[0] is f) and all(
            isinstance(leaf, (jax.Array, np.ndarray)) for leaf in leaves):
        return functools.partial(_apply_pytree, f)
    jitted = jax.jit(f)
    state = {"jit": True}

    def call(x):
        if state["jit"]:
            try:
                return jitted(x)
            except _TRACER_ERRORS:
                state["jit"] = False
        return f(x)

    return call


def _evaluate(name: str, f: Callable, signals: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """``f`` of every row of ``signals`` -> (B, *shape), checked: arrays of one shape, finite."""
    g = _compiled(f)
    out, shape = [], None
    for i, x in enumerate(signals):
        try:
            r = np.asarray(g(x))
        except JaxMusicError as exc:
            raise ParameterError(f"transform {name!r} failed on {labels[i]}: {exc}") from exc
        if r.dtype.kind not in "fc" and r.dtype.kind not in "iu":
            raise ParameterError(f"transform {name!r} must return a numeric array, got dtype "
                                 f"{r.dtype} for {labels[i]}")
        if shape is None:
            shape = r.shape
        elif r.shape != shape:
            raise ParameterError(f"transform {name!r} changes its output shape across signals: "
                                 f"{shape} for {labels[0]}, {r.shape} for {labels[i]}")
        finite = np.isfinite(r)
        if not finite.all():
            raise ParameterError(f"transform {name!r} gives {int(r.size - finite.sum())} NaN or inf "
                                 f"values (of {r.size}, shape {r.shape}) for {labels[i]}")
        out.append(r)
    return np.stack(out)


def _relative(reference: np.ndarray, other: np.ndarray) -> float:
    """``||other - reference|| / ||reference||`` (`jaxmusic.geometry.invariance_error`,
    on representations already computed)."""
    ref = jnp.asarray(reference.reshape(1, -1))
    oth = jnp.asarray(other.reshape(1, -1))
    return float(invariance_error(lambda v: v, ref, lambda _: oth))


def _check_semitones(semitones: Any, *, integer: bool) -> tuple:
    if isinstance(semitones, numbers.Real) and not isinstance(semitones, bool):
        semitones = (semitones,)
    try:
        values = tuple(semitones)
    except TypeError:
        raise ParameterError(f"semitones must be a sequence of numbers, got {semitones!r}") from None
    if not values:
        raise ParameterError("semitones must hold at least one value")
    out = []
    for s in values:
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not np.isfinite(s):
            raise ParameterError(f"semitones must be finite numbers, got {s!r}")
        if abs(s) > MAX_SEMITONES:
            raise ParameterError(f"semitones={s!r} is out of range: at most {MAX_SEMITONES} "
                                 "semitones up or down")
        if integer and float(s) != int(s):
            raise ParameterError(f"semitones={s!r}: real transpositions are whole semitones "
                                 "(MIDI keys); use mode='resampled' for fractions")
        out.append(int(s) if float(s).is_integer() else float(s))
    return tuple(out)


# ------------------------------------------------------------------------ experiment 1


def representation_properties(
    key: Any,
    transforms: Mapping[str, Callable],
    notes: Any,
    *,
    sr: float = 16000,
    inverses: Mapping[str, Callable] | None = None,
    noise: float = 0.01,
    warp: float = 0.01,
    shifts: tuple[int, int] = (16, 2048),
    semitone: float = 1.0,
    sweep: Sequence[float] | None = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0),
    sweep_warp: float = 0.002,
    out: Any = None,
    title: str = "",
    verbose: bool = False,
) -> dict:
    """Discriminability, stability, invariance and reconstruction of several transforms.

    Every transform sees the same notes and the same perturbations of them (see the
    module docstring for the exact definitions): white noise at ``noise`` times the
    note's norm, a dilation by ``1 + warp``, delays of ``shifts`` samples, a pitch shift
    by ``semitone``, and, if an inverse is given, a round trip. ``sweep`` adds the
    seed's argument on Gabor atoms (a Gaussian window of ``n / 16`` samples times a
    cosine at each frequency): the warp ratio against frequency, which grows with
    frequency for the Fourier modulus (a dilation moves a partial at ``f`` by
    ``eps f``, beyond its bandwidth once ``f`` is high) and stays flat for constant-Q
    transforms (the wavelets widen with ``f``).

    Parameters
    ----------
    key : jax.random key
        For the noise (first, as every jaxmusic function that draws random numbers).
    transforms : dict of str -> callable
        Each maps one note ``(n_samples,)`` to an array (any shape, the same for every
        note). Compiled with ``jax.jit`` when possible (a jaxmusic transform once per
        configuration), else called on NumPy arrays. `default_transforms` gives the
        seed's set.
    notes : array, shape (n_notes, n_samples), float
        At least 2 notes, finite, none all zero.
    sr : float, keyword-only
        Sampling rate of the notes (for the pitch shift and the atoms).
    inverses : dict of str -> callable, optional, keyword-only
        Representation -> signal ``(n_samples,)`` for the transforms that have one
        (`default_inverses`); the others report ``reconstruction = None``.
    noise : float, keyword-only
        Noise norm relative to the note's (default 0.01: -40 dB).
    warp : float, keyword-only
        Dilation ``eps`` for ``stability_warp`` (default 0.01: 1%).
    shifts : (int, int), keyword-only
        Small and large delay in samples (default 16 and 2048: 1 ms and 128 ms at 16 kHz,
        against 32 ms averaging in `default_transforms`).
    semitone : float, keyword-only
        Transposition for ``transposition`` (default one semitone up).
    sweep : sequence of float or None, keyword-only
        Gabor-atom frequencies (Hz) for the warp-vs-frequency curve; None skips it.
    sweep_warp : float, keyword-only
        Dilation for the sweep (default 0.002; smaller than ``warp`` so that the Fourier
        curve's rise is visible before it saturates).
    out : str or path-like, optional, keyword-only
        Folder for ``properties.json``, ``properties.md`` and ``properties.png``.
    title : str, keyword-only
        Figure title.
    verbose : bool, keyword-only
        Print a line per transform as it is done (with its time).

    Returns
    -------
    dict
        ``transforms``: name -> {property: mean over notes (``reconstruction`` None
        without an inverse), ``per_note``: property -> list, ``shape``: the output shape};
        ``sweep``: ``frequencies`` and ``stability_warp``: name -> list (absent when
        ``sweep`` is None); ``config``; ``definitions``; and with ``out``, ``files``.

    Raises
    ------
    ParameterError
        Fewer than 2 notes, bad options, a transform that is not callable, gives NaN/inf,
        changes its output shape across notes, maps a note to zero or fails; an inverse
        that does not return ``n_samples`` samples.
    AudioError
        NaN/inf samples or an all-zero note.
    """
    transforms = _check_transforms(transforms)
    x = _check_notes(notes)
    n_notes, n = x.shape
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    noise = check_real("noise", noise, min=0.0, strict_min=True)
    warp = check_real("warp", warp, min=0.0, max=0.5, strict_min=True)
    sweep_warp = check_real("sweep_warp", sweep_warp, min=0.0, max=0.5, strict_min=True)
    if not (isinstance(shifts, (tuple, list)) and len(shifts) == 2):
        raise ParameterError(f"shifts must be (small, large) in samples, got {shifts!r}")
    small = check_int("shifts[0]", shifts[0], min=1, max=n - 1)
    large = check_int("shifts[1]", shifts[1], min=small, max=n - 1)
    (semitone,) = _check_semitones(semitone, integer=False)
    inverses = dict(inverses or {})
    for name, inv in inverses.items():
        if name not in transforms:
            raise ParameterError(f"inverses names {name!r}, which is not among the transforms "
                                 f"{list(transforms)}")
        if not callable(inv):
            raise ParameterError(f"inverse {name!r} must be callable, got {type(inv).__name__}")
    freqs = None
    if sweep is not None:
        freqs = [check_real("sweep frequency", f, min=0.0, strict_min=True) for f in sweep]
        bad = [f for f in freqs if f >= sr / 2]
        if bad or not freqs:
            raise ParameterError(f"sweep frequencies must be in (0, sr/2 = {sr / 2:g}) Hz, got "
                                 f"{list(sweep)}")
    try:
        noise_dir = np.asarray(jax.random.normal(key, (n_notes, n), dtype=jnp.float32))
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"key must be a jax.random key, got {key!r}") from exc

    # every signal every transform sees, in one stack (one compilation per transform)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    perturbed = x + noise * norms * noise_dir / np.linalg.norm(noise_dir, axis=1, keepdims=True)
    tau = np.arange(n) - n / 2
    warped = np.asarray(time_warp(x, warp * tau))
    groups = {
        "note": x,
        "noise": perturbed.astype(np.float32),
        "warp": warped,
        "shift_small": _delay(x, small),
        "shift_large": _delay(x, large),
        "transposition": _pitch_shift(x, sr, semitone),
    }
    if freqs is not None:
        atoms = _gabor_atoms(freqs, n, sr)
        groups["atom"] = atoms
        groups["atom_warp"] = np.asarray(time_warp(atoms, sweep_warp * tau))
    signals = np.concatenate(list(groups.values()))
    labels, offsets, start = [], {}, 0
    for g, arr in groups.items():
        offsets[g] = slice(start, start + len(arr))
        start += len(arr)
        labels += [f"note {i}" if g == "note" else f"{g} of {'atom' if g.startswith('atom') else 'note'} {i}"
                   for i in range(len(arr))]
    signal_noise = np.linalg.norm(perturbed - x, axis=1) / norms[:, 0]

    results: dict[str, Any] = {}
    sweep_curves: dict[str, list] = {}
    for name, f in transforms.items():
        t0 = time.perf_counter()
        R = _evaluate(name, f, signals, labels)
        phi = {g: R[s] for g, s in offsets.items()}
        base = phi["note"]
        flat = base.reshape(n_notes, -1)
        zero = np.flatnonzero(~np.any(flat != 0, axis=1))
        if zero.size:
            raise ParameterError(f"transform {name!r} maps notes {zero[:10].tolist()} to zero: "
                                 "relative changes are undefined")
        pair = [np.linalg.norm(flat[i] - flat[j]) for i in range(n_notes) for j in range(i + 1, n_notes)]
        mean_norm = float(np.mean(np.linalg.norm(flat, axis=1)))
        per_note = {
            "stability_noise": [_relative(base[i], phi["noise"][i]) / signal_noise[i] for i in range(n_notes)],
            "stability_warp": [_relative(base[i], phi["warp"][i]) / warp for i in range(n_notes)],
            "shift_small": [_relative(base[i], phi["shift_small"][i]) for i in range(n_notes)],
            "shift_large": [_relative(base[i], phi["shift_large"][i]) for i in range(n_notes)],
            "transposition": [_relative(base[i], phi["transposition"][i]) for i in range(n_notes)],
        }
        rec = None
        if name in inverses:
            g = _compiled(inverses[name])
            errs = []
            for i in range(n_notes):
                y = np.asarray(g(base[i]))
                if y.shape != (n,):
                    raise ParameterError(f"inverse {name!r} must return {n} samples, got shape "
                                         f"{y.shape} for note {i}")
                errs.append(float(np.linalg.norm(y - x[i]) / norms[i, 0]))
            per_note["reconstruction"] = errs
            rec = float(np.mean(errs))
        entry = {
            "discriminability": float(np.mean(pair)) / mean_norm,
            **{k: float(np.mean(v)) for k, v in per_note.items() if k != "reconstruction"},
            "reconstruction": rec,
            "shape": list(base.shape[1:]),
            "per_note": {k: [float(v) for v in vs] for k, vs in per_note.items()},
        }
        results[name] = {k: entry[k] for k in (*PROPERTIES, "shape", "per_note")}
        if freqs is not None:
            sweep_curves[name] = [_relative(a, b) / sweep_warp
                                  for a, b in zip(phi["atom"], phi["atom_warp"])]
        if verbose:
            print(f"  {name}: {len(signals)} signals in {time.perf_counter() - t0:.1f} s", flush=True)

    result: dict[str, Any] = {
        "transforms": results,
        "config": {
            "n_notes": n_notes, "n_samples": n, "sr": sr, "noise": noise, "warp": warp,
            "warp_max_displacement_samples": warp * n / 2, "shifts": [small, large],
            "shifts_ms": [1000 * small / sr, 1000 * large / sr], "semitone": semitone,
            "signal_change_under_warp": float(np.mean(np.linalg.norm(warped - x, axis=1) / norms[:, 0])),
        },
        "definitions": dict(_DEFINITIONS),
    }
    if freqs is not None:
        result["sweep"] = {"frequencies": freqs, "warp": sweep_warp, "stability_warp": sweep_curves}
    if out is not None:
        out = as_run_dir(out, "properties")
        files = {
            "json": str(write_json(out / "properties.json", result)),
            "table": str(_write_table(out / "properties.md", result)),
            "figure": str(_figure_properties(result, out / "properties.png", title=title)),
        }
        result["files"] = files
    return result


def _fmt(v) -> str:
    if v is None:
        return "none"
    if v == 0:
        return "0"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


def _write_table(path: Path, result: dict) -> Path:
    cfg = result["config"]
    heads = ["transform", "shape", *PROPERTIES]
    lines = [
        f"Representation properties: {cfg['n_notes']} notes of {cfg['n_samples']} samples at "
        f"{cfg['sr']:g} Hz; noise {cfg['noise']:g} of the note's norm, warp eps {cfg['warp']:g} "
        f"(largest displacement {cfg['warp_max_displacement_samples']:.0f} samples), delays "
        f"{cfg['shifts'][0]} and {cfg['shifts'][1]} samples, transposition {cfg['semitone']:g} "
        "semitone(s). Means over notes.",
        "",
        "| " + " | ".join(heads) + " |",
        "|" + "---|" * len(heads),
    ]
    for name, r in result["transforms"].items():
        cells = [name, "x".join(map(str, r["shape"]))] + [_fmt(r[p]) for p in PROPERTIES]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Definitions:", ""] + [f"- `{k}`: {v}" for k, v in result["definitions"].items()]
    if "sweep" in result:
        sw = result["sweep"]
        lines += ["", f"Warp ratio on Gabor atoms (eps {sw['warp']:g}) against frequency (Hz):", "",
                  "| transform | " + " | ".join(f"{f:g}" for f in sw["frequencies"]) + " |",
                  "|---|" + "---|" * len(sw["frequencies"])]
        for name, curve in sw["stability_warp"].items():
            lines.append(f"| {name} | " + " | ".join(_fmt(v) for v in curve) + " |")
    return write_text(path, "\n".join(lines) + "\n")


_PANEL_TITLES = {
    "discriminability": "discriminability (higher: notes apart)",
    "stability_noise": "noise: relative Lipschitz ratio (lower: stable)",
    "stability_warp": "warp: relative change / eps (lower: stable)",
    "shift_small": "small delay: relative change",
    "shift_large": "large delay: relative change",
    "transposition": "transposition: relative change",
    "reconstruction": "reconstruction error (none: no inverse)",
}


def _figure_properties(result: dict, path, *, title: str = "") -> Path:
    """One dot plot per property (a ratio on a log scale: a dot at its value, a line from
    the panel's reference value 1 where there is one), and the warp ratio against frequency."""
    from ..plot import _pyplot, _save

    plt = _pyplot()
    res = result["transforms"]
    names = list(res)
    colours = {n: f"C{i % 10}" for i, n in enumerate(names)}
    cfg = result["config"]
    fig, axes = plt.subplots(2, 4, figsize=(18, 8.2))
    ys = np.arange(len(names))[::-1]
    for ax, prop in zip(axes.flat, PROPERTIES):
        values = [res[n][prop] for n in names]
        finite = [v for v in values if v is not None and v > 0]
        floor = min(finite) / 10 if finite else 1e-8
        shown = [max(v, floor) if v is not None else np.nan for v in values]
        # ratios on a log scale have no zero to grow a bar from: dots, joined to the panel's left edge
        ax.hlines(ys, floor / 3, shown, color="0.85", lw=1, zorder=1)
        ax.scatter(shown, ys, color=[colours[n] for n in names], s=36, zorder=2)
        ax.set_xscale("log")
        lo = floor / 3
        hi = max(finite) * 30 if finite else 1.0
        ax.set_xlim(lo, hi)
        for y, v, s in zip(ys, values, shown):
            ax.text(lo * 1.3 if v is None else s * 1.15, y, _fmt(v), va="center", fontsize=7)
        ax.set_yticks(ys, names, fontsize=8)
        ax.set_ylim(-0.7, len(names) - 0.3)
        if prop == "stability_noise":
            ax.axvline(1.0, color="0.3", ls="--", lw=0.8)
        sub = ""
        if prop == "shift_small" or prop == "shift_large":
            i = 0 if prop == "shift_small" else 1
            sub = f"\n{cfg['shifts'][i]} samples ({cfg['shifts_ms'][i]:.1f} ms)"
        elif prop == "stability_warp":
            sub = f"\neps = {cfg['warp']:g}"
        elif prop == "stability_noise":
            sub = f"\nnoise {cfg['noise']:g} of the norm"
        elif prop == "transposition":
            sub = f"\n{cfg['semitone']:g} semitone(s), librosa pitch_shift"
        ax.set_title(_PANEL_TITLES[prop] + sub, fontsize=9)
        ax.grid(axis="x", alpha=0.3, which="both")
    ax = axes.flat[len(PROPERTIES)]
    if "sweep" in result:
        sw = result["sweep"]
        # curves that coincide (the waveform, the Fourier modulus and the STFT on a centred
        # atom) are drawn once, labelled together
        drawn: list[tuple[np.ndarray, list[str]]] = []
        for n in names:
            c = np.asarray(sw["stability_warp"][n])
            for ref, group in drawn:
                if np.allclose(c, ref, rtol=1e-3, atol=0):
                    group.append(n)
                    break
            else:
                drawn.append((c, [n]))
        markers = "osv^D<>pPX*h"
        for i, (c, group) in enumerate(drawn):
            ax.plot(sw["frequencies"], c, marker=markers[i % len(markers)], ls="-",
                    color=colours[group[0]], label=" = ".join(group), ms=4)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("Gabor atom frequency (Hz)")
        ax.set_title(f"warp ratio on Gabor atoms, eps = {sw['warp']:g}\n(the seed's argument: "
                     "Fourier modulus unstable at high f)", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=1 if len(drawn) < 5 else 2, loc="best")
    else:
        ax.axis("off")
    fig.suptitle(title or (f"representation properties: {cfg['n_notes']} notes, "
                           f"{cfg['n_samples']} samples at {cfg['sr']:g} Hz (means over notes)"),
                 fontsize=11)
    return _save(fig, path)


# ------------------------------------------------------------------------ experiment 2


def transposition_distances(
    notes: Any,
    transform: Callable | Mapping[str, Callable],
    *,
    semitones: Sequence[float],
    sr: float,
    pitches: Any = None,
    labels: Any = None,
    mode: str = "real",
    references: Any = None,
    standardize: bool = False,
    out: Any = None,
    title: str = "",
    verbose: bool = False,
) -> dict:
    """Distance between a note's representation and its transpositions, against semitones.

    ``mode="real"``: the transposition of reference note ``r`` by ``s`` semitones is any
    other note of the same label (instrument) at pitch ``pitches[r] + s`` (e.g.
    `jaxmusic.data.gm8` notes of one class at consecutive MIDI keys). ``mode="resampled"``:
    the reference itself pitch-shifted by ``s`` semitones with
    ``librosa.effects.pitch_shift`` (phase vocoder then resampling, duration kept).
    ``s = 0`` is the reference itself (distance 0).

    Distances are Euclidean between the flattened representations (with
    ``standardize=True``, after standardising each coefficient over ``notes``, as the
    recognition table's classifiers see them: meant for many notes, see below), divided
    by a scale: the mean distance between
    notes of different labels at the same pitch (given ``labels`` and ``pitches``), so
    that 1 means "as far as another instrument playing the same note"; without labels or
    same-pitch pairs, the mean distance between all pairs of notes.

    Parameters
    ----------
    notes : array, shape (n_notes, n_samples), float
        At least 2 notes.
    transform : callable or dict of str -> callable
        Note ``(n_samples,)`` -> array (e.g. `make_representation`'s time-averaged
        features); a dict gives one curve per representation.
    semitones : sequence of numbers, keyword-only
        Transpositions, within +-24 (whole numbers in real mode).
    sr : float, keyword-only
        Sampling rate (Hz).
    pitches : array (n_notes,), optional, keyword-only
        MIDI pitch of each note; required for ``mode="real"``.
    labels : array (n_notes,), optional, keyword-only
        Instrument of each note: real transpositions stay within a label, and the scale
        is measured across labels.
    mode : {"real", "resampled"}, keyword-only
    references : array of int, optional, keyword-only
        Indices of the reference notes (default every note).
    standardize : bool, keyword-only
        Standardise each coefficient over ``notes`` before distances (default False).
        Standard deviations are floored at 1% of their RMS over the coefficients, so that
        a coefficient nearly constant over the notes (a silent frame) does not dominate;
        still, with a handful of notes the estimates are poor and a transposed note can
        land many "standard deviations" away: standardise only over many notes (hundreds,
        as `run_transposition` does).
    out : str or path-like, optional, keyword-only
        Folder for ``transposition_<mode>.json`` and ``transposition_<mode>.png``.
    title : str, keyword-only

    Returns
    -------
    dict
        ``semitones``; ``curves``: name -> mean normalised distance per semitone;
        ``std``: name -> its standard deviation over references; ``counts``: pairs per
        semitone; ``scale``: name -> the divisor; ``normalization``: what the divisor is;
        ``mode``, ``n_references``, ``standardize``; with ``out``, ``files``.

    Raises
    ------
    ParameterError
        Fewer than 2 notes, ``semitones`` empty, beyond +-24 or fractional in real mode,
        real mode without ``pitches``, a semitone with no transposed note for any
        reference, bad ``labels``/``references``, transforms giving NaN/inf or changing
        shape.
    AudioError
        NaN/inf samples or an all-zero note.
    """
    mode = check_choice("mode", mode, ("real", "resampled"))
    transforms = _check_transforms(transform)
    x = _check_notes(notes)
    n_notes = x.shape[0]
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    steps = _check_semitones(semitones, integer=mode == "real")

    def column(name, value):
        if value is None:
            return None
        arr = np.asarray(value)
        if arr.shape != (n_notes,):
            raise ParameterError(f"{name} must have shape ({n_notes},), one per note, got {arr.shape}")
        return arr

    pitches = column("pitches", pitches)
    labels = column("labels", labels)
    if pitches is not None:
        if pitches.dtype.kind not in "iuf" or not np.all(np.isfinite(pitches)):
            raise ParameterError("pitches must be finite MIDI numbers")
    if mode == "real" and pitches is None:
        raise ParameterError("mode='real' needs pitches (the MIDI key of each note)")
    if references is None:
        refs = np.arange(n_notes)
    else:
        refs = np.asarray(references)
        if refs.ndim != 1 or refs.size == 0 or refs.dtype.kind not in "iu" or refs.min() < 0 \
                or refs.max() >= n_notes:
            raise ParameterError(f"references must be note indices in [0, {n_notes}), got "
                                 f"{np.asarray(references).tolist()!r:.80}")
    if not isinstance(standardize, (bool, np.bool_)):
        raise ParameterError(f"standardize must be True or False, got {standardize!r}")
    same = (lambda i, j: True) if labels is None else (lambda i, j: labels[i] == labels[j])

    # which notes stand for each transposition (real), checked before any transform runs
    partners = {}
    if mode == "real":
        for s in steps:
            pairs = [(r, j) for r in refs for j in range(n_notes)
                     if s != 0 and j != r and same(r, j) and pitches[j] == pitches[r] + s]
            if s != 0 and not pairs:
                raise ParameterError(
                    f"semitones={s}: no reference has a note of the same label {s} semitones "
                    f"away (pitches {np.min(pitches):g} to {np.max(pitches):g})")
            partners[s] = pairs

    shifted = None
    if mode == "resampled":
        moved = [s for s in steps if s != 0]
        shifted = {s: _pitch_shift(x[refs], sr, s) for s in moved}

    note_labels = [f"note {i}" for i in range(n_notes)]
    curves, stds, scales, counts = {}, {}, {}, None
    normalization = None
    for name, f in transforms.items():
        if verbose:
            print(f"  {mode} transposition: {name}", flush=True)
        F = _evaluate(name, f, x, note_labels).reshape(n_notes, -1).astype(np.float64)
        mu, sd = F.mean(axis=0), F.std(axis=0)
        # a coefficient (nearly) constant over the notes (a silent frame) must not dominate
        floor = 1e-2 * np.sqrt(np.mean(sd**2))
        sd = np.maximum(sd, floor) if floor > 0 else np.ones_like(sd)
        prep = (lambda A: (A - mu) / sd) if standardize else (lambda A: A)
        G = prep(F)
        across = []
        if labels is not None and pitches is not None:
            across = [np.linalg.norm(G[i] - G[j]) for i in range(n_notes) for j in range(i + 1, n_notes)
                      if labels[i] != labels[j] and pitches[i] == pitches[j]]
        if across:
            scale = float(np.mean(across))
            normalization = ("mean distance between notes of different labels at the same pitch "
                             f"({len(across)} pairs)")
        else:
            scale = float(np.mean([np.linalg.norm(G[i] - G[j]) for i in range(n_notes)
                                   for j in range(i + 1, n_notes)]))
            normalization = "mean distance between all pairs of notes (no same-pitch pairs across labels)"
        if scale <= 0:
            raise ParameterError(f"transform {name!r} gives every note the same representation: "
                                 "distances cannot be normalised")
        means, devs, cnt = [], [], []
        for s in steps:
            if s == 0:
                d = np.zeros(1)
            elif mode == "real":
                d = np.array([np.linalg.norm(G[j] - G[r]) for r, j in partners[s]])
            else:
                T = _evaluate(name, f, shifted[s], [f"note {r} shifted by {s}" for r in refs])
                T = prep(T.reshape(len(refs), -1).astype(np.float64))
                d = np.linalg.norm(T - G[refs], axis=1)
            d = d / scale
            means.append(float(d.mean()))
            devs.append(float(d.std()))
            cnt.append(int(d.size) if s != 0 else len(refs))
        curves[name], stds[name], scales[name], counts = means, devs, scale, cnt

    result = {
        "mode": mode, "semitones": list(steps), "curves": curves, "std": stds, "counts": counts,
        "scale": scales, "normalization": normalization, "standardize": bool(standardize),
        "n_references": int(len(refs)), "n_notes": int(n_notes), "sr": sr,
    }
    if out is not None:
        out = as_run_dir(out, "transposition")
        result["files"] = {
            "json": str(write_json(out / f"transposition_{mode}.json", result)),
            "figure": str(_figure_transposition([result], out / f"transposition_{mode}.png",
                                                title=title)),
        }
    return result


def _figure_transposition(results: Sequence[dict], path, *, title: str = "") -> Path:
    """One panel per mode: normalised distance against semitones, one curve per representation."""
    from ..plot import _pyplot, _save

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(6.2 * len(results), 4.6), squeeze=False,
                             sharey=True)
    for ax, r in zip(axes[0], results):
        s = np.asarray(r["semitones"], dtype=float)
        order = np.argsort(s)
        for i, (name, curve) in enumerate(r["curves"].items()):
            c = np.asarray(curve)[order]
            e = np.asarray(r["std"][name])[order]
            ax.plot(s[order], c, "o-", ms=3, color=f"C{i}", label=name)
            ax.fill_between(s[order], c - e, c + e, color=f"C{i}", alpha=0.12, lw=0)
        ax.axhline(1.0, color="0.3", ls="--", lw=1)
        ax.text(0.0, 1.01, "another instrument, same pitch" if "labels" in r["normalization"]
                else "mean distance between notes", fontsize=7, va="bottom", ha="center")
        what = ("real transpositions (same instrument, other keys)" if r["mode"] == "real"
                else "resampled transpositions (librosa pitch_shift)")
        ax.set_title(f"{what}\n{r['n_references']} references"
                     f"{', standardised coefficients' if r['standardize'] else ''}", fontsize=9)
        ax.set_xlabel("transposition (semitones)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right" if r["mode"] == "real" else "best")
    axes[0, 0].set_ylabel("distance to the reference / scale")
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


# ------------------------------------------------------------------------ built-in runs


def _pad(audio: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((audio.shape[0], n), dtype=np.float32)
    m = min(n, audio.shape[1])
    out[:, :m] = audio[:, :m]
    return out


#: `run_properties`' note selection: (class, MIDI key) pairs, velocity 75.
PROPERTY_NOTES_QUICK = (("piano", 60), ("violin", 67), ("flute", 72), ("trumpet", 64))
PROPERTY_NOTES = PROPERTY_NOTES_QUICK + (
    ("distorted guitar", 52), ("female singer", 65), ("clarinet", 58), ("tenor saxophone", 55),
    ("piano", 84), ("violin", 79), ("flute", 84), ("trumpet", 76),
)


def _gm8_notes(pairs, *, velocity: int = 75):
    from ..data.soundfont import gm8

    ds = gm8(pitch_step=1, velocities=(velocity,))
    index = []
    for cls, key in pairs:
        label = ds.classes.index(cls)
        hit = np.flatnonzero((ds.label == label) & (ds.pitch == key))
        if not hit.size:
            raise ParameterError(f"gm8 has no {cls} at MIDI key {key}")
        index.append(int(hit[0]))
    return ds, np.array(index)


def run_properties(out, *, quick: bool = False, seed: int = 0, force: bool = False, verbose: bool = True) -> dict:
    """`representation_properties` of `default_transforms` on built-in gm8 notes.

    Notes: `PROPERTY_NOTES` (12 notes of eight instruments; ``quick``: the 4 of
    `PROPERTY_NOTES_QUICK`), velocity 75, 1 s at 16 kHz zero-padded to 2**14 samples.
    Transforms: `default_transforms` (``Q = 8``; ``quick``: ``Q = 4``, which halves the
    compilation and run time of the three scattering transforms). ``quick`` also sweeps 4
    atom frequencies instead of 6. Writes ``properties.png``, ``properties.json`` and
    ``properties.md`` into ``out``.

    Parameters
    ----------
    out : str or path-like
    quick : bool, keyword-only
    seed : int, keyword-only
        Seed of the noise.

    Returns
    -------
    dict
        As `representation_properties`, with ``notes``: the (class, key) of each note.
    """
    seed = check_int("seed", seed, min=0)
    out = claim_dir(out, "experiment-properties", force=force)
    pairs = PROPERTY_NOTES_QUICK if quick else PROPERTY_NOTES
    ds, index = _gm8_notes(pairs)
    n = 2**14
    notes = _pad(np.asarray(ds.audio[index]), n)
    sweep = (250.0, 500.0, 1000.0, 2000.0) if quick else (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0)
    transforms = default_transforms(n, ds.sr, Q=4 if quick else 8)
    result = representation_properties(
        jax.random.key(seed), transforms, notes, sr=ds.sr,
        inverses=default_inverses(n, ds.sr), sweep=sweep, out=None, verbose=verbose)
    result["notes"] = [list(p) for p in pairs]
    result["config"]["Q"] = 4 if quick else 8
    title = (f"representation properties on {len(pairs)} gm8 notes (TimGM6mb, 2**14 samples at "
             f"{ds.sr} Hz); means over notes")
    result["files"] = {
        "json": str(write_json(out / "properties.json", result)),
        "table": str(_write_table(out / "properties.md", result)),
        "figure": str(_figure_properties(result, out / "properties.png", title=title)),
    }
    return result


def run_transposition(out, *, quick: bool = False, force: bool = False, verbose: bool = True) -> dict:
    """`transposition_distances` of MFCC and scattering features on gm8, real and resampled.

    gm8 at every semitone, velocity 75 (the eight instruments, 1 s at 16 kHz); the
    representations are the recognition table's time-averaged features
    (`make_representation`: ``mfcc``, ``scattering``, ``jtfs``, ``spiral``; ``quick``:
    ``mfcc`` and ``scattering``). References: notes whose instrument also plays every
    transposition of ``semitones`` (-12..12; ``quick``: -6..6), at pitches 55-76
    (``quick``: 60-64); resampled mode takes one reference per instrument (the middle of
    its eligible keys; ``quick``: 4 instruments). The scale is the mean distance
    between different instruments at the same pitch, over every note loaded.

    Writes ``transposition.png`` (both modes) and ``transposition.json``.

    Parameters
    ----------
    out : str or path-like
    quick : bool, keyword-only

    Returns
    -------
    dict
        ``real`` and ``resampled``: `transposition_distances`' results; ``files``.
    """
    from ..data.soundfont import gm8
    from .representations import make_representation

    out = claim_dir(out, "experiment-transposition", force=force)
    ds = gm8(pitch_step=1, velocities=(75,))
    span = 6 if quick else 12
    steps = tuple(range(-span, span + 1))
    lo, hi = (60, 64) if quick else (55, 76)
    keep = (ds.pitch >= lo - span) & (ds.pitch <= hi + span)
    sub = ds.subset(np.flatnonzero(keep))
    pitches, labels = sub.pitch.astype(int), sub.label
    have = {(int(l), int(p)) for l, p in zip(labels, pitches)}
    eligible = [i for i in range(len(sub)) if lo <= pitches[i] <= hi
                and all((int(labels[i]), int(pitches[i]) + s) in have for s in steps)]
    if not eligible:
        raise ParameterError("no gm8 note has every transposition in range")
    names = ("mfcc", "scattering") if quick else ("mfcc", "scattering", "jtfs", "spiral")
    reps = {name: make_representation(name, sr=sub.sr, n_samples=sub.n_samples) for name in names}
    audio = np.asarray(sub.audio)
    real = transposition_distances(audio, reps, semitones=steps, sr=sub.sr, pitches=pitches,
                                   labels=labels, mode="real", references=eligible,
                                   standardize=True, verbose=verbose)
    per_class: dict[int, list] = {}
    for i in eligible:
        per_class.setdefault(int(labels[i]), []).append(i)
    classes = sorted(per_class)[: 4 if quick else None]
    refs = [per_class[c][len(per_class[c]) // 2] for c in classes]
    resampled = transposition_distances(audio, reps, semitones=steps, sr=sub.sr, pitches=pitches,
                                        labels=labels, mode="resampled", references=refs,
                                        standardize=True, verbose=verbose)
    result = {
        "real": real, "resampled": resampled,
        "references_real": [(ds.classes[labels[i]], int(pitches[i])) for i in eligible],
        "references_resampled": [(ds.classes[labels[i]], int(pitches[i])) for i in refs],
        "n_notes": len(sub),
    }
    result["files"] = {
        "json": str(out / "transposition.json"),
        "figure": str(_figure_transposition(
            [real, resampled], out / "transposition.png",
            title=f"distance to a transposed note, gm8 (TimGM6mb), {len(sub)} notes; time-averaged "
                  "features of the recognition table")),
    }
    write_json(out / "transposition.json", result)
    return result
