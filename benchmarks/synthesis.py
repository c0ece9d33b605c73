"""Cross-synthesis: jaxmusic vs a straightforward NumPy/librosa/scikit-learn version, same run.

    python benchmarks/synthesis.py [--seconds 30] [--repeats 5]

Inputs: two ``--seconds`` signals at 22050 Hz, float32, made here in NumPy: the
source a melody of harmonic notes (a new pitch every 0.25 s) with a little noise, the
target/corpus another melody with a different spectrum (odd harmonics, vibrato)
plus filtered-noise bursts.

==================  ==============================  ==========================================
case                jaxmusic                        reference
==================  ==============================  ==========================================
envelope_hybrid     ``jax.jit(partial(              ``librosa.stft`` of both, log floor,
                    envelope_hybrid, ...))``,       ``np.fft.irfft`` / lifter / ``np.fft.rfft``
                    n_fft 2048, hop 512,            along frequency, ``librosa.istft``
                    n_coeffs 40
mosaic              ``mosaic(..., k=1)``            ``librosa.feature.mfcc`` (c0 dropped),
                    (defaults: c0 excluded,         ``sklearn NearestNeighbors``, frames by
                    energy matched)                 ``librosa.util.frame``, NumPy overlap-add
                                                    (a loop over frames), window-sum-square
knn search          JAX brute force (jit,           ``NearestNeighbors(n_neighbors=k)``
                    ``|a|^2 - 2ab + |b|^2``,        ``.fit(corpus).kneighbors(source)``
                    ``lax.top_k``)                  (what `mosaic` uses)
==================  ==============================  ==========================================

Every case is called once to warm up (for JAX: compile; ``compile s`` is that first
call minus the best steady call), then timed ``--repeats`` times, best kept. The
``speed-up`` is reference seconds over jaxmusic seconds. ``rel. diff`` is the
relative L2 difference of the outputs, ``same idx`` the fraction of equal neighbour
indices (mosaic, knn search). The knn rows time the search alone on the
mosaic's MFCC vectors (source frames x corpus frames, 19 coefficients), also with
the corpus repeated ``--knn-scale`` times (features jittered) to show the scaling.

`EXTRA_CASES` is a list of functions ``case(ctx) -> list of rows`` run after the
built-in cases (``ctx``: signals, ``sr``, ``repeats``, the timing helper ``best_of``);
each row is a dict made by `row` (``case``, ``jaxmusic_s``, ``compile_s``,
``reference_s`` or None, optional ``rel_diff`` and ``same_indices``). The autoencoder
transfer's throughput (seconds of audio per second; no reference) is one.

Results: printed as a table and written to ``benchmarks/results/synthesis.json``.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
from typing import Callable

import jax
import jax.numpy as jnp
import librosa
import numpy as np
from _harness import best_of  # noqa: E402
from sklearn.neighbors import NearestNeighbors

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from jaxmusic._files import write_json  # noqa: E402
from jaxmusic.synthesis.envelope import EPS, envelope_hybrid  # noqa: E402
from jaxmusic.synthesis.mosaic import mosaic  # noqa: E402

RESULTS = os.path.join(HERE, "results", "synthesis.json")
SR = 22050
N_FFT, HOP, N_COEFFS, N_MFCC = 2048, 512, 40, 20

def autoencoder_case(ctx: dict) -> list[dict]:
    """The STFT-LSTM autoencoder's transfer of the source, resampled to 16 kHz (default architecture:
    n_fft 1024, hop 256, context 4, 256-unit dense layers, 128-unit LSTM; untrained weights, which
    do not change the cost). No reference implementation: the row reports seconds of audio per second."""
    from flax import nnx

    from jaxmusic.models import STFTAutoencoder
    from jaxmusic.synthesis.autoencoder import AutoencoderConfig, TimbreAutoencoder, transfer

    cfg = AutoencoderConfig()
    ae = TimbreAutoencoder(STFTAutoencoder(n_bins=cfg.n_bins, context=cfg.context, encoder=cfg.encoder,
                                           latent=cfg.latent, lstm=cfg.lstm, decoder=cfg.decoder,
                                           rngs=nnx.Rngs(0)), cfg)
    y = librosa.resample(ctx["source"], orig_sr=SR, target_sr=cfg.sr).astype(np.float32)
    jm = best_of(lambda: transfer(ae, y), ctx["repeats"])
    seconds = len(y) / cfg.sr
    return [row("autoencoder transfer", jm[0], jm[1], None, audio_per_s=seconds / jm[1])]


#: More cases, each ``case(ctx) -> list[dict]`` (see the module docstring).
EXTRA_CASES: list[Callable[[dict], list[dict]]] = [autoencoder_case]


# ---------------------------------------------------------------------- signals


def melody(n: int, *, seed: int, odd_only: bool, vibrato: float) -> np.ndarray:
    """A sequence of harmonic notes (new pitch every 0.25 s), float32, peak < 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    note = np.floor(t / 0.25).astype(int)
    pitches = 110.0 * 2 ** (rng.integers(0, 24, note.max() + 1) / 12)
    f0 = pitches[note] * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    env = np.exp(-3.0 * (t % 0.25)) * (1 - np.exp(-200 * (t % 0.25)))
    y = np.zeros(n)
    for h in range(1, 16):
        if odd_only and h % 2 == 0:
            continue
        y += np.sin(h * phase) * rng.uniform(0.3, 1.0) / h
    y = y * env + 0.005 * rng.standard_normal(n)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


