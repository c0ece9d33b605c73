"""A pure-JAX additive synthesizer of isolated notes in the eight gm8 classes.

Each class has its own spectral envelope (rolloff, odd/even balance, up to three
formants), attack, decay and release, vibrato, inharmonicity, breath or bow
noise, hammer burst and, for the distorted guitar, a saturating nonlinearity.
Louder notes are brighter. Every note also draws small random variations
(detuning, partial amplitudes and phases, vibrato rate) from its PRNG key, so
two notes of the same class, pitch and velocity differ a little, and the same
key always gives the same note.

This is a stand-in for real recordings, for tests and for machines without the
soundfont renderer: its classes are far easier to tell apart than real
instruments, and a model trained on it says little about real audio.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from .._checks import check_int, check_real
from .dataset import Dataset
from .soundfont import GM8_CLASSES, GM8_RANGES, check_note_grid

__all__ = ["synthetic_note", "synthetic_notes", "SYNTH_PARAMS"]

_FIELDS = (
    "slope",     # partial amplitude ~ h ** -slope at velocity 64
    "bright",    # slope decrease per unit of velocity/127 above 0.5 (louder = brighter)
    "even",      # gain of even partials (clarinet ~ 0.1)
    "attack",    # seconds to ~99 % of the attack
    "decay",     # amplitude decay rate of the fundamental, 1/s (0: sustained)
    "decay_h",   # extra decay per partial number (higher partials die faster)
    "release",   # release time constant after the key is let go, s
    "vib_rate",  # vibrato rate, Hz
    "vib_cents", # vibrato depth, cents
    "inharm",    # stiffness coefficient B at middle C: f_h = h f0 sqrt(1 + B h^2)
    "noise",     # level of sustained noise (breath, bow) against the partials (RMS)
    "noise_hz",  # centre of the noise band, Hz
    "noise_oct", # width of the noise band, octaves
    "burst",     # level of an onset noise burst (hammer, pick, tongue)
    "drive",     # tanh saturation drive (0: none)
    "f1", "g1", "w1",  # formants: centre Hz, gain, width Hz
    "f2", "g2", "w2",
    "f3", "g3", "w3",
)

#: Per-class synthesis parameters (see the module source for their meaning).
SYNTH_PARAMS = {
    "piano": dict(slope=1.4, bright=1.2, even=1.0, attack=0.004, decay=1.2, decay_h=0.25,
                  release=0.08, vib_rate=5.0, vib_cents=0.0, inharm=4e-4, noise=0.0,
                  noise_hz=2000, noise_oct=2.0, burst=0.4, drive=0.0,
                  f1=500, g1=0.0, w1=200, f2=1500, g2=0.0, w2=300, f3=3000, g3=0.0, w3=500),
    "violin": dict(slope=0.9, bright=0.6, even=1.0, attack=0.12, decay=0.0, decay_h=0.0,
                   release=0.12, vib_rate=5.8, vib_cents=25.0, inharm=0.0, noise=0.08,
                   noise_hz=3000, noise_oct=1.5, burst=0.0, drive=0.0,
                   f1=290, g1=3.0, w1=60, f2=500, g2=1.5, w2=120, f3=2800, g3=4.0, w3=700),
    "distorted guitar": dict(slope=1.0, bright=0.8, even=1.0, attack=0.005, decay=0.5,
                             decay_h=0.05, release=0.06, vib_rate=5.0, vib_cents=0.0,
                             inharm=1e-4, noise=0.0, noise_hz=2000, noise_oct=2.0, burst=0.3,
                             drive=5.0, f1=800, g1=1.0, w1=300, f2=2000, g2=1.0, w2=600,
                             f3=4000, g3=0.0, w3=500),
    "female singer": dict(slope=1.4, bright=0.8, even=1.0, attack=0.09, decay=0.0, decay_h=0.0,
                          release=0.15, vib_rate=5.5, vib_cents=45.0, inharm=0.0, noise=0.06,
                          noise_hz=3500, noise_oct=1.0, burst=0.0, drive=0.0,
                          f1=800, g1=12.0, w1=90, f2=1150, g2=8.0, w2=100, f3=2900, g3=5.0, w3=150),
    "clarinet": dict(slope=1.1, bright=0.8, even=0.08, attack=0.04, decay=0.0, decay_h=0.0,
                     release=0.05, vib_rate=5.0, vib_cents=0.0, inharm=0.0, noise=0.03,
                     noise_hz=2500, noise_oct=1.5, burst=0.1, drive=0.0,
                     f1=1500, g1=1.0, w1=500, f2=3000, g2=0.0, w2=300, f3=4000, g3=0.0, w3=500),
    "flute": dict(slope=2.6, bright=1.0, even=0.8, attack=0.07, decay=0.0, decay_h=0.0,
                  release=0.06, vib_rate=5.0, vib_cents=15.0, inharm=0.0, noise=0.25,
                  noise_hz=3000, noise_oct=2.5, burst=0.15, drive=0.0,
                  f1=800, g1=0.0, w1=200, f2=2000, g2=0.0, w2=300, f3=4000, g3=0.0, w3=500),
    "trumpet": dict(slope=1.2, bright=2.0, even=1.0, attack=0.03, decay=0.0, decay_h=0.0,
                    release=0.06, vib_rate=5.0, vib_cents=8.0, inharm=0.0, noise=0.02,
                    noise_hz=2000, noise_oct=1.5, burst=0.15, drive=0.0,
                    f1=1300, g1=4.0, w1=500, f2=2500, g2=1.5, w2=500, f3=4000, g3=0.0, w3=500),
    "tenor saxophone": dict(slope=1.0, bright=1.0, even=0.6, attack=0.05, decay=0.0, decay_h=0.0,
                            release=0.07, vib_rate=5.2, vib_cents=20.0, inharm=0.0, noise=0.1,
                            noise_hz=2000, noise_oct=1.5, burst=0.1, drive=0.8,
                            f1=500, g1=3.0, w1=150, f2=1500, g2=2.0, w2=400, f3=2800, g3=0.0,
                            w3=500),
}

_TABLE = np.array([[SYNTH_PARAMS[c][f] for f in _FIELDS] for c in GM8_CLASSES], dtype=np.float32)


def _note(key, label, pitch, velocity, *, sr, n_samples, n_hold, n_harmonics):
    table = jnp.asarray(_TABLE)
    row = table[label]
    p = {name: row[i] for i, name in enumerate(_FIELDS)}
    # One random draw (each draw costs compilation time): normals for the partial
    # amplitudes, detuning and vibrato rate; uniforms (through the normal CDF) for
    # the phases; white noise for the noise band and the onset burst.
    z = jax.random.normal(key, (2 * n_samples + 2 * n_harmonics + 3,))
    white = z[: 2 * n_samples].reshape(2, n_samples)
    small = z[2 * n_samples : 2 * n_samples + n_harmonics + 2]
    phases01 = jax.scipy.special.ndtr(z[2 * n_samples + n_harmonics + 2 :])
    pitch = jnp.asarray(pitch, jnp.float32)
    v = jnp.clip(jnp.asarray(velocity, jnp.float32) / 127.0, 0.0, 1.0)
    t = jnp.arange(n_samples, dtype=jnp.float32) / sr
    t_hold = n_hold / sr

    # Partials: frequencies (stiff-string inharmonicity) and amplitudes.
    detune = 0.04 * small[n_harmonics]  # semitones (~4 cents)
    f0 = 440.0 * 2.0 ** ((pitch + detune - 69.0) / 12.0)
    h = jnp.arange(1, n_harmonics + 1, dtype=jnp.float32)
    stiffness = p["inharm"] * 2.0 ** ((pitch - 60.0) / 12.0)
    fh = h * f0 * jnp.sqrt(1.0 + stiffness * h**2)
    slope = jnp.maximum(p["slope"] - p["bright"] * (v - 0.5), 0.3)
    amp = h ** (-slope) * jnp.where(h % 2 == 0, p["even"], 1.0)
    formants = 1.0
    for i in "123":
        formants = formants + p["g" + i] * jnp.exp(-0.5 * ((fh - p["f" + i]) / p["w" + i]) ** 2)
    amp = amp * formants * jnp.exp(0.2 * small[:n_harmonics])
    amp = amp * jnp.clip((0.45 * sr - fh) / (0.05 * sr), 0.0, 1.0)  # nothing above Nyquist

    # Vibrato: phase modulation whose depth fades in after the onset, so that the
    # instantaneous frequency swings by about +-vib_cents around each partial.
    rate = p["vib_rate"] * (1.0 + 0.08 * small[n_harmonics + 1])
    onset = jnp.clip((t - 0.15) / 0.25, 0.0, 1.0)
    depth = 2.0 ** (p["vib_cents"] / 1200.0) - 1.0
    warp = t - depth / (2 * jnp.pi * rate) * onset * jnp.cos(
        2 * jnp.pi * (rate * t + phases01[n_harmonics]))
    phi = 2 * jnp.pi * phases01[:n_harmonics]
    phases = 2 * jnp.pi * fh[:, None] * warp[None, :] + phi[:, None]

    # Envelopes: attack, per-partial decay (faster when high), release.
    attack = 1.0 - jnp.exp(-4.6 * t / p["attack"])
    pitch_factor = 2.0 ** ((pitch - 60.0) / 24.0)
    decay = jnp.exp(-t[None, :] * (p["decay"] * pitch_factor * (1.0 + p["decay_h"] * (h[:, None] - 1.0))))
    release = jnp.where(t < t_hold, 1.0, jnp.exp(-(t - t_hold) / p["release"]))
    y = jnp.sum(amp[:, None] * decay * jnp.sin(phases), axis=0)
    y = y / jnp.sqrt(jnp.mean(y**2) + 1e-12)

    # Noise: a band of filtered white noise that follows the note, and an onset burst.
    freqs = jnp.fft.rfftfreq(n_samples, 1.0 / sr)
    band = jnp.exp(-0.5 * (jnp.log2(jnp.maximum(freqs, 1.0) / p["noise_hz"]) / p["noise_oct"]) ** 2)
    noise = jnp.fft.irfft(jnp.fft.rfft(white[0]) * band.astype(jnp.complex64), n_samples)
    noise = noise / jnp.sqrt(jnp.mean(noise**2) + 1e-12)
    burst = white[1] * jnp.exp(-t / 0.015)
    y = (y + p["noise"] * noise) * attack * release + p["burst"] * v * burst

    # Saturation (distorted guitar, a little for the saxophone).
    drive = p["drive"]
    y = jnp.where(drive > 0, jnp.tanh(drive * y) / jnp.tanh(jnp.maximum(drive, 1e-3)), y)

    # Loudness follows velocity: peak 0.1 (pianissimo) to 0.5 (fortissimo).
    peak = jnp.max(jnp.abs(y))
    return (y * (0.5 * (0.2 + 0.8 * v)) / (peak + 1e-12)).astype(jnp.float32)


def synthetic_note(
    key,
    label,
    pitch,
    velocity,
    *,
    sr: int = 16000,
    duration: float = 1.0,
    hold: float = 0.75,
    n_harmonics: int = 32,
):
    """Synthesize one note; a pure function of its arguments, to `jit` and `vmap`.

    Parameters
    ----------
    key : jax.Array
        PRNG key: the note's small random variations.
    label : int or int array ()
        Class index into `GM8_CLASSES` (may be traced).
    pitch : float or array ()
        MIDI pitch (may be fractional, may be traced).
    velocity : float or array ()
        MIDI velocity 1-127: loudness and brightness.
    sr : int
        Sampling rate in Hz (static).
    duration : float
        Seconds (static).
    hold : float
        Seconds before release (static).
    n_harmonics : int
        Partials synthesized (static); those above 0.45 ``sr`` are silent.

    Returns
    -------
    jax.Array of shape (round(duration * sr),), float32

    Examples
    --------
    >>> keys = jax.random.split(jax.random.key(0), 4)
    >>> notes = jax.vmap(synthetic_note)(keys, jnp.arange(4), jnp.full(4, 60.), jnp.full(4, 90.))
    >>> notes.shape
    (4, 16000)
    """
    sr = check_int("sr", sr, min=1000)
    duration = check_real("duration", duration, min=0.0, strict_min=True)
    hold = check_real("hold", hold, min=0.0)
    n_harmonics = check_int("n_harmonics", n_harmonics, min=1)
    n_samples = max(1, int(round(duration * sr)))
    return _note(key, label, pitch, velocity, sr=sr, n_samples=n_samples,
                 n_hold=int(round(hold * sr)), n_harmonics=n_harmonics)


@functools.lru_cache(maxsize=8)
def _batch_fn(sr, n_samples, n_hold, n_harmonics):
    fn = functools.partial(_note, sr=sr, n_samples=n_samples, n_hold=n_hold, n_harmonics=n_harmonics)
    return jax.jit(jax.vmap(fn))


def synthetic_notes(
    key,
    *,
    sr: int = 16000,
    duration: float = 1.0,
    hold: float = 0.75,
    velocities: Sequence[int] = (50, 75, 100),
    pitch_step: int = 2,
    classes: Sequence[str] | None = None,
    ranges=None,
    n_harmonics: int = 32,
    batch_size: int = 32,
    source: str = "synthetic",
) -> Dataset:
    """A data set of synthetic notes in the gm8 classes, the same grid as `gm8`.

    Deterministic given ``key``. Its ``source`` (``"synthetic"``) sets it apart
    from soundfont renders, so that ``split_by_source`` can train on one and
    test on the other.

    Parameters
    ----------
    key : jax.Array
        PRNG key; note ``i`` uses ``jax.random.split(key, n)[i]``.
    sr, duration, hold, velocities, pitch_step, classes, ranges
        As in `gm8`.
    n_harmonics : int
        Partials per note.
    batch_size : int
        Notes synthesized per compiled call (bounds memory).
    source : str
        The ``source`` of every note.

    Returns
    -------
    Dataset
        ``audio`` (n, round(duration * sr)) float32.
    """
    sr, duration, hold, pitch_step, velocities, classes = check_note_grid(
        sr, duration, hold, pitch_step, velocities, classes)
    n_harmonics = check_int("n_harmonics", n_harmonics, min=1)
    batch_size = check_int("batch_size", batch_size, min=1)
    ranges = {**GM8_RANGES, **(ranges or {})}
    rows = []
    for label, c in enumerate(classes):
        lo, hi = ranges[c]
        for pitch in range(lo, hi + 1, pitch_step):
            for v in velocities:
                rows.append((label, GM8_CLASSES.index(c), pitch, v))
    rows = np.array(rows, dtype=np.int64)
    n = len(rows)
    n_samples = max(1, int(round(duration * sr)))
    fn = _batch_fn(sr, n_samples, int(round(hold * sr)), n_harmonics)
    keys = jax.random.split(key, n)
    audio = np.zeros((n, n_samples), dtype=np.float32)
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        idx = np.minimum(idx, n - 1)  # pad the last batch by repeating: one compiled shape
        out = fn(keys[idx], jnp.asarray(rows[idx, 1], jnp.int32),
                 jnp.asarray(rows[idx, 2], jnp.float32), jnp.asarray(rows[idx, 3], jnp.float32))
        stop = min(start + batch_size, n)
        audio[start:stop] = np.asarray(out)[: stop - start]
    return Dataset(audio=audio, label=rows[:, 0], classes=classes, sr=sr,
                   pitch=rows[:, 2], velocity=rows[:, 3], source=source)
