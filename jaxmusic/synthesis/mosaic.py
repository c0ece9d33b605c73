"""MFCC mosaicing: the source rebuilt from frames of a corpus (Burred 2014).

Every signal is cut into the frames of a centred STFT (``center=True``: frame
``j`` covers samples ``j * hop_length - n_fft // 2 .. j * hop_length + n_fft // 2 - 1``,
zeros beyond the signal's ends), the frames on which `jaxmusic.features.mfcc`
computes its coefficients. Each source frame is matched to its ``k`` nearest
corpus frames (Euclidean distance between MFCC vectors, scikit-learn's
`~sklearn.neighbors.NearestNeighbors`); the chosen corpus frames, windowed,
averaged over the ``k`` neighbours and optionally rescaled to the source frame's
RMS, are windowed again and overlap-added, and the sum is divided by the
overlap-added squared window (as `jaxmusic.fourier.istft`):

    y = sum_f w * g_f * mean_k(w * c[idx[f, k]])  /  sum_f w**2       (shifted by f * hop_length)

so that a source matched to itself (``k=1``, identity indices, ``g_f = 1``) is
reconstructed exactly.

Options and what they change:

- ``exclude_c0=True`` (default): the first coefficient, the frame's log energy, is
  left out of the distance, so frames are matched on timbre (spectral shape), not on
  loudness;
- ``match_energy=True`` (default): each output frame is rescaled to the RMS of the
  windowed source frame it replaces, so the output follows the source's loudness
  contour (a silent source frame gives a silent output frame). Without it the
  corpus frames keep their own level;
- ``k > 1``: the ``k`` nearest frames are averaged with equal weights (before the
  energy matching, so the average's level loss from phase cancellation is restored).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_int, check_real
from .. import features
from ..fourier import _fft_window, _frames, check_overlap, overlap_add, window_sumsquare
from ._common import prepare

__all__ = ["mosaic", "MosaicIndices"]


class MosaicIndices(NamedTuple):
    """Which corpus frames `mosaic` chose, as three ``(n_frames, k)`` int64 arrays.

    Attributes
    ----------
    index : np.ndarray, shape (n_frames, k)
        Global index into the corpus frames, the frames of ``corpus[0]`` first, then
        those of ``corpus[1]``, ...; row ``f`` lists source frame ``f``'s neighbours,
        nearest first.
    file : np.ndarray, shape (n_frames, k)
        Which corpus signal each frame comes from (0 for a single signal).
    frame : np.ndarray, shape (n_frames, k)
        The frame within that signal: frame ``j`` is centred on sample
        ``j * hop_length`` (``index = offsets[file] + frame`` with ``offsets`` the
        cumulative frame counts ``1 + len(corpus[i]) // hop_length``).
    """

    index: np.ndarray
    file: np.ndarray
    frame: np.ndarray


_mfcc_jit = jax.jit(lambda transform, y: transform(y))


def _as_list(corpus: Any) -> list:
    if isinstance(corpus, (list, tuple)):
        if len(corpus) == 0:
            raise ParameterError("corpus is an empty list; pass one signal or a list of at least one signal")
        return list(corpus)
    return [corpus]


def _nearest(source_features: np.ndarray, corpus_features: np.ndarray, k: int) -> np.ndarray:
    """Indices (n_source, k) of the k nearest corpus rows of each source row, nearest first."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k).fit(corpus_features)
    return nn.kneighbors(source_features, return_distance=False).astype(np.int64)


def _rms(frames: jax.Array) -> jax.Array:
    """Root mean square of each frame (last axis), without overflow: frames whose
    squares could overflow are scaled by a power of two first (exact; for every normal
    level the scale is 1 and the result is the plain formula's)."""
    peak = jnp.max(jnp.abs(frames), axis=-1, keepdims=True)
    limit = float(np.sqrt(np.finfo(frames.dtype).max / 1e4 / frames.shape[-1]))
    e = jnp.where(peak > limit, jnp.frexp(peak)[1], 0)
    return jnp.ldexp(jnp.sqrt(jnp.mean(jnp.square(jnp.ldexp(frames, -e)), axis=-1)), e[..., 0])


@functools.partial(jax.jit, static_argnames=("n_fft", "hop_length", "n_out", "match_energy"))
def _synthesise(source_padded, chosen, window, inverse_wss, *, n_fft, hop_length, n_out, match_energy):
    """Window, average, rescale, window and overlap-add the chosen frames (frames, k, n_fft)."""
    frames = jnp.mean(chosen * window, axis=1)  # (frames, n_fft)
    if match_energy:
        src = _frames(source_padded, n_fft, hop_length) * window
        rms_src = _rms(src)
        rms_out = _rms(frames)
        tiny = jnp.finfo(frames.dtype).tiny
        gain = jnp.where(rms_out > tiny, rms_src / jnp.where(rms_out > tiny, rms_out, 1.0), 0.0)
        frames = frames * gain[:, None]
    y = overlap_add(frames * window, hop_length=hop_length)
    start = n_fft // 2
    y = jnp.pad(y, (0, max(0, start + n_out - y.shape[0])))  # hops longer than n_fft // 2 leave the end uncovered
    return y[start : start + n_out] * inverse_wss


def mosaic(
    source: Any,
    corpus: Any,
    *,
    sr: float = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    k: int = 1,
    window: Any = "hann",
    exclude_c0: bool = True,
    match_energy: bool = True,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, MosaicIndices]:
    """Rebuild ``source`` from the corpus frames nearest to its frames in MFCC space.

    The MFCCs of every frame (`jaxmusic.features.mfcc` with ``sr``, ``n_fft``,
    ``hop_length``, ``window``, ``n_mfcc``; librosa's other defaults) are compared by
    Euclidean distance with scikit-learn's ``NearestNeighbors``; the chosen frames
    are overlap-added as in the module docstring. Runs on the host (scikit-learn
    search); the features and the overlap-add run in JAX.

    Parameters
    ----------
    source : array, shape (samples,) or (channels, samples), real floating point
        The sound to imitate; channels are averaged.
    corpus : array, or list/tuple of arrays, each (samples,) or (channels, samples)
        The dictionary of frames: one signal or several (each at least ``n_fft``
        samples; their frames are pooled).
    sr : float > 0, keyword-only
        Sampling rate of every input (default 22050), for the mel filters.
    n_fft : int >= 2, keyword-only
        Frame length (default 2048).
    hop_length : int >= 1, keyword-only
        Samples between frames (default 512); ``hop_length <= n_fft // 2`` leaves no
        gaps. A hop that leaves output samples covered by no window is refused (the
        mosaic would be silent there): ``hop_length > n_fft``, ``hop_length == n_fft``
        for a Hann window (whose ends are zero), or a hop above ``n_fft // 2`` whose
        last frame stops short of the source's end.
    n_mfcc : int, keyword-only
        MFCCs per frame (default 20); at least 2 with ``exclude_c0``.
    k : int >= 1, keyword-only
        Neighbours averaged per frame (default 1); at most the corpus's frame count.
    window : window specification, keyword-only
        Analysis and synthesis window (default ``'hann'``), as
        `jaxmusic.fourier.get_window`.
    exclude_c0 : bool, keyword-only
        Leave the energy coefficient c0 out of the matching (default True).
    match_energy : bool, keyword-only
        Rescale each output frame to the source frame's RMS (default True).
    return_indices : bool, keyword-only
        Also return the chosen frames (default False).

    Returns
    -------
    y : np.ndarray, shape (len(source),), float32
        The mosaic. Not normalised: scale with `jaxmusic.synthesis._common.fit_peak`
        before writing 16-bit audio.
    indices : MosaicIndices, only with ``return_indices=True``
        Three ``(n_frames, k)`` arrays: global corpus frame index, corpus file, frame
        within the file; ``n_frames = 1 + len(source) // hop_length`` (even ``n_fft``).

    Raises
    ------
    ParameterError
        Bad options (a ``hop_length`` that leaves gaps, see above); an empty corpus
        list; ``k`` larger than the number of corpus frames; an input that is not a
        floating-point array of one or two axes, is channels-last (pass ``y.T``) or
        is shorter than ``n_fft``.
    AudioError
        An empty input or NaN/inf samples.

    Notes
    -----
    The search is scikit-learn's exact k-NN (float64 distances, its default tree or
    brute-force choice). A jitted brute-force search in JAX was measured against it in
    ``benchmarks/synthesis.py`` on a 2-core CPU (1292 source frames, 19
    coefficients): about as fast for a 30 s corpus (4 ms vs 4-8 ms), twice as slow
    for a 300 s one (65-75 ms vs 36 ms), plus a compilation for every new pair of
    lengths, and float32 ``|a|^2 - 2ab + |b|^2`` distances changed 0.3% of the
    choices there. Features and synthesis are compiled once per signal length.
    Each signal's MFCCs have their own 80 dB floor (``top_db``, relative to that
    signal's loudest frame), as one ``librosa.feature.mfcc`` call per signal.
    """
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    n_fft = check_int("n_fft", n_fft, min=2)
    hop_length = check_int("hop_length", hop_length, min=1)
    k = check_int("k", k, min=1)
    for name, value in (("exclude_c0", exclude_c0), ("match_energy", match_energy),
                        ("return_indices", return_indices)):
        if not isinstance(value, (bool, np.bool_)):
            raise ParameterError(f"{name} must be True or False, got {value!r}")
    n_mfcc = check_int("n_mfcc", n_mfcc, min=1)
    if exclude_c0 and n_mfcc < 2:
        raise ParameterError(f"n_mfcc must be >= 2 with exclude_c0=True (c0 is left out of the matching), "
                             f"got {n_mfcc}")
    check_overlap(window, n_fft=n_fft, hop_length=hop_length, what="the mosaic")
    transform = features.MFCC(sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop_length, window=window)
    win = np.asarray(_fft_window(window, n_fft, n_fft), dtype=np.float32)

    y = prepare(source, name="source", n_fft=n_fft)
    signals = [prepare(c, name=f"corpus[{i}]" if isinstance(corpus, (list, tuple)) else "corpus", n_fft=n_fft)
               for i, c in enumerate(_as_list(corpus))]
    counts = np.array([1 + (len(c) + 2 * (n_fft // 2) - n_fft) // hop_length for c in signals])
    total = int(counts.sum())
    if k > total:
        raise ParameterError(f"k={k} is more than the {total} frames of the corpus; "
                             "pass a smaller k or a longer corpus")

    def mfcc(x):
        m = np.asarray(_mfcc_jit(transform, x)).T  # (frames, n_mfcc)
        return m[:, 1:] if exclude_c0 else m

    index = _nearest(mfcc(y), np.concatenate([mfcc(c) for c in signals]), k)

    pad = n_fft // 2
    padded = [np.pad(c, (pad, pad)) for c in signals]
    frame_offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sample_offsets = np.concatenate([[0], np.cumsum([len(p) for p in padded])[:-1]])
    starts = np.concatenate([s + hop_length * np.arange(c) for s, c in zip(sample_offsets, counts)])
    n_frames = index.shape[0]
    check_overlap(window, n_fft=n_fft, hop_length=hop_length, n_frames=n_frames, span=(pad, len(y)),
                  what="the mosaic")
    wss = window_sumsquare(window=window, n_frames=n_frames, hop_length=hop_length,
                           n_fft=n_fft)[pad : pad + len(y)]
    tiny = np.finfo(np.float32).tiny
    inverse_wss = np.where(wss > tiny, 1.0 / np.where(wss > tiny, wss, 1.0), 1.0).astype(np.float32)
    inverse_wss = np.pad(inverse_wss, (0, len(y) - len(inverse_wss)), constant_values=1.0)
    # gathered here, so that the compiled synthesis depends on the source's length and k only
    chosen = np.concatenate(padded)[starts[index][..., None] + np.arange(n_fft)]  # (frames, k, n_fft)
    out = _synthesise(np.pad(y, (pad, pad)), chosen, win, inverse_wss, n_fft=n_fft, hop_length=hop_length,
                      n_out=len(y), match_energy=bool(match_energy))
    out = np.asarray(out, dtype=np.float32)
    if not return_indices:
        return out
    file = np.searchsorted(frame_offsets, index, side="right") - 1
    return out, MosaicIndices(index=index, file=file.astype(np.int64), frame=index - frame_offsets[file])