def signals(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    n = int(seconds * SR)
    source = melody(n, seed=0, odd_only=False, vibrato=0.0)
    target = melody(n, seed=1, odd_only=True, vibrato=0.01)
    rng = np.random.default_rng(2)
    bursts = np.convolve(rng.standard_normal(n), np.hanning(32) / 16, mode="same")
    gate = (np.floor(np.arange(n) / SR / 0.5) % 3 == 0)
    target = (target + 0.1 * bursts * gate).astype(np.float32)
    return source, target


# ------------------------------------------------------------------- references


def envelope_hybrid_numpy(source, target, *, n_fft=N_FFT, hop_length=HOP, n_coeffs=N_COEFFS):
    """The same method with librosa's STFT and NumPy FFTs along frequency."""
    n = max(len(source), len(target))
    source = np.resize(source, n)  # np.resize repeats from the start
    target = np.resize(target, n)
    q = np.arange(n_fft)
    lifter = ((q < n_coeffs) | (q > n_fft - n_coeffs)).astype(np.float32)[:, None]

    def envelope(X):
        c = np.fft.irfft(np.log(np.maximum(np.abs(X), EPS)), n=n_fft, axis=0)
        return np.fft.rfft(c * lifter, axis=0).real

    X_s = librosa.stft(source, n_fft=n_fft, hop_length=hop_length)
    X_t = librosa.stft(target, n_fft=n_fft, hop_length=hop_length)
    Y = X_s * np.exp(envelope(X_t) - envelope(X_s))
    return librosa.istft(Y, hop_length=hop_length, n_fft=n_fft, length=n)


def mosaic_numpy(source, corpus, *, n_fft=N_FFT, hop_length=HOP, n_mfcc=N_MFCC, k=1):
    """The same method: librosa MFCC, scikit-learn k-NN, NumPy overlap-add (c0 out, energy matched)."""
    def feats(y):
        return librosa.feature.mfcc(y=y, sr=SR, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop_length)[1:].T

    index = NearestNeighbors(n_neighbors=k).fit(feats(corpus)).kneighbors(feats(source), return_distance=False)
    w = librosa.filters.get_window("hann", n_fft).astype(np.float32)
    pad = n_fft // 2
    src = librosa.util.frame(np.pad(source, pad), frame_length=n_fft, hop_length=hop_length).T * w
    cor = librosa.util.frame(np.pad(corpus, pad), frame_length=n_fft, hop_length=hop_length).T * w
    out = np.zeros(len(source) + 2 * pad, np.float32)
    wss = np.zeros_like(out)
    for f in range(len(index)):
        frame = cor[index[f]].mean(axis=0)
        rms_out = np.sqrt(np.mean(frame**2))
        gain = np.sqrt(np.mean(src[f] ** 2)) / rms_out if rms_out > 0 else 0.0
        out[f * hop_length : f * hop_length + n_fft] += w * gain * frame
        wss[f * hop_length : f * hop_length + n_fft] += w**2
    tiny = np.finfo(np.float32).tiny
    out = np.where(wss > tiny, out / np.where(wss > tiny, wss, 1), out)
    return out[pad : pad + len(source)], index


@functools.partial(jax.jit, static_argnames="k")
def knn_jax(a, b, *, k):
    """k nearest rows of ``b`` for each row of ``a`` (brute force, nearest first)."""
    d = jnp.sum(b * b, axis=1)[None, :] - 2 * jnp.dot(a, b.T, precision=jax.lax.Precision.HIGHEST)
    return jax.lax.top_k(-d, k)[1]


def knn_sklearn(a, b, *, k):
    return NearestNeighbors(n_neighbors=k).fit(b).kneighbors(a, return_distance=False)


# --------------------------------------------------------------------- timing




def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def row(case, jm_first, jm_best, ref_best, *, rel_diff=None, same_indices=None, **extra):
    return dict(case=case, jaxmusic_s=jm_best, compile_s=max(0.0, jm_first - jm_best), reference_s=ref_best,
                speedup=None if ref_best is None else ref_best / jm_best, rel_diff=rel_diff,
                same_indices=same_indices, **extra)


def builtin_cases(ctx: dict) -> list[dict]:
    source, target, repeats = ctx["source"], ctx["target"], ctx["repeats"]
    rows = []

    f = jax.jit(functools.partial(envelope_hybrid, sr=SR, n_fft=N_FFT, hop_length=HOP, n_coeffs=N_COEFFS))
    s, t = jnp.asarray(source), jnp.asarray(target)
    jm = best_of(lambda: f(s, t), repeats)
    ref = best_of(lambda: envelope_hybrid_numpy(source, target), repeats)
    rows.append(row("envelope_hybrid", jm[0], jm[1], ref[1], rel_diff=rel(jm[2], ref[2])))

    jm = best_of(lambda: mosaic(source, target, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mfcc=N_MFCC,
                                return_indices=True), repeats)
    ref = best_of(lambda: mosaic_numpy(source, target), repeats)
    (y_jm, idx_jm), (y_ref, idx_ref) = jm[2], ref[2]
    rows.append(row("mosaic", jm[0], jm[1], ref[1], rel_diff=rel(y_jm, y_ref),
                    same_indices=float(np.mean(idx_jm.index == idx_ref))))

    # the search alone, on the MFCC vectors mosaic matches
    def feats(y):
        return librosa.feature.mfcc(y=y, sr=SR, n_mfcc=N_MFCC, n_fft=N_FFT, hop_length=HOP)[1:].T.copy()

    a, b = feats(source), feats(target)
    rng = np.random.default_rng(3)
    for scale in (1, ctx["knn_scale"]):
        big = b if scale == 1 else np.concatenate([b + 0.01 * rng.standard_normal(b.shape).astype(np.float32)
                                                   for _ in range(scale)])
        aj, bj = jnp.asarray(a), jnp.asarray(big)
        jm = best_of(lambda: knn_jax(aj, bj, k=1), repeats)
        ref = best_of(lambda: knn_sklearn(a, big, k=1), repeats)
        rows.append(row(f"knn {len(a)} x {len(big)}", jm[0], jm[1], ref[1],
                        same_indices=float(np.mean(np.asarray(jm[2]) == ref[2]))))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--knn-scale", type=int, default=10, help="corpus repetitions of the second knn row")
    p.add_argument("--output", default=RESULTS, help="JSON file written (default benchmarks/results/synthesis.json)")
    a = p.parse_args(argv)
    source, target = signals(a.seconds)
    ctx = dict(source=source, target=target, sr=SR, repeats=a.repeats, best_of=best_of, knn_scale=a.knn_scale)
    rows = builtin_cases(ctx)
    for case in EXTRA_CASES:
        rows.extend(case(ctx))

    print(f"{a.seconds:g} s source and {a.seconds:g} s target/corpus at {SR} Hz, float32; best of {a.repeats}; "
          f"{jax.devices()[0].platform}")
    print(f"{'':22s} {'jaxmusic s':>11s} {'compile s':>10s} {'reference s':>12s} {'speed-up':>9s} "
          f"{'rel. diff':>10s} {'same idx':>9s}")
    for r in rows:
        ref = "" if r["reference_s"] is None else f"{r['reference_s']:12.4f}"
        speed = "" if r["speedup"] is None else f"{r['speedup']:8.2f}x"
        diff = "" if r.get("rel_diff") is None else f"{r['rel_diff']:10.1e}"
        same = "" if r.get("same_indices") is None else f"{r['same_indices']:9.4f}"
        tail = f"  ({r['audio_per_s']:.0f} s of audio per s)" if r.get("audio_per_s") else ""
        print(f"{r['case']:22s} {r['jaxmusic_s']:11.4f} {r['compile_s']:10.2f} {ref:>12s} {speed:>9s} "
              f"{diff:>10s} {same:>9s}{tail}")
    write_json(a.output, dict(seconds=a.seconds, sr=SR, repeats=a.repeats, platform=platform.platform(),
                              device=str(jax.devices()[0]), jax=jax.__version__, librosa=librosa.__version__,
                              rows=rows))
    print(f"written {a.output}")


if __name__ == "__main__":
    main()
