r"""Network inputs: A-weighted, log-compressed constant-Q magnitudes, and standardization.

``convnet_input(audio, sr=16000)`` computes, for `InstrumentConvNet`,

.. math::

    X[k, t] = \log\!\big(1 + 1000 \cdot 10^{A(f_k) / 20}\, |\mathrm{CQT}\,x|[k, t]\big)

with ``A(f)`` the A-weighting in dB (IEC 61672, as ``librosa.A_weighting``, floored
at -80 dB) at the centre frequency of bin ``k``, applied as an *amplitude* gain to
the CQT magnitude (equivalently, ``10**(A/10)`` on the power ``|CQT|**2``). The
result is cropped or zero-padded (silence) at the end to ``n_frames`` and given a
channel axis: ``(..., n_bins, n_frames, 1)``.

Bins whose constant-Q filter would reach above Nyquist (the top 10 of the 96 at
16 kHz) cannot be computed by `jaxmusic.features.cqt`; they are set to zero, which
is what a recording at that rate contains there, so that the layout (and
`InstrumentConvNet`'s parameter counts) stay those of the paper.

Normalization statistics come from the training set only: `fit_normalization`
takes training inputs and returns ``(mean, std)``, and `Standardizer` applies them
to any split. (The authors' code subtracted a mean computed on the test set;
jaxmusic does not.)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_int, check_real, check_signal
from .._pytree import pytree_dataclass, static_field
from ..features import CQT
from ..filters.cqt import cqt_filter_bank
from .convnet import CONVNET_PRESETS, ConvNetPreset

__all__ = [
    "ConvNetInput",
    "convnet_input",
    "convnet_transform",
    "a_weighting",
    "Standardizer",
    "fit_normalization",
]

_GAIN = 1000.0  # log1p(_GAIN * x)


def a_weighting(frequencies: Any, *, min_db: float | None = -80.0) -> np.ndarray:
    """A-weighting (dB) at ``frequencies`` (Hz), as ``librosa.A_weighting``.

    Parameters
    ----------
    frequencies : array_like, shape (n,)
        Frequencies in Hz (> 0).
    min_db : float or None, keyword-only
        Floor in dB (default -80; None for no floor).

    Returns
    -------
    np.ndarray, shape (n,), float64
        0 dB at 1 kHz (to 0.01 dB), about -30 dB at 55 Hz.
    """
    f2 = np.asarray(frequencies, dtype=np.float64) ** 2
    c = np.array([20.598997, 107.65265, 737.86223, 12194.217]) ** 2
    db = 2.0 + 20.0 * (
        np.log10(c[3]) + 2.0 * np.log10(f2)
        - np.log10(f2 + c[0]) - np.log10(f2 + c[3])
        - 0.5 * np.log10(f2 + c[1]) - 0.5 * np.log10(f2 + c[2])
    )
    return db if min_db is None else np.maximum(db, min_db)


def _valid_bins(sr: float, fmin: float, n_bins: int, bins_per_octave: int) -> int:
    """The most bins (<= n_bins) whose filters fit below Nyquist at ``sr``."""
    lo, hi = 0, n_bins
    while lo < hi:  # bisection over a monotone predicate
        mid = (lo + hi + 1) // 2
        try:
            cqt_filter_bank(sr=sr, fmin=fmin, n_bins=mid, bins_per_octave=bins_per_octave)
            lo = mid
        except ParameterError:
            hi = mid - 1
    return lo


@pytree_dataclass
class ConvNetInput:
    """Audio -> `InstrumentConvNet` input, as a pytree transform (see the module notes).

    Parameters
    ----------
    sr : float, keyword-only
        Sampling rate of the audio (Hz).
    preset : {"gm8", "ismir2016"} or None, keyword-only
        Defaults for the options below (`CONVNET_PRESETS`); None requires all of them.
    fmin, n_bins, bins_per_octave, hop_length, n_frames : keyword-only
        CQT lowest frequency (Hz), bins, resolution, hop (samples) and output
        frames; each overrides the preset's value.

    Attributes
    ----------
    n_valid : int
        Bins computed (the rest, above Nyquist, are zero).
    cqt : jaxmusic.features.CQT
        The transform of the ``n_valid`` lowest bins (pytree leaf).
    gain : jax.Array, shape (n_valid, 1), float32
        A-weighting amplitude gains ``10**(A(f_k)/20)`` (pytree leaf).

    Examples
    --------
    >>> F = ConvNetInput(sr=16000, preset="gm8")
    >>> X = jax.jit(F)(audio)              # (batch, 16000) -> (batch, 96, 128, 1)
    """

    _: dataclasses.KW_ONLY
    sr: float = static_field()
    preset: str | None = static_field(default="gm8")
    fmin: float | None = static_field(default=None)
    n_bins: int | None = static_field(default=None)
    bins_per_octave: int | None = static_field(default=None)
    hop_length: int | None = static_field(default=None)
    n_frames: int | None = static_field(default=None)
    n_valid: int | None = static_field(default=None)
    cqt: Any = None
    gain: Any = None

    def __post_init__(self):
        if self.cqt is not None:  # unflattened from a pytree: already resolved
            return
        cfg = _resolve(
            sr=self.sr, preset=self.preset, fmin=self.fmin, n_bins=self.n_bins,
            bins_per_octave=self.bins_per_octave, hop_length=self.hop_length, n_frames=self.n_frames,
        )
        for name, value in cfg.items():
            object.__setattr__(self, name, value)
        n_valid = _valid_bins(cfg["sr"], cfg["fmin"], cfg["n_bins"], cfg["bins_per_octave"])
        if n_valid == 0:
            raise ParameterError(
                f"no constant-Q bin from fmin={cfg['fmin']} Hz fits below Nyquist at sr={cfg['sr']}"
            )
        C = CQT(
            sr=cfg["sr"], hop_length=cfg["hop_length"], fmin=cfg["fmin"], n_bins=n_valid,
            bins_per_octave=cfg["bins_per_octave"],
        )
        gain = 10.0 ** (a_weighting(C.frequencies()) / 20.0)
        object.__setattr__(self, "n_valid", n_valid)
        object.__setattr__(self, "cqt", C)
        object.__setattr__(self, "gain", jnp.asarray(gain[:, None], dtype=jnp.float32))

    def frequencies(self) -> np.ndarray:
        """Centre frequencies (Hz) of all ``n_bins`` rows, shape (n_bins,)."""
        return self.fmin * 2.0 ** (np.arange(self.n_bins) / self.bins_per_octave)

    def __call__(self, audio: Any) -> jax.Array:
        """Network input of ``audio``.

        Parameters
        ----------
        audio : array, shape (..., n_samples), real floating point

        Returns
        -------
        jax.Array, shape (..., n_bins, n_frames, 1)
            ``log1p(1000 * gain * |CQT|)``, float32 for float32 audio; the first
            ``n_frames`` of the ``1 + n_samples // hop_length`` centred frames (zeros
            after the end of a shorter signal); rows ``n_valid:`` are zero.
        """
        check_signal(audio, name="audio")
        audio = jnp.asarray(audio)
        if audio.dtype == jnp.float16:
            audio = audio.astype(jnp.float32)
        mag = jnp.abs(self.cqt(audio))  # (..., n_valid, frames)
        X = jnp.log1p(_GAIN * self.gain.astype(mag.dtype) * mag)
        lead = X.shape[:-2]
        frames = X.shape[-1]
        if frames >= self.n_frames:
            X = X[..., : self.n_frames]
        else:
            X = jnp.pad(X, [(0, 0)] * len(lead) + [(0, 0), (0, self.n_frames - frames)])
        if self.n_valid < self.n_bins:
            X = jnp.pad(X, [(0, 0)] * len(lead) + [(0, self.n_bins - self.n_valid), (0, 0)])
        return X[..., None]


def _resolve(*, sr, preset, fmin, n_bins, bins_per_octave, hop_length, n_frames) -> dict:
    if preset is None:
        base = {}
    else:
        if preset not in CONVNET_PRESETS:
            raise ParameterError(
                f"unknown preset {preset!r}; choose from {sorted(CONVNET_PRESETS)} or pass "
                "preset=None with fmin, n_bins, bins_per_octave, hop_length and n_frames"
            )
        base = dataclasses.asdict(CONVNET_PRESETS[preset])
    given = dict(fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave, hop_length=hop_length, n_frames=n_frames)
    cfg = {}
    for name, value in given.items():
        if value is None:
            if name not in base:
                raise ParameterError(f"{name} is required with preset=None")
            value = base[name]
        cfg[name] = value
    cfg["sr"] = check_real("sr", sr, min=0.0, strict_min=True)
    cfg["fmin"] = check_real("fmin", cfg["fmin"], min=0.0, strict_min=True)
    for name in ("n_bins", "bins_per_octave", "hop_length", "n_frames"):
        cfg[name] = check_int(name, cfg[name], min=1)
    return cfg


@functools.lru_cache(maxsize=8)
def _cached_input(sr, preset, fmin, n_bins, bins_per_octave, hop_length, n_frames) -> ConvNetInput:
    return ConvNetInput(
        sr=sr, preset=preset, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave,
        hop_length=hop_length, n_frames=n_frames,
    )


def convnet_input(
    audio: Any,
    *,
    sr: float,
    preset: str | None = "gm8",
    fmin: float | None = None,
    n_bins: int | None = None,
    bins_per_octave: int | None = None,
    hop_length: int | None = None,
    n_frames: int | None = None,
) -> jax.Array:
    """A-weighted ``log1p(1000 |CQT|)`` input of `InstrumentConvNet`.

    Pure JAX: works under ``jax.jit`` and ``jax.vmap``; the filters are built once
    (NumPy, cached) per configuration. See `ConvNetInput` for the transform object.

    Parameters
    ----------
    audio : array, shape (..., n_samples), real floating point
    sr : float, keyword-only
        Sampling rate of ``audio`` (Hz).
    preset : {"gm8", "ismir2016"} or None, keyword-only
        Defaults (`CONVNET_PRESETS`): ``"gm8"`` is 55 Hz, 96 bins, 12 per octave,
        hop 125, 128 frames; ``"ismir2016"`` the same with hop 1024.
    fmin, n_bins, bins_per_octave, hop_length, n_frames : keyword-only
        Override the preset (all required with ``preset=None``).

    Returns
    -------
    jax.Array, shape (..., n_bins, n_frames, 1)

    Raises
    ------
    ParameterError
        Unknown preset, bad options or a bad signal (integer dtype, NaN/inf).
    """
    cfg = _resolve(
        sr=sr, preset=preset, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave,
        hop_length=hop_length, n_frames=n_frames,
    )
    F = _cached_input(
        cfg["sr"], preset, cfg["fmin"], cfg["n_bins"], cfg["bins_per_octave"], cfg["hop_length"], cfg["n_frames"]
    )
    return F(audio)


def convnet_transform(
    *,
    sr: float,
    n_samples: int | None = None,
    preset: str | None = "gm8",
    fmin: float | None = None,
    n_bins: int | None = None,
    bins_per_octave: int | None = None,
    hop_length: int | None = None,
    n_frames: int | None = None,
) -> ConvNetInput:
    """The `ConvNetInput` transform for notes of ``n_samples`` samples at ``sr``.

    For `jaxmusic.extract` and other batch pipelines: maps ``(n_samples,)`` (or
    ``(..., n_samples)``) to ``(..., n_bins, n_frames, 1)``.

    Parameters
    ----------
    sr : float, keyword-only
        Sampling rate of the notes (Hz).
    n_samples : int or None, keyword-only
        Note length. When it differs from the preset's, the hop becomes
        ``n_samples // (n_frames - 1)`` so that the ``n_frames`` frames span the
        whole note (16000 -> 125, as ``"gm8"``; 64000 -> 503); None or the
        preset's length keep the preset's hop.
    preset, fmin, n_bins, bins_per_octave, hop_length, n_frames : keyword-only
        As `convnet_input`; an explicit ``hop_length`` wins over the rule above.

    Returns
    -------
    ConvNetInput
    """
    if n_samples is not None and hop_length is None:
        n_samples = check_int("n_samples", n_samples, min=1)
        base = CONVNET_PRESETS.get(preset) if preset is not None else None
        frames = n_frames if n_frames is not None else (base.n_frames if base is not None else None)
        if base is None or n_samples != base.n_samples:
            if frames is None:
                raise ParameterError("n_frames is required with preset=None")
            frames = check_int("n_frames", frames, min=1)
            hop_length = max(1, n_samples // max(1, frames - 1))
    cfg = _resolve(
        sr=sr, preset=preset, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave,
        hop_length=hop_length, n_frames=n_frames,
    )
    return _cached_input(
        cfg["sr"], preset, cfg["fmin"], cfg["n_bins"], cfg["bins_per_octave"], cfg["hop_length"], cfg["n_frames"]
    )


# ------------------------------------------------------------------ standardization
def _batches(train_inputs: Any) -> Iterable[np.ndarray]:
    if hasattr(train_inputs, "shape") and hasattr(train_inputs, "dtype"):
        yield np.asarray(train_inputs)
        return
    for batch in train_inputs:
        yield np.asarray(batch)


def fit_normalization(
    train_inputs: Any, *, per_feature: bool = True, min_std: float = 1e-8
) -> tuple[jax.Array, jax.Array]:
    """Mean and standard deviation of the training inputs.

    Parameters
    ----------
    train_inputs : array, shape (n, features, ...), or an iterable of such batches
        Training-set inputs only (e.g. `convnet_input` of the training audio, or
        cached scattering features). Batches are accumulated in float64.
    per_feature : bool, keyword-only
        One statistic per index of axis 1 (CQT bin, scattering path), pooled over
        the examples and every later axis (default); False: one scalar of each.
    min_std : float, keyword-only
        A standard deviation at or below this (a constant row, such as the zero
        bins above Nyquist) is replaced by 1, so that row passes through centred.

    Returns
    -------
    mean, std : jax.Array, float32
        Shape ``(features, 1, ..., 1)`` (broadcasting against one example or a
        batch), or ``()`` with ``per_feature=False``.

    Raises
    ------
    ParameterError
        No data, or batches whose shapes disagree beyond axis 0.
    """
    count, mean, m2, tail = 0, None, None, None
    for batch in _batches(train_inputs):
        if batch.ndim < (2 if per_feature else 1):
            raise ParameterError(
                f"train_inputs must be batches of shape (n, features, ...), got shape {batch.shape}"
            )
        if tail is None:
            tail = batch.shape[1:]
        elif batch.shape[1:] != tail:
            raise ParameterError(
                f"train_inputs batches disagree: shape {batch.shape} after batches of shape (n,) + {tail}"
            )
        if batch.shape[0] == 0:
            continue
        x = batch.astype(np.float64)
        if per_feature:
            x = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
        else:
            x = x.reshape(1, -1)
        n = x.shape[1]
        b_mean = x.mean(axis=1)
        b_m2 = ((x - b_mean[:, None]) ** 2).sum(axis=1)
        if mean is None:
            count, mean, m2 = n, b_mean, b_m2
        else:  # Chan et al.'s pairwise combination
            delta = b_mean - mean
            total = count + n
            mean = mean + delta * (n / total)
            m2 = m2 + b_m2 + delta**2 * (count * n / total)
            count = total
    if mean is None:
        raise ParameterError("train_inputs holds no examples")
    std = np.sqrt(m2 / count)
    std = np.where(std > min_std, std, 1.0)
    if per_feature:
        shape = (tail[0],) + (1,) * (len(tail) - 1)
        return jnp.asarray(mean.reshape(shape), jnp.float32), jnp.asarray(std.reshape(shape), jnp.float32)
    return jnp.asarray(mean[0], jnp.float32), jnp.asarray(std[0], jnp.float32)


@pytree_dataclass
class Standardizer:
    """``(x - mean) / std`` with statistics fitted on the training set.

    Parameters
    ----------
    mean, std : array
        Broadcastable against one example, e.g. from `fit_normalization`
        (shape ``(features, 1, ..., 1)``); pytree leaves.

    Examples
    --------
    >>> norm = Standardizer.fit(X_train)       # statistics of the training split only
    >>> X_test_n = norm(X_test)                # (n, 96, 128, 1) -> same shape
    """

    mean: Any
    std: Any

    @classmethod
    def fit(cls, train_inputs: Any, *, per_feature: bool = True, min_std: float = 1e-8) -> "Standardizer":
        """A `Standardizer` from `fit_normalization` of ``train_inputs`` (same options)."""
        return cls(*fit_normalization(train_inputs, per_feature=per_feature, min_std=min_std))

    def __call__(self, x: Any) -> jax.Array:
        """Standardize ``x``.

        Parameters
        ----------
        x : array, shape (..., features, ...) matching the fitted examples

        Returns
        -------
        jax.Array, same shape as ``x``
        """
        x = jnp.asarray(x)
        return (x - self.mean.astype(x.dtype)) / self.std.astype(x.dtype)

    def inverse(self, z: Any) -> jax.Array:
        """Undo `__call__`: ``z * std + mean``, same shape as ``z``."""
        z = jnp.asarray(z)
        return z * self.std.astype(z.dtype) + self.mean.astype(z.dtype)
