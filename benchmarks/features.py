"""Spectral features: jaxmusic (jit) vs librosa on the same batch, same run.

    python benchmarks/features.py [--batch 32] [--seconds 4] [--repeats 5]

Times mel spectrogram, MFCC and CQT of a batch of random signals at 22050 Hz
(librosa takes the batch as a multichannel array), prints time per batch (best of
--repeats; jaxmusic's compile time apart) and the ratio, and checks the outputs agree.
"""

from __future__ import annotations

import argparse
import time

import jax
import librosa
import numpy as np

from jaxmusic import features


def best_of(f, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args(argv)
    sr = 22050
    y = np.random.default_rng(0).standard_normal((a.batch, int(a.seconds * sr))).astype(np.float32)
    cases = {
        "melspectrogram": (features.MelSpectrogram(sr=sr), lambda: librosa.feature.melspectrogram(y=y, sr=sr)),
        "mfcc": (features.MFCC(sr=sr, n_mfcc=20), lambda: librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)),
        "cqt": (features.CQT(sr=sr), lambda: np.abs(librosa.cqt(y, sr=sr))),
    }
    print(f"batch {a.batch} x {a.seconds:g} s at {sr} Hz, float32; best of {a.repeats}")
    print(f"{'':16s} {'jaxmusic s':>11s} {'compile s':>10s} {'librosa s':>10s} {'speed-up':>9s} {'rel. diff':>10s}")
    for name, (transform, reference) in cases.items():
        f = jax.jit(transform)
        t0 = time.perf_counter()
        out = jax.block_until_ready(f(y))
        compile_s = time.perf_counter() - t0
        t_jm = best_of(lambda: f(y), a.repeats)
        t_lr = best_of(reference, max(1, a.repeats // 2))
        ref = reference()
        got = np.abs(np.asarray(out)) if name == "cqt" else np.asarray(out)
        diff = np.linalg.norm(got - ref) / np.linalg.norm(ref)
        print(f"{name:16s} {t_jm:11.3f} {compile_s:10.2f} {t_lr:10.3f} {t_lr / t_jm:8.2f}x {diff:10.1e}")


if __name__ == "__main__":
    main()
