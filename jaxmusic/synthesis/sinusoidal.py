"""Sinusoidal modelling: analysis, additive resynthesis, sines + residual, morphing.

The analysis-resynthesis family of timbre manipulation (McAulay and Quatieri
1986; Serra and Smith's spectral modelling synthesis, 1990). A signal is
modelled as a sum of slowly varying sinusoids (the *partials*) plus a residual:

    y(n) = sum_p a_p(n) cos(theta_p(n)) + r(n),    d theta_p / dn = 2 pi f_p(n) / sr.

`sinusoidal_analysis` measures ``(f_p, a_p, theta_p)`` once per frame and links
the measurements into tracks; `sinusoidal_synthesis` turns the tracks back
into audio; `sinusoidal_model` returns ``(sines, residual)`` with
``residual = y - sines``; `sinusoidal_morph` interpolates the partials of two
harmonic sounds (morphing: the result's pitch and spectral shape lie between
the two, rather than one sound's features imposed on the other as in
hybridization).

Analysis (host side, NumPy float64)
-----------------------------------
Frame ``t`` belongs to sample ``t * hop_length`` (``1 + len(y) // hop_length``
frames, as librosa's ``center=True``) and is weighted by a periodic 4-term
Blackman-Harris window of length ``n_fft`` centred on that sample.
Blackman-Harris rather than Hann: its highest sidelobe is at -92 dB (Hann:
-31 dB), below the default ``threshold_db=-80``, so a loud partial's
sidelobes are neither picked as peaks nor bias its neighbours' amplitudes;
its wider main lobe (8 bins) separates partials more than 4 bins apart,
i.e. harmonics of an f0 above ``4 sr / n_fft`` (43 Hz at 22.05 kHz with
``n_fft=2048``; use a longer frame below). Its log-magnitude main lobe is
also close to a parabola, which makes the interpolation accurate.
Within ``n_fft // 2`` of either end of the signal the half of the window that
would reach outside it is squeezed to the samples that exist: the window
still peaks on the frame's sample and falls smoothly to zero inside the
signal, so the frame measures its own instant (a window moved inside the
signal would measure another one, a window cut by zero padding would have the
sidelobes of a step). Its sidelobes are higher than in the interior, so in
those few frames the peaks are fitted jointly (step 4).

Per frame, vectorised over frames and peaks:

1. peaks are the local maxima of the magnitude spectrum above ``threshold_db``
   relative to the loudest bin of the whole signal (and above -140 dB);
2. a parabola through the dB magnitudes of the peak's bin and its two
   neighbours gives a fractional-bin frequency (and the vertex level, which
   ranks peaks);
3. the frame's DTFT is evaluated directly at that frequency and 1/8 bin either
   side, and a second parabola through those three dB magnitudes removes the
   first one's bias (about 2e-3 bin): frequencies of a stationary tone come
   out within 1e-5 relative;
4. amplitude and phase are the DTFT's at the refined frequency: modulus over
   the window's gain for a real sinusoid (half its sum), argument with the
   time origin on the frame's sample. In the frames at the ends of the
   signal, frequencies, amplitudes and phases of all the frame's peaks are
   instead fitted jointly to the windowed samples (weighted least squares,
   then Gauss-Newton on the frequencies), which removes their mutual leakage;
   peaks that the fit puts below the threshold are sidelobes and are dropped;
5. after tracking, each measurement is corrected for a linear frequency
   change within the window (a chirp lowers and turns the peak: vibrato on
   a high harmonic), the chirp rate being estimated from the track's
   neighbouring frequencies.

Tracking (``harmonic=False``) is sequential over frames, in NumPy, after
McAulay and Quatieri: each track continues to the nearest unclaimed peak of
the next frame within ``max_deviation`` (pairs taken in order of increasing
distance); a track with no peak dies, a peak with no track starts a new one;
tracks shorter than ``min_track_length`` frames are dropped. Tracks are then
packed into ``max_partials`` columns, loudest first; a column is reused only
after a gap of at least one silent frame (so that synthesis ramps one track
out and the next one in), and a track that finds no free column is dropped.

The harmonic model (``harmonic=True``) takes f0 per frame from
``librosa.pyin``, refines it from the peaks near its first harmonics (an
amplitude-weighted least-squares fit of ``f_k = k f0``), and puts in column
``k - 1`` the peak nearest ``k f0`` within ``harmonic_tolerance * f0``: the
columns correspond by harmonic number, which is what morphing needs.
Unvoiced frames have no partials.

Synthesis (JAX, jit-able)
-------------------------
Between frames ``t`` and ``t + 1`` (one hop), each partial's amplitude is
interpolated linearly and its phase is either

- ``method="cubic"`` (the default): McAulay and Quatieri's cubic phase
  polynomial, which matches the measured frequency *and* phase at both frames
  (with the "maximally smooth" choice of the 2 pi M unwrapping); it follows
  the original waveform; or
- ``method="linear"``: the running integral of the linearly interpolated
  frequency, from the phase measured where the track starts (measured phases
  are otherwise ignored; the phase drifts from the original's by the
  accumulated frequency error).

The cubic method is the default because it follows the waveform: the
sinusoidal part's SNR against the input, measured in
tests/test_synthesis_sinusoidal.py, is 110 dB against 78 dB for a
stationary harmonic tone, 25 dB against 7.5 dB for one with vibrato and an
envelope, and 21.4 dB against 10 dB for a rendered clarinet note.
A track born at frame ``t`` fades in from 0 over the hop before ``t`` at its
first frequency; a track that dies at frame ``t`` fades out over the hop after
it at its last frequency. After the last frame each partial continues at its
last amplitude and frequency up to the end of the signal.

Conventions
-----------
Where a partial is inactive its amplitude is exactly 0, its frequency 0 Hz and
its phase 0 (``amps > 0`` is the activity mask). Outputs are float32 at the
analysis ``sr`` and never normalised: the sinusoidal part has the level of the
input (pass it through `jaxmusic.synthesis._common.fit_peak` before writing
16-bit audio if it may exceed [-1, 1]).
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import ParameterError, check_choice, check_int, check_output, check_real, is_concrete, is_float_dtype
from .._pytree import pytree_dataclass, static_field
from ._common import prepare

__all__ = [
    "Partials",
    "sinusoidal_analysis",
    "sinusoidal_synthesis",
    "sinusoidal_model",
    "sinusoidal_morph",
    "snr_db",
]

_TWO_PI = 2.0 * np.pi
# 4-term Blackman-Harris (Harris 1978, -92 dB sidelobes).
_BH4 = (0.35875, 0.48829, 0.14128, 0.01168)
# Amplitudes below this (about -140 dB full scale) are never peaks: silence stays silent.
_AMP_FLOOR = 1e-7
# Frames per chunk when evaluating DTFTs at the peaks (bounds the temporary arrays).
_DTFT_CHUNK = 128
# Peaks fitted jointly in a frame at either end of the signal (the strongest).
_JOINT_MAX = 24
# Largest chirp (gamma = c (n_fft/2)^2, rad) corrected for: |G| = 0.45 there.
_GAMMA_MAX = 30.0
# Hop segments synthesised per vectorised batch (bounds memory to ~chunk * hop * partials).
_SYNTH_BATCH = 64


# --------------------------------------------------------------------------- data


@pytree_dataclass
class Partials:
    """Tracked partials of one signal (a frozen dataclass, registered as a JAX pytree).

    Frame ``t`` is centred on sample ``t * hop_length``; there are
    ``1 + length // hop_length`` frames. Column ``p`` holds one track at a time
    (``harmonic=True``: harmonic number ``p + 1`` in every frame).

    Attributes
    ----------
    freqs : array, shape (frames, n_partials), float32
        Frequency in Hz; 0 where the partial is inactive.
    amps : array, shape (frames, n_partials), float32
        Linear amplitude (a sinusoid ``a cos(...)`` has amplitude ``a``); exactly 0
        where the partial is inactive, so ``amps > 0`` is the activity mask.
    phases : array, shape (frames, n_partials), float32
        Phase in radians, in [-pi, pi], at the frame's centre sample; 0 where inactive.
    f0 : array, shape (frames,), float32, or None
        Fundamental frequency in Hz of the harmonic model (0 in unvoiced frames);
        None for the inharmonic (tracking) model.
    sr : int
        Sampling rate in Hz (static).
    hop_length : int
        Samples between frames (static).
    n_fft : int
        Analysis frame length (static).
    length : int or None
        Samples of the analysed signal: the default length of the resynthesis
        (static). None (for partials built by hand): ``(frames - 1) * hop_length + 1``.
    """

    freqs: Any
    amps: Any
    phases: Any
    f0: Any = None
    sr: int = static_field(default=22050)
    hop_length: int = static_field(default=512)
    n_fft: int = static_field(default=2048)
    length: int | None = static_field(default=None)

    @property
    def n_frames(self) -> int:
        return int(self.freqs.shape[0])

    @property
    def n_partials(self) -> int:
        return int(self.freqs.shape[1])

    @property
    def active(self):
        """``amps > 0``: where each partial sounds, shape (frames, n_partials)."""
        return self.amps > 0

    def __repr__(self) -> str:
        kind = "harmonic" if self.f0 is not None else "tracked"
        return (f"Partials({kind}, frames={self.n_frames}, n_partials={self.n_partials}, "
                f"sr={self.sr}, hop_length={self.hop_length}, n_fft={self.n_fft}, length={self.length})")


def snr_db(reference: Any, estimate: Any) -> float:
    """Signal-to-noise ratio of ``estimate`` against ``reference``, in dB.

    ``10 log10(sum(reference**2) / sum((reference - estimate)**2))``, computed in
    float64 over the common length (the longer signal is cut). ``inf`` when
    the two are equal (including both silent); ``-inf`` for a silent reference
    and a non-silent estimate.
    """
    r = np.asarray(reference, dtype=np.float64).ravel()
    e = np.asarray(estimate, dtype=np.float64).ravel()
    n = min(r.size, e.size)
    if n == 0:
        raise ParameterError("snr_db needs non-empty signals")
    r, e = r[:n], e[:n]
    num = float(np.sum(r * r))
    den = float(np.sum((r - e) ** 2))
    if den == 0.0:
        return math.inf
    if num == 0.0:
        return -math.inf
    return 10.0 * math.log10(num / den)


# ----------------------------------------------------------------------- analysis


def _blackman_harris(n: int) -> np.ndarray:
    """Periodic 4-term Blackman-Harris window (symmetric about sample ``n // 2``)."""
    phase = _TWO_PI * np.arange(n) / n
    a0, a1, a2, a3 = _BH4
    return a0 - a1 * np.cos(phase) + a2 * np.cos(2 * phase) - a3 * np.cos(3 * phase)


def _analysis_window(window: str, n: int) -> np.ndarray:
    if window == "blackmanharris":
        return _blackman_harris(n)
    return 0.5 - 0.5 * np.cos(_TWO_PI * np.arange(n) / n)  # periodic Hann


def _window_halves(window: str, left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    """Per-frame windows (T, n) over ``m = -n//2 .. n - n//2 - 1``: the window's left
    half squeezed to ``left[t]`` samples and its right half to ``right[t]``.

    With ``left == right == n // 2`` this is the periodic window itself.
    """
    coeffs = _BH4 if window == "blackmanharris" else (0.5, 0.5)
    m = (np.arange(n) - n // 2)[None, :].astype(np.float64)
    half = np.where(m < 0, left[:, None], right[:, None]).astype(np.float64)
    x = np.where(half > 0, m / np.maximum(half, 1.0), np.where(m == 0, 0.0, 2.0))
    w = np.zeros(x.shape)
    for j, a in enumerate(coeffs):
        w += a * np.cos(j * np.pi * x)
    return np.where(np.abs(x) <= 1.0, w, 0.0)


class _Spectra(NamedTuple):
    frames: np.ndarray   # (T, N) windowed frames, float64, time origin at sample N // 2
    gain: np.ndarray     # (T,) half the window's sum: |X| of a unit-amplitude cosine
    full: np.ndarray     # (T,) bool: the frame's window is the full symmetric one
    db: np.ndarray       # (T, K) amplitude spectrum in dB (gain corrected)
    edge_x: np.ndarray   # (E, N) the unwindowed frames of the E frames that are not full
    edge_w: np.ndarray   # (E, N) their (asymmetric) windows


def _spectra(y: np.ndarray, n_fft: int, hop_length: int, window: str) -> _Spectra:
    """Windowed frames centred on ``t * hop_length`` and their amplitude spectra.

    Interior frames use the periodic window. A frame within ``n_fft // 2`` of
    either end of the signal uses an asymmetric window instead: the half that
    would reach past the end is squeezed to the samples that exist, so the
    window still peaks at the frame's sample and falls smoothly to zero
    inside the signal (see the module docstring).
    """
    n = y.shape[0]
    half = n_fft // 2
    T = 1 + n // hop_length
    centre = np.arange(T) * hop_length
    left = np.minimum(centre, half)
    right = np.minimum(n - 1 - centre, half)   # half == n_fft // 2: the periodic window's zero
    full = (left == half) & (right == half)
    pad = np.pad(y.astype(np.float64), (half, n_fft))
    frames = pad[centre[:, None] + np.arange(n_fft)[None, :]]
    w = _window_halves(window, left, right, n_fft)
    xw = frames * w
    gain = 0.5 * w.sum(axis=1)
    amp = np.abs(np.fft.rfft(xw, axis=-1)) / gain[:, None]     # magnitudes only: origin irrelevant
    db = 20.0 * np.log10(np.maximum(amp, 1e-30))
    return _Spectra(xw, gain, full, db, frames[~full], w[~full])


def _peak_candidates(db: np.ndarray, threshold_db: float):
    """Local maxima above the threshold and their parabolic refinement.

    Returns ``(bins, offset, peak_db, valid)`` of shape (T, K_max): the peak's
    bin, the vertex offset in bins ([-0.5, 0.5]), the vertex height in dB and a
    validity mask (rows padded to the largest peak count of any frame).
    """
    T, K = db.shape
    top = float(db.max()) if db.size else -np.inf
    if not np.isfinite(top) or top < 20.0 * np.log10(_AMP_FLOOR):
        return (np.zeros((T, 0), np.int64),) + (np.zeros((T, 0)),) * 2 + (np.zeros((T, 0), bool),)
    thr = max(top + threshold_db, 20.0 * np.log10(_AMP_FLOOR))
    mid = db[:, 1:-1]
    is_peak = (mid > db[:, :-2]) & (mid >= db[:, 2:]) & (mid > thr)
    counts = is_peak.sum(axis=1)
    kmax = int(counts.max()) if T else 0
    if kmax == 0:
        return (np.zeros((T, 0), np.int64),) + (np.zeros((T, 0)),) * 2 + (np.zeros((T, 0), bool),)
    # Per frame, the peak bins packed to the left (stable sort of "not a peak").
    order = np.argsort(~is_peak, axis=1, kind="stable")[:, :kmax]
    valid = np.take_along_axis(is_peak, order, axis=1)
    bins = order + 1
    rows = np.arange(T)[:, None]
    a, b, c = db[rows, bins - 1], db[rows, bins], db[rows, bins + 1]
    den = a - 2.0 * b + c
    safe = np.where(den < 0, den, -1.0)
    offset = np.where(den < 0, 0.5 * (a - c) / safe, 0.0)
    offset = np.clip(offset, -0.5, 0.5)
    peak_db = b - 0.25 * (a - c) * offset
    bins = np.where(valid, bins, 1)
    offset = np.where(valid, offset, 0.0)
    peak_db = np.where(valid, peak_db, -np.inf)
    return bins, offset, peak_db, valid


def _dtft(spectra: _Spectra, fbin: np.ndarray) -> np.ndarray:
    """Each windowed frame's DTFT at fractional bins ``fbin`` (T, M, ...), complex.

    The time origin is the frame's sample (index ``n_fft // 2`` of the frame).
    Evaluated directly: samples ``m = B q + r`` split the kernel
    ``exp(-i w m) = exp(-i w B q) exp(-i w r)``, so each frequency costs
    ``n_fft / B + B`` complex exponentials and one small matrix product.
    """
    xw = spectra.frames
    T, N = xw.shape
    shape = fbin.shape
    f = fbin.reshape(T, -1)                                     # (T, M)
    B = max(1, int(round(math.sqrt(N))))
    Q = -(-N // B)
    x = np.pad(xw, ((0, 0), (0, Q * B - N))).reshape(T, Q, B)   # sample m = B q + r - N // 2
    out = np.zeros(f.shape, complex)
    for s in range(0, T, _DTFT_CHUNK):                         # bounds the temporaries
        sl = slice(s, s + _DTFT_CHUNK)
        w = (-_TWO_PI / N) * f[sl, :, None]                     # rad / sample (negated)
        inner = np.exp(1j * w * np.arange(B))                   # (t, M, B)
        outer = np.exp(1j * w * (B * np.arange(Q) - N // 2))    # (t, M, Q)
        # small products: einsum's own loops (no BLAS threads for a few thousand flops each)
        part = np.einsum("tmb,tqb->tmq", inner, x[sl])
        out[sl] = np.sum(part * outer, axis=-1)
    return out.reshape(shape)


def _measure(spectra: _Spectra, fbin: np.ndarray, valid: np.ndarray, floor: float):
    """Refined frequency (bins), amplitude and phase of the peaks near ``fbin`` (T, M).

    The parabolic estimate ``fbin`` is refined once more by a parabola through
    the dB magnitudes of the DTFT at ``fbin`` and ``fbin +- 1/8`` bin (near its
    vertex the log main lobe is a parabola to high accuracy: this removes the
    bias of the first fit, about 2e-3 bin for Blackman-Harris). Amplitude and
    phase are the DTFT's at the refined frequency (time origin on the frame's
    sample, where every window peaks). Frames at the ends of the signal are
    fitted jointly instead (`_joint_fit`); there, peaks whose fitted amplitude
    is below ``floor`` (the analysis threshold) are sidelobes and get amplitude 0.
    """
    T, M = fbin.shape
    if M == 0:
        return fbin, np.zeros((T, M)), np.zeros((T, M))
    d = 0.125
    X = _dtft(spectra, fbin[..., None] + np.array([-d, 0.0, d]))
    lg = 20.0 * np.log10(np.maximum(np.abs(X), 1e-300))
    a, b, c = lg[..., 0], lg[..., 1], lg[..., 2]
    den = a - 2.0 * b + c
    off = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0) * d
    fbin = fbin + np.clip(off, -d, d)
    X = _dtft(spectra, fbin)
    amps = np.abs(X) / spectra.gain[:, None]
    phases = np.angle(X)
    edge = np.flatnonzero(~spectra.full)
    for i, t in enumerate(edge):
        fbin[t], amps[t], phases[t] = _joint_fit(spectra.edge_x[i], spectra.edge_w[i], fbin[t],
                                                 valid[t], amps[t], phases[t], floor=floor)
    return fbin, np.where(valid, amps, 0.0), np.where(valid, phases, 0.0)


def _joint_fit(x, w, fbin, valid, amps, phases, *, floor, iterations=4):
    """Frequencies, amplitudes and phases of all peaks of one frame, fitted jointly.

    Used for the frames at the ends of the signal, whose asymmetric windows
    leak more than Blackman-Harris: ``sum_m w(m) (x(m) - sum_p a_p cos(w_p m +
    phi_p))^2`` is minimised by weighted least squares, first over amplitudes
    and phases at the measured frequencies (a linear problem), then by a few
    Gauss-Newton steps over all three (each frequency moving at most half a
    bin, a step kept only if it lowers the error), so that one partial's
    leakage no longer biases another's (the ``_JOINT_MAX`` strongest peaks are
    fitted; weaker ones keep their DTFT values). Peaks that the linear fit puts below
    ``floor`` (sidelobes of the asymmetric window) are dropped (amplitude 0)
    before the Gauss-Newton steps. A fit that fails keeps the DTFT values.
    """
    idx = np.flatnonzero(valid)
    if idx.size == 0:
        return fbin, amps, phases
    if idx.size > _JOINT_MAX:          # the strongest peaks; the others keep their DTFT values
        idx = idx[np.argsort(-amps[idx], kind="stable")[:_JOINT_MAX]]
    fitted = np.zeros_like(valid)
    fitted[idx] = True
    N = x.shape[0]
    inside = w > 0
    m = (np.arange(N) - N // 2)[inside].astype(np.float64)
    sw = np.sqrt(w[inside])
    xs = x[inside] * sw
    P = idx.size
    om = (_TWO_PI / N) * fbin[idx]

    def design(om):
        arg = m[:, None] * om[None, :]
        return np.cos(arg), np.sin(arg)

    def solve(A, b):
        # normal equations with a tiny ridge: much faster than an SVD, stable enough here
        G = np.einsum("ni,nj->ij", A, A)
        G[np.diag_indices_from(G)] += 1e-10 * np.trace(G) / G.shape[0] + 1e-300
        return np.linalg.solve(G, np.einsum("ni,n->i", A, b))

    try:
        c, s_ = design(om)
        coef = solve(np.concatenate([c, s_], axis=1) * sw[:, None], xs)
        strong = np.hypot(coef[:P], coef[P:]) >= floor
        if not strong.all():
            idx, om, P = idx[strong], om[strong], int(strong.sum())
            if P == 0:
                amps, phases = amps.copy(), phases.copy()
                amps[fitted], phases[fitted] = 0.0, 0.0
                return fbin, amps, phases
            c, s_ = design(om)
            coef = solve(np.concatenate([c, s_], axis=1) * sw[:, None], xs)
        al, be = coef[:P], coef[P:]
        err = np.sum((xs - (c @ al + s_ @ be) * sw) ** 2)
        limit = 0.5 * _TWO_PI / N
        for _ in range(iterations):
            J = np.concatenate([c, s_, m[:, None] * (be * c - al * s_)], axis=1) * sw[:, None]
            r = xs - (c @ al + s_ @ be) * sw
            step = solve(J, r)
            om_new = om + np.clip(step[2 * P:], -limit, limit)
            c2, s2 = design(om_new)
            coef = solve(np.concatenate([c2, s2], axis=1) * sw[:, None], xs)
            err_new = np.sum((xs - (c2 @ coef[:P] + s2 @ coef[P:]) * sw) ** 2)
            if not err_new < err:
                break
            om, c, s_, al, be, err = om_new, c2, s2, coef[:P], coef[P:], err_new
    except np.linalg.LinAlgError:
        return fbin, amps, phases
    if not (np.all(np.isfinite(al)) and np.all(np.isfinite(be)) and np.all(np.isfinite(om))):
        return fbin, amps, phases
    fbin, amps, phases = fbin.copy(), amps.copy(), phases.copy()
    amps[fitted], phases[fitted] = 0.0, 0.0
    fbin[idx] = om * N / _TWO_PI
    amps[idx] = np.hypot(al, be)
    phases[idx] = np.arctan2(-be, al)
    return fbin, amps, phases


@functools.lru_cache(maxsize=16)
def _chirp_table(window: str, n: int):
    """``G(gamma) = sum_m w(m) exp(i gamma (m / (n/2))^2) / sum_m w(m)`` for gamma in [0, _GAMMA_MAX].

    The DTFT of a windowed linear chirp ``exp(i (theta + omega m + c m^2))`` at
    ``omega`` is ``exp(i theta) G(c (n/2)^2)`` times that of a constant: the
    chirp lowers the peak by ``|G|`` and turns its phase by ``arg G``.
    """
    w = _analysis_window(window, n)
    m = (np.arange(n) - n // 2) / (n / 2)
    g = np.linspace(0.0, _GAMMA_MAX, 1201)
    G = np.exp(1j * g[:, None] * m[None, :] ** 2) @ w / w.sum()
    return g, G


def _chirp_correct(freqs, amps, phases, full, *, sr, hop, n_fft, window):
    """Correct measured partials for a linear frequency change within the window.

    ``freqs`` (Hz), ``amps``, ``phases`` (T, P), columns holding tracks. The
    chirp rate ``c = (d omega / dn) / 2`` of each active measurement is
    estimated from its track's frequencies in the neighbouring frames (central
    differences, one-sided at the ends of a track); amplitude and phase are
    divided by ``G(c (n_fft/2)^2)`` of `_chirp_table` (|gamma| capped at
    ``_GAMMA_MAX``, a gain of at most 2.2). Frames with an asymmetric window
    (``~full``, at the ends of the signal) are left as measured.
    """
    T, P = freqs.shape
    on = amps > 0
    if T < 2 or P == 0:
        return freqs, amps, phases
    w = _TWO_PI * freqs / sr
    prev = np.concatenate([np.zeros((1, P), bool), on[:-1]])
    nxt = np.concatenate([on[1:], np.zeros((1, P), bool)])
    wp = np.concatenate([w[:1], w[:-1]])
    wn = np.concatenate([w[1:], w[-1:]])
    okl, okh = on & prev, on & nxt
    slope = np.where(okl & okh, (wn - wp) / (2 * hop),
                     np.where(okl, (w - wp) / hop, np.where(okh, (wn - w) / hop, 0.0)))
    c = 0.5 * np.where(on & full[:, None], slope, 0.0)
    gamma = c * (n_fft / 2) ** 2
    g, G = _chirp_table(window, n_fft)
    mag = np.clip(np.abs(gamma), 0.0, _GAMMA_MAX)
    Gi = np.interp(mag, g, G.real) + 1j * np.interp(mag, g, G.imag)
    Gi = np.where(gamma < 0, np.conj(Gi), Gi)
    amps = np.where(on, amps / np.abs(Gi), 0.0)
    phases = np.where(on, np.angle(np.exp(1j * (phases - np.angle(Gi)))), 0.0)
    return freqs, amps, phases


def _runs(active: np.ndarray):
    """(start, stop) of each run of True in a 1-d boolean array (stop exclusive)."""
    d = np.diff(np.concatenate(([0], active.astype(np.int8), [0])))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _drop_short_runs(amps: np.ndarray, min_len: int) -> np.ndarray:
    keep = amps > 0
    if min_len <= 1:
        return keep
    for p in range(amps.shape[1]):
        for a, b in zip(*_runs(keep[:, p])):
            if b - a < min_len:
                keep[a:b, p] = False
    return keep


def _track(freqs, amps, phases, valid, *, bin_hz, max_deviation, min_track_length, n_columns):
    """McAulay-Quatieri nearest-frequency tracking (sequential over frames, NumPy).

    ``freqs, amps, phases, valid``: (T, M) peaks per frame. Returns (T, n_columns)
    arrays of tracked partials.
    """
    T = freqs.shape[0]
    tracks = []          # each: [start, [rows...]] with rows (f, a, phase)
    live = []            # indices into tracks, alive at the previous frame
    for t in range(T):
        idx = np.flatnonzero(valid[t])
        f_t = freqs[t, idx]
        claimed = np.zeros(idx.size, bool)
        still = []
        if live and idx.size:
            last = np.array([tracks[i][1][-1][0] for i in live])
            dist = np.abs(f_t[None, :] - last[:, None])
            tol = np.maximum(max_deviation * last, bin_hz)[:, None]
            ti, pi = np.nonzero(dist <= tol)
            order = np.argsort(dist[ti, pi], kind="stable")
            taken = np.zeros(len(live), bool)
            for j in order:
                a, b = ti[j], pi[j]
                if taken[a] or claimed[b]:
                    continue
                taken[a] = claimed[b] = True
                k = idx[b]
                tracks[live[a]][1].append((freqs[t, k], amps[t, k], phases[t, k]))
                still.append(live[a])
        for b in np.flatnonzero(~claimed):
            k = idx[b]
            tracks.append([t, [(freqs[t, k], amps[t, k], phases[t, k])]])
            still.append(len(tracks) - 1)
        live = still

    out_f = np.zeros((T, n_columns))
    out_a = np.zeros((T, n_columns))
    out_p = np.zeros((T, n_columns))
    kept = [(s, np.asarray(rows)) for s, rows in tracks if len(rows) >= min_track_length]
    kept.sort(key=lambda tr: -float(np.sum(tr[1][:, 1] ** 2)))
    used = np.zeros((T, n_columns), bool)
    for s, rows in kept:
        e = s + len(rows)                               # exclusive
        lo, hi = max(s - 1, 0), min(e + 1, T)           # one silent frame either side
        free = ~used[lo:hi].any(axis=0)
        if not free.any():
            continue
        c = int(np.argmax(free))
        used[s:e, c] = True
        out_f[s:e, c], out_a[s:e, c], out_p[s:e, c] = rows[:, 0], rows[:, 1], rows[:, 2]
    return out_f, out_a, out_p


def _harmonic_select(freq_hz, peak_db, valid, f0, voiced, *, n_harmonics, tolerance, nyquist):
    """Indices (T, n_harmonics) of the peak nearest ``k f0`` in each frame, and a mask."""
    T, K = freq_hz.shape
    sel = np.zeros((T, n_harmonics), np.int64)
    ok = np.zeros((T, n_harmonics), bool)
    if K == 0:
        return sel, ok, np.where(voiced, f0, 0.0)
    fp = np.where(valid, freq_hz, np.inf)
    lin = np.where(valid, 10.0 ** (peak_db / 20.0), 0.0)

    def nearest(f0_t, k):
        d = np.abs(fp - k * f0_t[:, None])
        j = np.argmin(d, axis=1)
        good = voiced & (d[np.arange(T), j] <= tolerance * f0_t) & (k * f0_t < nyquist)
        return j, good

    # Refine f0 from the first harmonics: f0 = sum a_k k f_k / sum a_k k^2.
    f0 = np.where(voiced, f0, 0.0)
    num = np.zeros(T)
    den = np.zeros(T)
    for k in range(1, min(n_harmonics, 8) + 1):
        j, good = nearest(np.where(voiced, f0, 1.0), k)
        a = np.where(good, lin[np.arange(T), j], 0.0)
        num += a * k * np.where(good, fp[np.arange(T), j], 0.0)
        den += a * k * k
    refined = np.where(den > 0, num / np.maximum(den, 1e-300), f0)
    f0 = np.where(voiced, refined, 0.0)
    for k in range(1, n_harmonics + 1):
        j, good = nearest(np.where(voiced, f0, 1.0), k)
        sel[:, k - 1] = j
        ok[:, k - 1] = good
    return sel, ok, f0


def _check_analysis(sr, n_fft, hop_length, max_partials, threshold_db, max_deviation,
                    min_track_length, window, harmonic, fmin, fmax, harmonic_tolerance):
    sr = check_int("sr", sr, min=1)
    n_fft = check_int("n_fft", n_fft, min=8)
    hop_length = check_int("hop_length", hop_length, min=1)
    if hop_length > n_fft:
        raise ParameterError(f"hop_length={hop_length} is larger than n_fft={n_fft}: the samples between "
                             "analysis frames would be seen by no frame (the partials there are guesses); "
                             "use hop_length <= n_fft // 2")
    max_partials = check_int("max_partials", max_partials, min=1)
    threshold_db = check_real("threshold_db", threshold_db, max=0.0)
    max_deviation = check_real("max_deviation", max_deviation, min=0.0)
    min_track_length = check_int("min_track_length", min_track_length, min=1)
    check_choice("window", window, ("blackmanharris", "hann"))
    if not isinstance(harmonic, (bool, np.bool_)):
        raise ParameterError(f"harmonic must be True or False, got {harmonic!r}")
    if not harmonic:      # the f0 options are not used
        return (sr, n_fft, hop_length, max_partials, threshold_db, max_deviation, min_track_length,
                fmin, fmax, harmonic_tolerance)
    fmin = check_real("fmin", fmin, min=0.0, strict_min=True)
    fmax = check_real("fmax", fmax, min=fmin, strict_min=True)
    if fmax >= sr / 2:
        raise ParameterError(f"fmax={fmax} must be below the Nyquist frequency sr/2={sr / 2}")
    harmonic_tolerance = check_real("harmonic_tolerance", harmonic_tolerance, min=0.0, strict_min=True)
    if harmonic_tolerance >= 0.5:
        raise ParameterError(f"harmonic_tolerance={harmonic_tolerance} must be below 0.5 (a fraction "
                             "of f0: at 0.5 two harmonics could claim the same peak)")
    return (sr, n_fft, hop_length, max_partials, threshold_db, max_deviation, min_track_length,
            fmin, fmax, harmonic_tolerance)


def sinusoidal_analysis(
    y: Any,
    *,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    max_partials: int = 60,
    threshold_db: float = -80.0,
    max_deviation: float = 0.05,
    min_track_length: int = 3,
    harmonic: bool = False,
    fmin: float = 65.0,
    fmax: float = 2100.0,
    harmonic_tolerance: float = 0.25,
    window: str = "blackmanharris",
) -> Partials:
    """Measure and track the partials of a mono signal (host side, NumPy).

    Peak picking, interpolation and the DTFT at the peaks are vectorised NumPy
    (float64); tracking is a sequential NumPy loop over frames; the harmonic
    model's f0 comes from ``librosa.pyin``. See the module docstring for the
    method.

    Parameters
    ----------
    y : array, shape (samples,) or (channels, samples)
        Floating-point audio at ``sr`` (channels are averaged).
    sr : int
        Sampling rate in Hz.
    n_fft : int >= 8
        Frame length and FFT size (the window spans ``n_fft`` samples).
    hop_length : int >= 1
        Samples between frame centres.
    max_partials : int >= 1
        Columns of the result: the loudest peaks kept per frame (tracking), or
        the number of harmonics (``harmonic=True``).
    threshold_db : float <= 0
        Peaks quieter than the loudest bin of the whole signal by more than this are ignored.
    max_deviation : float >= 0
        Tracking: a track continues to a peak within ``max_deviation * f`` of its
        last frequency ``f`` (relative, default 5 %, about a semitone per hop),
        or within one bin ``sr / n_fft`` if that is larger.
    min_track_length : int >= 1
        Tracks (harmonic model: runs of a harmonic) shorter than this many frames are dropped.
    harmonic : bool
        Use the harmonic model (column ``k - 1`` = harmonic ``k`` of pYIN's f0).
    fmin, fmax : float
        Harmonic model: pYIN's f0 search range in Hz (``fmax`` below ``sr / 2``).
    harmonic_tolerance : float in (0, 0.5)
        Harmonic model: the peak for harmonic ``k`` must lie within
        ``harmonic_tolerance * f0`` of ``k f0``.
    window : {"blackmanharris", "hann"}
        Analysis window (Blackman-Harris by default: see the module docstring).

    Returns
    -------
    Partials
        ``freqs, amps, phases`` of shape (1 + samples // hop_length, max_partials), float32.

    Raises
    ------
    ParameterError
        A bad option; ``y`` not a float array or shorter than ``n_fft``.
    AudioError
        ``y`` empty or with NaN/inf samples.
    """
    (sr, n_fft, hop_length, max_partials, threshold_db, max_deviation, min_track_length,
     fmin, fmax, harmonic_tolerance) = _check_analysis(
        sr, n_fft, hop_length, max_partials, threshold_db, max_deviation, min_track_length,
        window, harmonic, fmin, fmax, harmonic_tolerance)
    y = prepare(y, name="y", n_fft=n_fft)
    spectra = _spectra(y, n_fft, hop_length, window)
    T = spectra.db.shape[0]
    bins, offset, peak_db, valid = _peak_candidates(spectra.db, threshold_db)
    floor = max(10.0 ** ((float(spectra.db.max()) + threshold_db) / 20.0), _AMP_FLOOR)
    fbin = bins + offset
    freq_hz = fbin * (sr / n_fft)
    rows = np.arange(T)[:, None]

    if harmonic:
        f0 = _pyin(y, sr=sr, n_fft=n_fft, hop_length=hop_length, fmin=fmin, fmax=fmax, n_frames=T)
        voiced = np.isfinite(f0) & (f0 > 0)
        sel, ok, f0 = _harmonic_select(freq_hz, peak_db, valid, np.nan_to_num(f0), voiced,
                                       n_harmonics=max_partials, tolerance=harmonic_tolerance,
                                       nyquist=sr / 2)
        if bins.shape[1] == 0:
            sel_fbin = np.zeros((T, max_partials))
        else:
            sel_fbin = fbin[rows, sel]
        sel_fbin, amps, phases = _measure(spectra, sel_fbin, ok, floor)
        freqs = np.where(ok, sel_fbin * (sr / n_fft), 0.0)
        keep = _drop_short_runs(np.where(ok, amps, 0.0), min_track_length)
        out_f, out_a, out_p = (np.where(keep, v, 0.0) for v in (freqs, amps, phases))
        out_f, out_a, out_p = _chirp_correct(out_f, out_a, out_p, spectra.full, sr=sr,
                                             hop=hop_length, n_fft=n_fft, window=window)
        f0_out = f0.astype(np.float32)
    else:
        M = min(max_partials, bins.shape[1])
        if M < bins.shape[1]:
            top = np.argpartition(-peak_db, M - 1, axis=1)[:, :M]
        else:
            top = np.broadcast_to(np.arange(M), (T, M))
        sel_fbin = fbin[rows, top]
        sel_ok = valid[rows, top]
        sel_fbin, amps, phases = _measure(spectra, sel_fbin, sel_ok, floor)
        out_f, out_a, out_p = _track(
            sel_fbin * (sr / n_fft), amps, phases, sel_ok & (amps > 0),
            bin_hz=sr / n_fft, max_deviation=max_deviation,
            min_track_length=min_track_length, n_columns=max_partials)
        out_f, out_a, out_p = _chirp_correct(out_f, out_a, out_p, spectra.full, sr=sr,
                                             hop=hop_length, n_fft=n_fft, window=window)
        f0_out = None
    on = out_a > 0
    return Partials(
        freqs=np.where(on, out_f, 0.0).astype(np.float32),
        amps=np.where(on, out_a, 0.0).astype(np.float32),
        phases=np.where(on, out_p, 0.0).astype(np.float32),
        f0=f0_out, sr=sr, hop_length=hop_length, n_fft=n_fft, length=int(y.shape[0]),
    )


def _pyin(y, *, sr, n_fft, hop_length, fmin, fmax, n_frames):
    """pYIN f0 (Hz, NaN where unvoiced) on the analysis frames (centred on ``t * hop``)."""
    import librosa

    # pYIN's longest period is frame_length // 2 - 1 samples: make room for sr / fmin.
    frame_length = n_fft
    while frame_length // 2 - 1 < math.ceil(sr / fmin):
        frame_length *= 2
    if y.shape[0] < frame_length // 2:  # too short for pYIN's frames: no pitch
        return np.full(n_frames, np.nan)
    f0, _, _ = librosa.pyin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame_length,
                            hop_length=hop_length, center=True, pad_mode="constant")
    f0 = np.asarray(f0, dtype=np.float64)[:n_frames]
    if f0.shape[0] < n_frames:
        f0 = np.pad(f0, (0, n_frames - f0.shape[0]), constant_values=np.nan)
    return f0


# ---------------------------------------------------------------------- synthesis


def _wrap(x):
    return jnp.mod(x + jnp.pi, 2 * jnp.pi) - jnp.pi


def _segment_coefficients(freqs, amps, phases, *, sr, hop, method):
    """Per hop segment (T, P): amplitude ends and phase polynomial in u = tau / hop.

    theta(u) = c0 + c1 u + c2 u^2 + c3 u^3,  a(u) = a0 + (a1 - a0) u.
    Segment ``t`` runs from frame ``t`` to frame ``t + 1`` (a virtual frame after
    the last continues it at constant amplitude and frequency).
    """
    dtype = amps.dtype
    H = jnp.asarray(hop, dtype)
    w = freqs * jnp.asarray(_TWO_PI / sr, dtype)          # rad / sample
    on = amps > 0
    a0, w0, th0, on0 = amps, w, phases, on
    a1 = jnp.concatenate([amps[1:], amps[-1:]], axis=0)
    w1 = jnp.concatenate([w[1:], w[-1:]], axis=0)
    th1 = jnp.concatenate([phases[1:], _wrap(phases[-1:] + w[-1:] * H)], axis=0)
    on1 = a1 > 0
    cont = on0 & on1
    birth = ~on0 & on1

    if method == "linear":
        # Phase at each frame: running integral of the frequency (trapezoid per
        # hop, mod 2 pi), restarted at the measured phase where a track starts.
        prev_on = jnp.concatenate([jnp.zeros_like(on[:1]), on[:-1]], axis=0)
        prev_w = jnp.concatenate([w[:1], w[:-1]], axis=0)
        reset = on & ~prev_on
        inc = jnp.where(reset, phases, jnp.mod(0.5 * (prev_w + w) * H, 2 * jnp.pi))

        def step(prev, x):
            r, v = x
            cur = jnp.where(r, v, jnp.mod(prev + v, 2 * jnp.pi))
            return cur, cur

        _, acc = jax.lax.scan(step, jnp.zeros_like(inc[0]), (reset, inc))
        start = _wrap(acc)
        c0 = jnp.where(birth, th1 - w1 * H, start)
        c1 = jnp.where(birth, w1, w0) * H
        c2 = jnp.where(cont, 0.5 * (w1 - w0) * H, 0.0)
        c3 = jnp.zeros_like(c2)
    else:
        # McAulay-Quatieri cubic phase: match (theta, omega) at both ends, with the
        # 2 pi M unwrapping that makes the phase's second derivative smallest.
        dw = (w1 - w0) * H
        M = jnp.round((th0 + w0 * H - th1 + 0.5 * dw) / (2 * jnp.pi))
        D = th1 - th0 - w0 * H + 2 * jnp.pi * M
        c0 = jnp.where(birth, th1 - w1 * H, th0)
        c1 = jnp.where(birth, w1, w0) * H
        c2 = jnp.where(cont, 3.0 * D - dw, 0.0)
        c3 = jnp.where(cont, -2.0 * D + dw, 0.0)
    return a0, a1, c0, c1, c2, c3


@functools.partial(jax.jit, static_argnames=("sr", "hop", "length", "method"))
def _synthesize(freqs, amps, phases, *, sr, hop, length, method):
    freqs = jnp.asarray(freqs, jnp.float32)
    amps = jnp.asarray(amps, jnp.float32)
    phases = jnp.asarray(phases, jnp.float32)
    T = freqs.shape[0]
    if freqs.shape[1] == 0 or T == 0:
        return jnp.zeros((length,), jnp.float32)
    coeffs = _segment_coefficients(freqs, amps, phases, sr=sr, hop=hop, method=method)
    u = jnp.arange(hop, dtype=jnp.float32) / hop

    def segment(c):
        a0, a1, c0, c1, c2, c3 = (x[None, :] for x in c)    # (1, P)
        uu = u[:, None]
        theta = c0 + uu * (c1 + uu * (c2 + uu * c3))
        amp = a0 + (a1 - a0) * uu
        return jnp.sum(amp * jnp.cos(theta), axis=-1)        # (hop,)

    out = jax.lax.map(segment, coeffs, batch_size=min(_SYNTH_BATCH, T)).reshape(-1)
    n = out.shape[0]
    if length <= n:
        return out[:length]
    return jnp.pad(out, (0, length - n))


def sinusoidal_synthesis(partials: Partials, *, length: int | None = None,
                         method: str = "cubic") -> jax.Array:
    """Additive resynthesis of tracked partials (JAX; vectorised over samples and partials).

    A pure function of ``partials``' arrays with static sizes: it runs under
    ``jax.jit`` (``jax.jit(sinusoidal_synthesis, static_argnames=("length",
    "method"))``; `Partials` is a pytree whose configuration is static) and
    processes hop segments in vectorised batches (``jax.lax.map``), never a loop
    per sample. See the module docstring for the interpolation.

    Parameters
    ----------
    partials : Partials
    length : int, optional
        Output samples; default ``partials.length``. Past the last frame's hop
        the output is zero.
    method : {"cubic", "linear"}
        Phase interpolation: ``"cubic"`` matches the measured phases (follows the
        waveform), ``"linear"`` integrates the interpolated frequency. For
        partials edited or built by hand, whose phases are not consistent
        with their frequencies, use ``"linear"``: the cubic method would bend
        the frequency between frames to meet the given phases.

    Returns
    -------
    jax.Array, shape (length,), float32
        Not normalised: the level of the analysed signal.
    """
    if not isinstance(partials, Partials):
        raise ParameterError(f"partials must be a Partials (from sinusoidal_analysis), got "
                             f"{type(partials).__name__}")
    check_choice("method", method, ("cubic", "linear"))
    if length is None:
        length = partials.length
        if length is None:
            length = max(0, (np.shape(partials.freqs)[0] - 1) * partials.hop_length + 1)  # no frame: empty
    length = check_int("length", length, min=0)
    shapes = {np.shape(partials.freqs), np.shape(partials.amps), np.shape(partials.phases)}
    if len(shapes) != 1 or len(np.shape(partials.freqs)) != 2:
        raise ParameterError(f"partials.freqs, amps and phases must share one (frames, n_partials) "
                             f"shape, got {sorted(shapes)}")
    check_real("partials.sr", partials.sr, min=0.0, strict_min=True)
    check_int("partials.hop_length", partials.hop_length, min=1)
    for field in ("freqs", "amps", "phases"):
        value = getattr(partials, field)
        if not is_concrete(value):
            continue  # under jax.jit values cannot be inspected (see jaxmusic.checked)
        if not is_float_dtype(np.asarray(value).dtype):
            raise ParameterError(f"partials.{field} must be floating point, got dtype {np.asarray(value).dtype}")
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(np.asarray(value))))
        if bad:
            raise ParameterError(f"partials.{field} has {bad} NaN or inf values (shape {np.shape(value)}); "
                                 "give 0 amplitude to inactive partials instead")
    out = _synthesize(partials.freqs, partials.amps, partials.phases, sr=partials.sr,
                      hop=partials.hop_length, length=int(length), method=method)
    return check_output(out, partials.amps, name="partials.amps", what="synthesised signal")


def sinusoidal_model(y: Any, *, method: str = "cubic", **analysis_kwargs):
    """Sines + residual decomposition: ``(sines, residual)`` with ``residual = y - sines``.

    Parameters
    ----------
    y : array, shape (samples,) or (channels, samples)
        Floating-point audio (channels are averaged).
    method : {"cubic", "linear"}
        Phase interpolation of `sinusoidal_synthesis`.
    **analysis_kwargs
        Options of `sinusoidal_analysis` (``sr``, ``n_fft``, ``hop_length``,
        ``max_partials``, ``harmonic``, ...).

    Returns
    -------
    sines, residual : np.ndarray, shape (samples,), float32
        ``sines + residual`` equals the (mono, float32) input up to float32
        rounding of the subtraction (at most one unit in the last place of ``y``).
    """
    partials = sinusoidal_analysis(y, **analysis_kwargs)
    y = prepare(y, name="y")
    sines = np.asarray(sinusoidal_synthesis(partials, method=method), dtype=np.float32)
    return sines, (y - sines).astype(np.float32)


# ------------------------------------------------------------------------ morphing


def _fill_virtual(freqs, on, f0):
    """Frequencies where a harmonic is inactive: ``k * f0`` of that frame, or of the
    signal's median f0 when the frame is unvoiced (NaN if never voiced)."""
    T, K = freqs.shape
    k = np.arange(1, K + 1)[None, :]
    voiced = f0 > 0
    med = float(np.median(f0[voiced])) if voiced.any() else np.nan
    f0_fill = np.where(voiced, f0, med)[:, None]
    return np.where(on, freqs, k * f0_fill)


def _phase_deviation(freqs_filled, on, phases, *, sr, hop):
    """Measured phase minus the integral of frequency, unwrapped along each run.

    ``psi`` (T, K) is the trapezoid integral of ``freqs_filled`` from frame 0;
    ``delta = phases - psi`` (mod 2 pi) is made continuous within each run of
    active frames, so that ``psi + delta`` reproduces the measured phases.
    """
    w = _TWO_PI * freqs_filled / sr
    inc = 0.5 * (w[1:] + w[:-1]) * hop
    psi = np.concatenate([np.zeros((1, w.shape[1])), np.cumsum(inc, axis=0)], axis=0)
    raw = np.angle(np.exp(1j * (phases - psi)))
    delta = raw.copy()
    T = w.shape[0]
    for t in range(1, T):
        cont = on[t] & on[t - 1]
        step = np.angle(np.exp(1j * (raw[t] - delta[t - 1])))
        delta[t] = np.where(cont, delta[t - 1] + step, raw[t])
    return psi, delta


def _resample_frames(x, pos):
    """Linear interpolation of (T, ...) frames at fractional positions ``pos``."""
    T = x.shape[0]
    pos = np.clip(pos, 0, T - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, T - 1)
    frac = (pos - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - frac) + x[i1] * frac, i0, i1, frac


def _stretch_stft(R, pos):
    """STFT frames at fractional positions: magnitudes interpolated, nearest frame's phase."""
    Rt = np.moveaxis(R, -1, 0)                       # (frames, bins)
    mag, _, _, _ = _resample_frames(np.abs(Rt), pos)
    near = np.clip(np.rint(pos).astype(np.int64), 0, Rt.shape[0] - 1)
    ph = np.exp(1j * np.angle(Rt[near]))
    return np.moveaxis(mag * ph, 0, -1)


def _check_alpha(alpha):
    if isinstance(alpha, bool):
        raise ParameterError(f"alpha must be a number or an array in [0, 1], got {alpha!r}")
    if isinstance(alpha, numbers.Real):
        check_real("alpha", alpha, min=0.0, max=1.0)
        return np.array([float(alpha)])
    a = np.asarray(alpha)
    if a.ndim != 1 or a.size == 0 or a.dtype.kind not in "fiu":
        raise ParameterError(f"alpha must be a number or a 1-d real array in [0, 1] (a trajectory "
                             f"over the output's duration), got shape {a.shape} dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1:
        raise ParameterError(f"alpha must lie in [0, 1], got values from {a.min()} to {a.max()}")
    return a


def sinusoidal_morph(
    a: Any,
    b: Any,
    alpha: Any,
    *,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    max_partials: int = 60,
    threshold_db: float = -80.0,
    min_track_length: int = 3,
    fmin: float = 65.0,
    fmax: float = 2100.0,
    harmonic_tolerance: float = 0.25,
    residual: bool = True,
    return_components: bool = False,
):
    """Morph two harmonic sounds by interpolating their harmonic partials.

    Both sounds are analysed with the harmonic model (`sinusoidal_analysis` with
    ``harmonic=True`` and the same options), so harmonic ``k`` of ``a`` is
    matched with harmonic ``k`` of ``b``. Then, frame by frame:

    - **duration and alignment**: the output lasts
      ``round((1 - mean(alpha)) len(a) + mean(alpha) len(b))`` samples; output
      time ``s`` reads ``a`` at ``s len(a) / len_out`` and ``b`` at
      ``s len(b) / len_out`` (time normalised: attack aligned with attack,
      release with release), frames being interpolated linearly. At
      ``alpha=0`` this reads ``a``'s own frames, at ``alpha=1`` ``b``'s;
    - **frequency** on a log scale: ``f = fa^(1 - alpha) fb^alpha`` (so the
      pitch of an octave morph at 0.5 is the geometric mean). Where one sound
      lacks harmonic ``k`` its ``k f0`` stands in (its median f0 in unvoiced
      frames) so the result stays harmonic; a sound that pYIN never finds
      voiced has no partials and lends the other's frequencies;
    - **amplitude** linearly: ``(1 - alpha) aa + alpha ab`` (a missing harmonic
      counts 0, so a harmonic present in one sound fades in or out with
      ``alpha``). Linear rather than dB interpolation keeps silent harmonics
      silent and makes the endpoints exact;
    - **phase**: the running integral of the morphed frequency plus
      ``(1 - alpha)`` and ``alpha`` times each sound's measured phase minus the
      integral of its own frequency; the cubic phase synthesis then reproduces
      ``a``'s (``b``'s) measured phases, hence its waveform, at ``alpha=0`` (1);
    - **residual**: each sound's residual (its signal minus its harmonic
      resynthesis) is brought to the output duration in the STFT domain (see
      Notes), and the two are mixed
      ``(1 - alpha) ra + alpha rb`` frame by frame. Two uncorrelated residuals
      mixed at 0.5 lose about 3 dB; the residual is not spectrally morphed.

    Parameters
    ----------
    a, b : array, shape (samples,) or (channels, samples)
        The two sounds at ``sr`` (channels averaged), each at least ``n_fft`` samples.
    alpha : float in [0, 1], or 1-d array in [0, 1]
        0 gives ``a``, 1 gives ``b``. An array is a trajectory spread evenly over
        the output's duration (linearly interpolated to its frames).
    sr, n_fft, hop_length, max_partials, threshold_db, min_track_length, fmin, fmax, harmonic_tolerance
        As in `sinusoidal_analysis` (``max_partials`` = harmonics per sound).
    residual : bool
        Add the mixed residuals (default) or return the sinusoidal part only.
    return_components : bool
        Return ``(sines, residual)`` instead of their sum.

    Returns
    -------
    np.ndarray, shape (samples_out,), float32, or (sines, residual)
        Not normalised.

    Notes
    -----
    The residuals are time-normalised with a Hann STFT (``n_fft``, hop
    ``hop_length``): each output frame takes the magnitudes interpolated between
    the two nearest source frames and the phases of the nearest one; when the
    output has the source's duration this is the identity (up to float32
    rounding of the STFT round trip). ``hop_length`` must then satisfy Hann's
    overlap-add condition (``hop_length <= n_fft // 2``).
    """
    alpha_in = _check_alpha(alpha)
    opts = dict(sr=sr, n_fft=n_fft, hop_length=hop_length, max_partials=max_partials,
                threshold_db=threshold_db, min_track_length=min_track_length, fmin=fmin,
                fmax=fmax, harmonic_tolerance=harmonic_tolerance, harmonic=True)
    if not isinstance(residual, (bool, np.bool_)):
        raise ParameterError(f"residual must be True or False, got {residual!r}")
    if residual and check_int("hop_length", hop_length, min=1) > check_int("n_fft", n_fft, min=8) // 2:
        raise ParameterError(f"hop_length={hop_length} must be <= n_fft // 2 = {n_fft // 2} to "
                             "time-normalise the residuals (or pass residual=False)")
    ya = prepare(a, name="a", n_fft=n_fft)
    yb = prepare(b, name="b", n_fft=n_fft)
    pa = sinusoidal_analysis(ya, **opts)
    pb = sinusoidal_analysis(yb, **opts)
    sr, hop = pa.sr, pa.hop_length

    la, lb = ya.shape[0], yb.shape[0]
    am = float(alpha_in.mean())
    length = max(int(round((1 - am) * la + am * lb)), 1)
    T = 1 + length // hop
    tout = np.arange(T) * hop
    al = np.interp(np.linspace(0, 1, T), np.linspace(0, 1, alpha_in.size), alpha_in) \
        if alpha_in.size > 1 else np.full(T, alpha_in[0])
    al = al[:, None]

    def source(p, n):
        f = np.asarray(p.freqs, np.float64)
        amp = np.asarray(p.amps, np.float64)
        ph = np.asarray(p.phases, np.float64)
        f0 = np.asarray(p.f0, np.float64)
        on = amp > 0
        filled = _fill_virtual(f, on, f0)
        _, delta = _phase_deviation(np.nan_to_num(filled), on, ph, sr=sr, hop=hop)
        pos = tout * (n / length) / hop
        amp_r, i0, i1, frac = _resample_frames(amp, pos)
        logf = np.log(np.where(filled > 0, filled, np.nan))
        logf_r = _resample_frames(logf, pos)[0]
        delta_r = _resample_frames(delta, pos)[0]
        # Between an active and an inactive frame the phase deviation is the active
        # one's (an inactive frame's is meaningless); frequencies interpolate
        # towards the inactive frame's stand-in k f0.
        on0, on1 = on[i0], on[i1]
        between = np.broadcast_to(frac > 0, amp_r.shape)
        only0 = on0 & ~on1 & between
        only1 = on1 & ~on0 & between
        delta_r[only0] = delta[i0][only0]
        delta_r[only1] = delta[i1][only1]
        return amp_r, logf_r, delta_r

    aa, lfa, da = source(pa, la)
    ab, lfb, db = source(pb, lb)
    # A sound that is never voiced lends no frequencies: use the other one's.
    lfa = np.where(np.isfinite(lfa), lfa, lfb)
    lfb = np.where(np.isfinite(lfb), lfb, lfa)
    amp = (1 - al) * aa + al * ab
    logf = (1 - al) * lfa + al * lfb
    freq = np.where(np.isfinite(logf), np.exp(np.nan_to_num(logf)), 0.0)
    on = (amp > 0) & (freq > 0) & (freq < sr / 2)
    amp = np.where(on, amp, 0.0)
    freq = np.where(on, freq, 0.0)
    w = _TWO_PI * np.where(on, freq, np.nan_to_num(np.exp(logf))) / sr
    psi = np.concatenate([np.zeros((1, w.shape[1])),
                          np.cumsum(0.5 * (w[1:] + w[:-1]) * hop, axis=0)], axis=0)
    dmix = (1 - al) * np.nan_to_num(da) + al * np.nan_to_num(db)
    phase = np.where(on, np.angle(np.exp(1j * (psi + dmix))), 0.0)
    morphed = Partials(freqs=freq.astype(np.float32), amps=amp.astype(np.float32),
                       phases=phase.astype(np.float32), f0=None, sr=sr, hop_length=hop,
                       n_fft=pa.n_fft, length=length)
    sines = np.asarray(sinusoidal_synthesis(morphed), dtype=np.float32)

    if residual:
        res = _mix_residuals(ya - np.asarray(sinusoidal_synthesis(pa)),
                             yb - np.asarray(sinusoidal_synthesis(pb)),
                             alpha_in, length=length, n_fft=n_fft, hop=hop)
    else:
        res = np.zeros(length, np.float32)
    if return_components:
        return sines, res
    return (sines + res).astype(np.float32)


def _mix_residuals(ra, rb, alpha, *, length, n_fft, hop):
    """``(1 - alpha) ra + alpha rb`` after bringing both to ``length`` samples (STFT domain).

    Host side with librosa's (NumPy) Hann STFT, like the rest of the analysis:
    no compilation per signal length.
    """
    import librosa

    Ra = librosa.stft(np.asarray(ra, np.float32), n_fft=n_fft, hop_length=hop)
    Rb = librosa.stft(np.asarray(rb, np.float32), n_fft=n_fft, hop_length=hop)
    T = 1 + length // hop
    tout = np.arange(T) * hop
    Sa = _stretch_stft(Ra, tout * (ra.shape[0] / length) / hop)
    Sb = _stretch_stft(Rb, tout * (rb.shape[0] / length) / hop)
    al = np.interp(np.linspace(0, 1, T), np.linspace(0, 1, alpha.size), alpha) \
        if alpha.size > 1 else np.full(T, alpha[0])
    S = (1 - al) * Sa + al * Sb
    out = librosa.istft(S.astype(np.complex64), hop_length=hop, n_fft=n_fft, length=length)
    return np.asarray(out, dtype=np.float32)
