r"""The pitch helix, learned from the correlations of CQT bins across isolated notes.

The seed's claim (after Shepard 1965 and Lostanlen et al., "Learning the helix
topology of musical pitch", ICASSP 2020): compute the correlation between the
constant-Q coefficients of many isolated notes, link every bin to the few bins it
correlates with most, and embed that graph with Isomap in three dimensions; the bins
then lie on a helix that turns once per octave, its angle following pitch class and
its height following pitch. Bins an octave apart correlate because harmonic notes
excite them together (partials 1 and 2, 2 and 4, 3 and 6, ...).

The pipeline of `pitch_helix`, for notes ``x_n`` (``n = 1..N``) and CQT bins ``k``:

1. ``C_n(k, t) = |CQT x_n|`` (`jaxmusic.features.CQT`), divided by the note's
   largest coefficient, and ``L_n(k) = mean_t log(C_n(k, t) + eps)``: the
   time-averaged log-magnitude, with a floor ``eps = 1e-3`` (-60 dB under the
   note's peak).
2. Spectral flattening (``flatten=True``): ``F_n(k) = L_n(k) - mean_{|j-k| < B/2} L_n(j)``,
   the log spectrum minus its moving average over one octave (``B`` =
   ``bins_per_octave`` bins): the source-filter view of a note, keeping the
   harmonic comb (the source, which moves with pitch) and removing the spectral
   envelope (the filter, shared by neighbouring bins of every note).
3. ``r(k, l)``: Pearson correlation of ``F_n(k)`` and ``F_n(l)`` over the notes,
   and the distance ``d(k, l) = sqrt(2 (1 - r(k, l)))`` (the Euclidean distance of
   the standardized bins).
4. Isomap (scikit-learn) on the precomputed distances with ``n_neighbors = 3``:
   shortest paths on the 3-nearest-neighbour graph, then classical scaling to 3-d.

The measure (`measure_helix`): the helix axis is the line through the centroids of
the full octaves of bins (each octave, one turn, averages out the circle), fitted by
PCA; every bin's angle around that axis is compared with its pitch class
``phi = 2 pi pc / 12`` by the Fisher-Lee circular correlation (rotation-invariant,
in [-1, 1]; the sign is the helix's handedness, which Isomap leaves arbitrary), and
the unwrapped angle from the lowest to the highest bin gives the winding in turns
per octave (1 for a helix, in absolute value).

Measured choices (`jaxmusic.data.gm8`, every semitone at velocity 75, 1 s at 16 kHz,
``fmin`` E2 = MIDI 40, 48 bins = E2 to D#6, 12 per octave), as the circular
correlation and the turns per octave, on TimGM6mb's 353 notes / with Merlin's too
(706 notes):

==============================================================  ==============  ==============
pipeline                                                         TimGM6mb        + Merlin
==============================================================  ==============  ==============
the default: flattened log, correlation distance, k=3            +0.99 / +1.00   -0.99 / -1.00
the same with k = 4 / 5 / 6                                      -0.83 / -0.46   -0.91 / +0.62
                                                                 / +0.40         / -0.58
log, not flattened, k = 3 / 4 / 5 / 6                            +0.02 / -0.27   -0.07 / -0.16
                                                                 / +0.43 / -0.48 / -0.88 / -0.80
linear magnitude, correlation distance, k = 3 / 4 / 6            -0.02 / -0.12   +0.72 / -0.24
                                                                 / -0.11         / +0.07
linear magnitude, covariance rows as points, k = 3 / 6 / 8       +0.21 / +0.25   +0.29 / +0.36
                                                                 / +0.36         / +0.35
==============================================================  ==============  ==============

Without flattening the spectral envelope dominates the correlations: neighbouring
bins correlate over the whole envelope's width (the two bins on either side of a
bin are its strongest links, at any k), and beyond them the octave competes with
intervals of 3 to 7 semitones and with the twelfth (partial 3, 19 semitones up),
so the embedding is a tangle. With more than three neighbours, fifths (7 and 19
semitones) enter the graph and the angle winds more than once per octave (1.1 to
1.2 turns, or twice). Bins below E2 (the piano's alone) and above the range of
most fundamentals (about D#6) form a tail: ``fmin`` and ``n_bins`` should cover
the range the notes' fundamentals span (C1 to B7 gave 0.4 to 0.9). About 300
distinct notes are needed: 30 random draws of 200 of the 706 gave a median of
0.95 and a minimum of 0.54, of 353 a median of 0.99 and a minimum of 0.85, of
500 a minimum of 0.97. Leaving out any one of the eight instruments keeps 0.99.
TimGM6mb's velocities only scale the samples, so extra velocities add nothing
after the per-note normalization. The defaults are for 12 bins per octave on
semitone-spaced notes: at 24 bins per octave the best of k = 3 to 8 gave 0.71.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_int, check_real
from .._files import as_run_dir, claim_dir, write_json

__all__ = ["Helix", "HelixMeasure", "pitch_helix", "measure_helix", "figure_helix", "run_helix", "FMIN"]

#: Default lowest bin: E2 (82.41 Hz, MIDI 40), the lowest note of most gm8 instruments.
FMIN = 440.0 * 2.0 ** ((40 - 69) / 12)

_BATCH = 64  # notes per CQT call (one compilation: the last batch is padded)


class HelixMeasure(NamedTuple):
    """How well an embedding of CQT bins follows a helix (see `measure_helix`).

    Attributes
    ----------
    angle : ndarray, shape (n_bins,)
        Angle of each bin around the fitted axis (radians, in (-pi, pi]).
    height : ndarray, shape (n_bins,)
        Position of each bin along the axis.
    axis : ndarray, shape (3,)
        Unit direction of the axis, oriented from the low to the high bins.
    center : ndarray, shape (3,)
        A point of the axis (the mean of the octave centroids).
    circular_correlation : float
        Fisher-Lee correlation of ``angle`` with ``2 pi pitch_class / 12``, in
        [-1, 1]; ±1 when the angle is pitch class up to a rotation, the sign being
        the handedness.
    resultant_length : float
        ``|mean exp(i (angle - s * 2 pi pc / 12))|`` with ``s`` the sign of
        ``circular_correlation``: 1 when every bin sits at its pitch class's angle.
    winding : float
        Unwrapped angle from the lowest to the highest bin, in turns per octave
        (signed like ``circular_correlation``; ±1 for a helix).
    """

    angle: np.ndarray
    height: np.ndarray
    axis: np.ndarray
    center: np.ndarray
    circular_correlation: float
    resultant_length: float
    winding: float


class Helix(NamedTuple):
    """What `pitch_helix` returns.

    Attributes
    ----------
    embedding : ndarray, shape (n_bins, 3)
        Isomap coordinates of the CQT bins.
    pitch_class : ndarray, shape (n_bins,)
        Pitch class of each bin's centre frequency (0 = C, ..., 11 = B; fractional
        between semitones when ``bins_per_octave`` is not 12).
    midi : ndarray, shape (n_bins,)
        MIDI number of each bin's centre frequency.
    correlation : ndarray, shape (n_bins, n_bins)
        Pearson correlation of the bins' (flattened) log-magnitudes across notes.
    measure : HelixMeasure
        The fitted axis, every bin's angle around it, the circular correlation
        between angle and pitch class, and the winding.
    n_notes : int
    """

    embedding: np.ndarray
    pitch_class: np.ndarray
    midi: np.ndarray
    correlation: np.ndarray
    measure: HelixMeasure
    n_notes: int


def _fisher_lee(a: np.ndarray, b: np.ndarray) -> float:
    """Fisher-Lee circular correlation of two sets of angles (radians)."""
    sa = np.sin(a[:, None] - a[None, :])
    sb = np.sin(b[:, None] - b[None, :])
    den = math.sqrt(float(np.sum(sa**2)) * float(np.sum(sb**2)))
    return float(np.sum(sa * sb) / den) if den > 0 else 0.0


def measure_helix(embedding: Any, midi: Any, *, bins_per_octave: int = 12) -> HelixMeasure:
    """Fit the axis of a helix of bins and measure how its angle follows pitch class.

    The axis is the first principal direction of the centroids of the full octaves
    of bins (bins ``0..B-1``, ``B..2B-1``, ... with ``B = bins_per_octave``: one
    turn each, so that the circle averages out), through their mean. Each bin's
    offset from the axis gives its angle in the plane orthogonal to it.

    Parameters
    ----------
    embedding : array, shape (n_bins, 3)
        Coordinates of the bins, in increasing frequency.
    midi : array, shape (n_bins,)
        MIDI number of each bin (pitch class is ``midi % 12``).
    bins_per_octave : int, keyword-only
        Bins per octave of the CQT (default 12).

    Returns
    -------
    HelixMeasure

    Raises
    ------
    ParameterError
        An embedding that is not ``(n_bins, 3)`` finite, ``midi`` of another length,
        or fewer than two full octaves of bins.
    """
    B = check_int("bins_per_octave", bins_per_octave, min=1)
    E = np.asarray(embedding, dtype=np.float64)
    m = np.asarray(midi, dtype=np.float64)
    if E.ndim != 2 or E.shape[1] != 3:
        raise ParameterError(f"embedding must have shape (n_bins, 3), got {E.shape}")
    if m.shape != (E.shape[0],):
        raise ParameterError(f"midi must have shape ({E.shape[0]},) like the embedding's bins, got {m.shape}")
    if not (np.isfinite(E).all() and np.isfinite(m).all()):
        raise ParameterError("embedding and midi must be finite")
    n = E.shape[0]
    n_oct = n // B
    if n_oct < 2:
        raise ParameterError(f"measuring a helix needs at least two octaves of bins ({2 * B} at "
                             f"bins_per_octave={B}), got {n}")
    centroids = E[: n_oct * B].reshape(n_oct, B, 3).mean(axis=1)
    center = centroids.mean(axis=0)
    axis = np.linalg.svd(centroids - center)[2][0]
    if (centroids[-1] - centroids[0]) @ axis < 0:
        axis = -axis
    Y = E - center
    height = Y @ axis
    R = Y - height[:, None] * axis
    u = np.linalg.svd(R, full_matrices=False)[2][0]
    u = u - (u @ axis) * axis
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    angle = np.arctan2(R @ v, R @ u)
    phi = 2 * np.pi * np.mod(m, 12.0) / 12.0
    rho = _fisher_lee(angle, phi)
    s = 1.0 if rho >= 0 else -1.0
    resultant = float(abs(np.mean(np.exp(1j * (angle - s * phi)))))
    unwrapped = np.unwrap(angle)
    octaves = (m[-1] - m[0]) / 12.0
    winding = float((unwrapped[-1] - unwrapped[0]) / (2 * np.pi) / octaves) if octaves else 0.0
    return HelixMeasure(angle=angle, height=height, axis=axis, center=center, circular_correlation=rho,
                        resultant_length=resultant, winding=winding)


def _notes_array(notes, sr):
    """(audio (n, samples) float32, sr) from an array or a Dataset."""
    from ..data.dataset import Dataset

    if isinstance(notes, Dataset):
        if sr is not None and float(sr) != float(notes.sr):
            raise ParameterError(f"sr={sr} disagrees with the Dataset's sr={notes.sr}")
        sr = notes.sr
        notes = notes.audio
    if sr is None:
        raise ParameterError("pitch_helix needs sr= (the sampling rate of the notes, Hz)")
    sr = check_real("sr", sr, min=0.0, strict_min=True)
    shape = getattr(notes, "shape", None)
    if shape is None:
        notes = np.asarray(notes)
        shape = notes.shape
    if len(shape) != 2:
        raise ParameterError(f"notes must be an array of shape (n_notes, n_samples), got shape {tuple(shape)}")
    x = np.asarray(notes)
    if x.dtype.kind != "f":
        raise ParameterError(f"notes must be floating point audio, got dtype {x.dtype}")
    if x.shape[0] < 3:
        raise ParameterError(f"pitch_helix needs at least 3 notes to correlate bins across, got {x.shape[0]}")
    if x.shape[1] < 2:
        raise ParameterError(f"notes must have at least 2 samples, got {x.shape[1]}")
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ParameterError(f"notes {bad[:10].tolist()}{'...' if bad.size > 10 else ''} hold NaN or inf samples")
    peak = np.abs(x).max(axis=1)
    if not (peak > 0).all():
        bad = np.flatnonzero(peak == 0)
        raise ParameterError(f"notes {bad[:10].tolist()}{'...' if bad.size > 10 else ''} are silent")
    return x.astype(np.float32, copy=False), sr


@jax.jit
def _log_cqt_batch(transform, x, eps):
    C = jnp.abs(transform(x))
    C = C / jnp.maximum(jnp.max(C, axis=(-2, -1), keepdims=True), jnp.finfo(C.dtype).tiny)
    return jnp.mean(jnp.log(C + eps), axis=-1)


def _log_cqt(x, transform, eps):
    """Time-averaged log-magnitude CQT of notes x (n, samples) -> (n, n_bins), float64,
    each note divided by its largest coefficient first."""
    out = []
    eps = jnp.float32(eps)
    for i in range(0, len(x), _BATCH):
        xb = x[i:i + _BATCH]
        n = len(xb)
        if n < _BATCH and len(x) > _BATCH:  # pad: one compilation for every batch
            xb = np.concatenate([xb, np.repeat(xb[-1:], _BATCH - n, axis=0)])
        out.append(np.asarray(_log_cqt_batch(transform, jnp.asarray(xb), eps))[:n])
    return np.concatenate(out).astype(np.float64)


def _flatten(L: np.ndarray, width: int) -> np.ndarray:
    """``L`` minus its moving average over ``width`` bins along the last axis
    (edges: the average of the bins that exist)."""
    n = L.shape[-1]
    c = np.concatenate([np.zeros(L.shape[:-1] + (1,)), np.cumsum(L, axis=-1)], axis=-1)
    lo = np.clip(np.arange(n) - width // 2, 0, n)
    hi = np.clip(np.arange(n) - width // 2 + width, 0, n)
    return L - (c[..., hi] - c[..., lo]) / (hi - lo)


def pitch_helix(
    notes,
    *,
    sr: float | None = None,
    fmin: float = FMIN,
    n_bins: int = 48,
    bins_per_octave: int = 12,
    n_neighbors: int = 3,
    hop_length: int = 512,
    eps: float = 1e-3,
    flatten: bool = True,
    out=None,
) -> Helix:
    """Isomap embedding of the CQT bins' correlations across isolated notes: the pitch helix.

    See the module docstring for the pipeline, the measure, and the choices with the
    numbers that led to them.

    Parameters
    ----------
    notes : array, shape (n_notes, n_samples), floating point; or a `jaxmusic.data.Dataset`
        Isolated notes, ideally of several instruments over several octaves (about
        300 or more distinct notes for a stable helix).
    sr : float, keyword-only
        Sampling rate (Hz); taken from a Dataset when omitted.
    fmin : float, keyword-only
        Centre frequency of the lowest bin (default E2, 82.41 Hz).
    n_bins : int, keyword-only
        Number of CQT bins (default 48: four octaves, E2 to D#6); at least
        ``2 * bins_per_octave``.
    bins_per_octave : int, keyword-only
        Default 12.
    n_neighbors : int, keyword-only
        Neighbours of each bin in Isomap's graph (default 3).
    hop_length : int, keyword-only
        CQT hop (default 512).
    eps : float, keyword-only
        Floor of the log, relative to each note's largest coefficient (default 1e-3).
    flatten : bool, keyword-only
        Subtract from each note's log spectrum its moving average over one octave
        (default True; without it no helix appears, see the module docstring).
    out : str or path-like, optional, keyword-only
        Folder to write ``helix.png`` into (3-d embedding coloured by pitch class,
        and the angle around the axis against pitch).

    Returns
    -------
    Helix
        ``embedding`` (n_bins, 3), ``pitch_class`` (n_bins,), ``midi`` (n_bins,),
        ``correlation`` (n_bins, n_bins), ``measure`` (`HelixMeasure`: the
        circular correlation of angle and pitch class, the winding) and ``n_notes``.

    Raises
    ------
    ParameterError
        Fewer than 3 notes, notes that are not ``(n_notes, n_samples)`` floating
        point, NaN/inf or silent notes, a missing ``sr``, bad CQT options (a top
        bin above Nyquist, ...), ``n_neighbors`` not in ``[1, n_bins - 1]``, fewer
        than two octaves of bins, or bins that do not vary across the notes.
    """
    from sklearn.manifold import Isomap

    from ..features import CQT

    x, sr = _notes_array(notes, sr)
    B = check_int("bins_per_octave", bins_per_octave, min=1)
    n_bins = check_int("n_bins", n_bins, min=2 * B)
    k = check_int("n_neighbors", n_neighbors, min=1, max=n_bins - 1)
    eps = check_real("eps", eps, min=0.0, strict_min=True)
    fmin = check_real("fmin", fmin, min=0.0, strict_min=True)
    transform = CQT(sr=sr, fmin=fmin, n_bins=n_bins, bins_per_octave=B,
                    hop_length=check_int("hop_length", hop_length, min=1))
    L = _log_cqt(x, transform, eps)
    F = _flatten(L, B) if flatten else L
    std = F.std(axis=0)
    flat = np.flatnonzero(std <= 1e-9 * max(1.0, float(np.abs(F).max())))
    if flat.size:
        raise ParameterError(f"CQT bins {flat[:10].tolist()} do not vary across the {len(x)} notes; "
                             "pass notes of different pitches, or change fmin / n_bins")
    R = np.corrcoef(F.T)
    D = np.sqrt(np.maximum(2.0 * (1.0 - R), 0.0))
    np.fill_diagonal(D, 0.0)
    embedding = Isomap(n_neighbors=k, n_components=3, metric="precomputed").fit_transform(D)
    freqs = np.asarray(transform.frequencies())
    midi = np.round(69.0 + 12.0 * np.log2(freqs / 440.0), 6)
    pitch_class = np.round(np.mod(midi, 12.0), 6)
    measure = measure_helix(embedding, midi, bins_per_octave=B)
    result = Helix(embedding=embedding, pitch_class=pitch_class, midi=midi, correlation=R,
                   measure=measure, n_notes=int(len(x)))
    if out is not None:
        figure_helix(result, as_run_dir(out, "experiment-helix") / "helix.png")
    return result


_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def figure_helix(result: Helix, path, *, title: str = "") -> Path:
    """The helix of `pitch_helix`: the 3-d embedding coloured by pitch class, and
    each bin's angle around the fitted axis against its MIDI number.

    Parameters
    ----------
    result : Helix
    path : str or path-like (PNG)
    title : str

    Returns
    -------
    Path
    """
    from ..plot import _pyplot, _save

    plt = _pyplot()
    E, pc, midi, ms = result.embedding, result.pitch_class, result.midi, result.measure
    # draw in the helix's own frame (a rotation of the embedding): the axis vertical
    Y = E - ms.center
    Z = Y @ ms.axis
    P = Y - Z[:, None] * ms.axis
    u = P[np.argmax(np.linalg.norm(P, axis=1))]
    u = u / np.linalg.norm(u)
    v = np.cross(ms.axis, u)
    X0, X1 = P @ u, P @ v
    fig = plt.figure(figsize=(12, 5.2))
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    ax.plot(X0, X1, Z, color="0.6", lw=0.6)
    sc = ax.scatter(X0, X1, Z, c=pc, cmap="hsv", vmin=0, vmax=12, s=28, depthshade=False)
    ax.plot([0, 0], [0, 0], [Z.min(), Z.max()], "k--", lw=1, label="fitted axis")
    for i in np.flatnonzero(np.isclose(pc, 0.0)):
        ax.text(X0[i], X1[i], Z[i], f" C{int(round(midi[i])) // 12 - 1}", fontsize=8)
    ax.set_zlabel("along the axis")
    ax.set_title("Isomap embedding of the CQT bins (colour: pitch class)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    cb = fig.colorbar(sc, ax=ax, shrink=0.6, pad=0.1, ticks=range(0, 12, 2))
    cb.ax.set_yticklabels([_NAMES[i] for i in range(0, 12, 2)])
    b = fig.add_subplot(1, 2, 2)
    s = 1.0 if ms.circular_correlation >= 0 else -1.0
    turn = np.degrees(np.unwrap(s * ms.angle))
    turn -= turn[0] - 30.0 * (midi[0] - 12.0 * np.floor(midi[0] / 12.0))
    b.scatter(midi, turn, c=pc, cmap="hsv", vmin=0, vmax=12, s=20)
    b.plot(midi, 30.0 * (midi - 12.0 * np.floor(midi[0] / 12.0)), "k:", lw=1, label="one turn per octave")
    b.set_xlabel("MIDI number of the bin")
    b.set_ylabel("angle around the axis, unwrapped (degrees)")
    b.set_title(f"circular correlation with pitch class {ms.circular_correlation:+.3f}, "
                f"{ms.winding:+.2f} turns per octave", fontsize=9)
    b.legend(fontsize=8)
    b.grid(alpha=0.3)
    fig.suptitle(title or f"pitch helix from {result.n_notes} notes", fontsize=10)
    return _save(fig, path)


def run_helix(out="runs/helix", *, quick: bool = False, verbose: bool = True, force: bool = False) -> dict:
    """The pitch helix of the built-in notes: figure ``helix.png`` and ``helix.json``.

    Notes of `jaxmusic.data.gm8` (all eight instruments, every semitone of their
    ranges, velocity 75, 1 s at 16 kHz): TimGM6mb's 353 notes with ``quick``,
    otherwise TimGM6mb's and Merlin's (706; TimGM6mb's alone when Merlin's
    soundfont is not installed). Default `pitch_helix` options.

    Parameters
    ----------
    out : str or path-like
        Output folder.
    quick : bool, keyword-only
        One soundfont (about 5 s).
    verbose : bool, keyword-only
        Print a summary.

    Returns
    -------
    dict
        The summary written to ``helix.json``: notes, options, the circular
        correlation, the resultant length, the winding, and the embedding.
    """
    from .representations import builtin_notes

    say = print if verbose else (lambda *a, **k: None)
    t0 = time.perf_counter()
    out = claim_dir(out, "experiment-helix", force=force)
    ds = builtin_notes(both=not quick, say=say, sr=16000, duration=1.0, velocities=(75,), pitch_step=1)
    h = pitch_helix(ds, out=out)
    ms = h.measure
    summary = {
        "notes": int(h.n_notes),
        "sources": sorted({str(s) for s in np.unique(ds.source)}),
        "options": {"fmin": FMIN, "n_bins": int(len(h.midi)), "bins_per_octave": 12, "n_neighbors": 3},
        "circular_correlation": ms.circular_correlation,
        "resultant_length": ms.resultant_length,
        "winding_turns_per_octave": ms.winding,
        "midi": h.midi.tolist(),
        "embedding": h.embedding.round(5).tolist(),
        "seconds": time.perf_counter() - t0,
    }
    write_json(out / "helix.json", summary)
    say(f"pitch helix from {h.n_notes} notes ({', '.join(summary['sources'])}): circular correlation "
        f"of angle and pitch class {ms.circular_correlation:+.3f} (resultant {ms.resultant_length:.3f}), "
        f"{ms.winding:+.2f} turns per octave; wrote {out / 'helix.png'} ({summary['seconds']:.1f} s)")
    return summary
