r"""One feature vector per note, for the instrument-recognition table.

Four representations of a fixed-length note ``x`` (``n_samples`` at ``sr``), each
log-compressed and averaged over time into one vector:

=============  ==========================================================================
``mfcc``       `jaxmusic.features.MFCC` (already in decibels), then the mean and the
               standard deviation of each coefficient over the frames:
               ``[mean_t M(k, t) for k] + [std_t M(k, t) for k]``, shape ``(2 n_mfcc,)``.
``scattering`` `jaxmusic.Scattering1D`, orders 1 and 2:
               ``mean_t log1p(|S x(p, t)| / eps)`` for every path ``p``.
``jtfs``       `jaxmusic.TimeFrequencyScattering` (``format="time"``), orders 1 and 2
               (all spins), the same compression and average.
``spiral``     `jaxmusic.SpiralScattering` (``format="time"``), orders 1 and 2 (the
               spiral paths), the same compression and average.
=============  ==========================================================================

Defaults (1-second notes at 16 kHz in mind)
-------------------------------------------
* MFCC: ``n_mfcc=20`` (librosa's default; more coefficients start resolving the
  partials of a note rather than its spectral envelope), ``n_mels=128``,
  ``n_fft`` the largest power of two within 64 ms (1024 at 16 kHz and 22.05 kHz,
  2048 at 44.1 kHz: librosa's 2048-at-22.05-kHz window, rounded to the power of two
  below when scaled to 16 kHz) and ``hop_length = n_fft // 4`` (16 ms at 16 kHz),
  as librosa's ratio.
* Scattering: ``J = round(log2(0.016 sr))`` (8 at 16 kHz: ``T = 2**J`` = 16 ms, the
  MFCC hop), at most ``log2(n_samples)``; ``Q = (12, 1)``: semitone resolution at
  first order and one wavelet per octave for the modulations; local averaging at
  ``T = 2**J``, then the mean over the frames (of the logarithm, so that a decaying
  note is summarised by its geometric mean, not by its first frames). The same
  ``J`` and ``Q`` for the joint transform, with ``J_fr = 3`` (frequential averaging
  over ``F = 8`` bins, two thirds of an octave).
* Spiral: the same ``J`` and ``Q = (8, 1)`` (and SpiralScattering's default
  ``J_chroma = round(log2(Q / 3)) = 1``: chroma filters spanning a quarter to half
  an octave, the geometry its design asks for). At ``Q = 12`` it has 5578 paths and
  costs 0.18 s per note on two quiet cores and up to 0.4 s on busy ones (see below),
  at or over the 0.2 s/note budget that keeps 1000 notes within minutes on two
  cores; ``Q = 8`` halves both (2724 paths, 0.09 s/note).
  ``J_chroma=1`` at ``Q = 12`` saves only a quarter and narrows the chroma filters
  to a sixth of an octave. Pass ``Q=12`` for the semitone lattice.
* Order 0 (``x \star \phi_T``, a signed local mean of the waveform, about zero for
  audio) is dropped from the three scattering vectors.
* Log compression: ``log1p(|Sx| / eps)`` with ``eps = 1e-6``, which is
  ``log(eps + |Sx|) - log(eps)``: kymatio's examples' ``log(1e-6 + Sx)`` up to a
  constant (so zero maps to zero), linear below ``eps``, logarithmic above. On
  jaxmusic's notes (peak amplitude 0.1 to 0.5) time-averaged first-order
  coefficients lie between about 1e-6 and 0.2 and second-order ones between 2e-7
  and 1e-2, so nearly every coefficient is in the logarithmic regime, while the
  floor stays well above float32 round-off of such coefficients (about 1e-8).
  Measured on `jaxmusic.data.gm8` (534 TimGM6mb notes, J=8, Q=(12,1), trained on
  half the pitches, tested on the others), the test error of a random forest /
  logistic regression / SVM was 14 / 9 / 13 % with ``eps = 1e-6``, 14 / 12 / 16 %
  with 1e-5 and 18 / 23 / 25 % with 1e-4 (an 80 dB floor that flattens the quiet
  partials and modulations); 1e-7 and 1e-8 were 1 to 3 points better on that split
  but put the floor at the round-off of the quietest coefficients, and a floor
  relative to each note's largest coefficient (1e-6 to 1e-3 of it) did worse
  (15-19 / 15-25 / 12-25 %). Pass ``eps=`` to change it.

Measured speed
--------------
A batch of 32 one-second 16 kHz notes, jit warm, best of 3, through the call
`note_features` makes (``vmap=False``: the scattering transforms then cut the batch
into their own CPU chains and chunks; ``jax.vmap`` over single notes was 1.7x slower
for time scattering and 2.3x for spiral), on 2 CPU cores shared with other work:
notes per second with the load average near 1.5, and the range seen with it between
2 and 5:

==============  =====  ===============  ==================  =============
representation  d      notes/s (quiet)  notes/s (loaded)    s/note
==============  =====  ===============  ==================  =============
mfcc            40     5500             1800-4200           0.0002-0.0005
scattering      336    93               54-61               0.011-0.018
jtfs            365    12.8             8.7-11              0.08-0.12
spiral (Q=8)    2724   10.6             3.9-11              0.09-0.26
spiral (Q=12)   5578   5.5              2.5-5.3             0.18-0.40
==============  =====  ===============  ==================  =============

Every representation is a `Representation`: a frozen dataclass pytree holding the
underlying transform (its filters are the leaves) and the static post-processing,
so that ``jax.jit``, ``jax.vmap`` and `jaxmusic.features.extract`'s fingerprint
see through it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_int, check_real, check_signal
from .._pytree import pytree_dataclass, static_field
from ..data.dataset import Dataset
from ..extract import extract
from ..features import MFCC
from ..scattering.jtfs import TimeFrequencyScattering
from ..scattering.spiral import SpiralScattering
from ..scattering.time import Scattering1D

__all__ = ["REPRESENTATIONS", "EPS", "Representation", "make_representation", "note_features"]

#: The representations of the recognition table.
REPRESENTATIONS = ("mfcc", "scattering", "jtfs", "spiral")

#: Default floor of the log compression of the scattering representations.
EPS = 1e-6

_CONSTRUCTORS = {
    "mfcc": MFCC,
    "scattering": Scattering1D,
    "jtfs": TimeFrequencyScattering,
    "spiral": SpiralScattering,
}


def _default_J(sr: float, n_samples: int) -> int:
    """``round(log2(16 ms * sr))``, at most ``log2(n_samples)``, at least 1."""
    return max(1, min(int(round(math.log2(0.016 * sr))), int(math.floor(math.log2(n_samples)))))


def _default_n_fft(sr: float) -> int:
    """The largest power of two within 64 ms (1024 at 16 kHz)."""
    return 2 ** max(1, int(math.floor(math.log2(0.064 * sr))))


def _defaults(name: str, sr: float, n_samples: int) -> dict:
    if name == "mfcc":
        n_fft = _default_n_fft(sr)
        return dict(n_mfcc=20, n_fft=n_fft, hop_length=n_fft // 4, n_mels=128)
    J = _default_J(sr, n_samples)
    if name == "scattering":
        return dict(J=J, Q=(12, 1))
    if name == "jtfs":
        return dict(J=J, J_fr=3, Q=(12, 1))
    return dict(J=J, Q=(8, 1))  # spiral: Q=12 costs twice as much (see the module docstring)


@pytree_dataclass
class Representation:
    """A note's feature vector: a transform, log compression and time statistics.

    Built by `make_representation`; ``transform`` is the underlying jaxmusic
    transform (a pytree child), ``name`` one of `REPRESENTATIONS`, ``eps`` the
    floor of ``log1p(|Sx| / eps)`` (None for MFCC, which is in decibels already).

    Call
    ----
    ``R(x)`` with ``x`` of shape ``(..., n_samples)`` real floating point returns
    ``(..., R.size)``: one vector per note. Pure JAX: ``jax.jit(R)``,
    ``jax.vmap(R)`` and ``jax.jit(lambda R, x: R(x))(R, x)`` work.
    """

    transform: Any
    name: str = static_field()
    n_samples: int = static_field()
    eps: float | None = static_field(default=None)

    def __call__(self, x: Any) -> jax.Array:
        """Feature vectors of notes ``x``.

        Parameters
        ----------
        x : array, shape (..., n_samples), real floating point

        Returns
        -------
        jax.Array, shape (..., size), the dtype of ``x`` (float32 for half precision)
        """
        if getattr(x, "shape", None) is None or not x.shape or x.shape[-1] != self.n_samples:
            raise ParameterError(
                f"{self.name} expects notes of {self.n_samples} samples on the last axis, got "
                f"shape {getattr(x, 'shape', type(x).__name__)}"
            )
        check_signal(x, length=self.n_samples)
        # compiled once per configuration and input shape, also when called eagerly
        # (op-by-op, the joint and spiral transforms take seconds per call)
        return _apply_jit(self, x)

    def _apply(self, x: jax.Array) -> jax.Array:
        S = self.transform(x)
        if self.name == "mfcc":
            return _mean_std(S)
        S = S[..., 1:, :]  # drop order 0 (the first row of every scattering layout)
        return jnp.mean(jnp.log1p(jnp.abs(S) / self.eps), axis=-1)

    @property
    def size(self) -> int:
        """Length of the feature vector."""
        spec = jax.eval_shape(self, jax.ShapeDtypeStruct((self.n_samples,), jnp.float32))
        return int(spec.shape[-1])


_apply_jit = jax.jit(Representation._apply)


def _mean_std(M: jax.Array) -> jax.Array:
    """``[mean_t M, std_t M]`` along the last axis (population std), with a finite
    gradient where a coefficient is constant over time (std 0, e.g. silence)."""
    mean = jnp.mean(M, axis=-1)
    var = jnp.mean(jnp.square(M - mean[..., None]), axis=-1)
    positive = var > 0
    std = jnp.where(positive, jnp.sqrt(jnp.where(positive, var, 1.0)), 0.0)
    return jnp.concatenate([mean, std], axis=-1)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in REPRESENTATIONS:
        raise ParameterError(
            f"unknown representation {name!r}; known representations: {', '.join(REPRESENTATIONS)}"
        )
    return name


def make_representation(name: str, *, sr: float, n_samples: int, **overrides) -> Representation:
    """The feature transform of one representation of the recognition table.

    Parameters
    ----------
    name : {"mfcc", "scattering", "jtfs", "spiral"}
    sr : float > 0, keyword-only
        Sampling rate of the notes (Hz).
    n_samples : int, keyword-only
        Length of every note.
    **overrides
        Options of the underlying transform, replacing the defaults (see the module
        docstring): for ``"mfcc"`` any option of `jaxmusic.features.MFCC` (``n_mfcc``,
        ``n_fft``, ``hop_length``, ``n_mels``...); for the scattering representations
        any constructor option of `jaxmusic.Scattering1D`,
        `jaxmusic.TimeFrequencyScattering` or `jaxmusic.SpiralScattering` (``J``,
        ``Q``, ``T``, ``J_fr``, ``J_chroma``...) except ``shape`` (``n_samples``) and
        ``format`` (always ``"time"``), and ``eps``, the floor of the log compression
        (default 1e-6).

    Returns
    -------
    Representation
        Maps a note ``(n_samples,)`` (or a batch ``(..., n_samples)``) to its vector
        ``(size,)``: ``2 * n_mfcc`` for MFCC, the number of order 1 and 2 paths for
        the scattering ones.

    Raises
    ------
    ParameterError
        Unknown ``name`` (the known ones are listed), an option the transform does not
        have, a bad value (as the transform reports it), ``sr`` or ``n_samples`` out of
        range.
    """
    name = _check_name(name)
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    n_samples = check_int("n_samples", n_samples, min=2)
    options = dict(overrides)
    eps = None
    if name != "mfcc":
        eps = check_real("eps", options.pop("eps", EPS), min=0.0, strict_min=True)
        for fixed in ("shape", "format"):
            if fixed in options:
                raise ParameterError(
                    f"{name}: {fixed}={options[fixed]!r} cannot be overridden "
                    f"({'n_samples sets it' if fixed == 'shape' else 'the layout is format=time'})"
                )
    elif "sr" in options:
        raise ParameterError("mfcc: pass sr to make_representation, not as an override")
    config = {**_defaults(name, sr, n_samples), **options}
    cls = _CONSTRUCTORS[name]
    known = {f.name for f in dataclasses.fields(cls)} - {
        "shape", "format", "sr", "filters", "melspec", "dct_basis"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ParameterError(
            f"{name}: unknown option(s) {', '.join(unknown)}; {cls.__name__} accepts "
            f"{', '.join(sorted(known))}" + ("" if name == "mfcc" else ", and eps")
        )
    if name == "mfcc":
        transform = MFCC(sr=sr, **config)
    else:
        extra = {} if name == "scattering" else {"format": "time"}
        transform = cls(shape=n_samples, **config, **extra)
    return Representation(transform=transform, name=name, n_samples=n_samples, eps=eps)


def note_features(
    dataset: Dataset,
    name: str,
    *,
    out=None,
    progress: bool = True,
    batch_size: int = 32,
    **overrides,
) -> np.ndarray:
    """Feature vectors of every note of ``dataset`` for one representation.

    Runs `jaxmusic.features.extract` with ``make_representation(name, sr=dataset.sr,
    n_samples=dataset.audio.shape[1], **overrides)``, on every local device, in
    compiled batches of ``batch_size`` notes.

    Parameters
    ----------
    dataset : jaxmusic.data.Dataset
    name : {"mfcc", "scattering", "jtfs", "spiral"}
    out : str or path-like, optional, keyword-only
        Folder of this representation's features (use one folder per representation
        and configuration): chunks are written as they are done, and a run that stops
        resumes where it was (see `jaxmusic.features.extract`). Without it nothing is
        written.
    progress : bool, keyword-only
        Show a progress bar.
    batch_size : int, keyword-only
        Notes per compiled call.
    **overrides
        Options of the representation (see `make_representation`).

    Returns
    -------
    np.ndarray, shape (n_notes, size), float32

    Raises
    ------
    ParameterError
        Unknown ``name`` (the known ones are listed), a dataset that is not a
        `Dataset`, bad options, ``out`` holding other features, or notes whose features
        are not finite (NaN/inf audio), counted and named.
    """
    name = _check_name(name)
    if not isinstance(dataset, Dataset):
        raise ParameterError(
            f"dataset must be a jaxmusic.data.Dataset (it carries sr), got {type(dataset).__name__}; "
            "wrap arrays as Dataset(audio=..., label=..., classes=..., sr=...)"
        )
    rep = make_representation(name, sr=dataset.sr, n_samples=int(dataset.audio.shape[1]), **overrides)
    # vmap=False: the scattering transforms see the whole batch, and on CPU split it into
    # independent chains of signals, which keeps both cores busy (faster than vmap).
    feats = extract(dataset, rep, out=out, desc=name, progress=progress, batch_size=batch_size,
                    vmap=False)
    feats = np.array(feats, dtype=np.float32)
    finite = np.isfinite(feats).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ParameterError(
            f"{name} features of {bad.size} notes are not finite (notes {bad[:10].tolist()}"
            f"{'...' if bad.size > 10 else ''}); check their audio for NaN/inf"
        )
    return feats


def builtin_notes(*, both: bool, say=print, **gm8_kwargs) -> Dataset:
    """The built-in notes an experiment runs on: `jaxmusic.data.gm8` from TimGM6mb, and with
    ``both`` from Merlin too (`gm8_sources`); when Merlin's soundfont is unavailable, TimGM6mb
    alone, which ``say`` reports."""
    from ..data import gm8, gm8_sources
    from ..data.dataset import DatasetError

    if both:
        try:
            return gm8_sources(**gm8_kwargs)
        except (DatasetError, ParameterError, ImportError, OSError) as e:
            say(f"Merlin's soundfont is unavailable ({e}); TimGM6mb only")
    return gm8(**gm8_kwargs)
