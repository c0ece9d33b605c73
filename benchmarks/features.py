"""Spectral features: jaxmusic (jit) vs librosa on the same batch, same run.

    python benchmarks/features.py [--batch 32] [--seconds 4] [--repeats 5]

Times mel spectrogram, MFCC and CQT of a batch of random signals at 22050 Hz
(librosa takes the batch as a multichannel array), prints time per batch (best of
--repeats, the two libraries taking turns so that a busy machine slows both alike;
jaxmusic's compile time and librosa's first call apart) and the ratio, and checks the
outputs agree: relative L2 difference, and for the CQT also the mean |dB| difference
over the bins within 60 dB of the loudest.
"""

from __future__ import annotations

import argparse
import time

import jax
import librosa
import numpy as np

from jaxmusic import features


def best_of_turns(f, g, repeats):
    """Best times of ``f`` and ``g`` over ``repeats`` rounds, one call of each per round."""
    tf, tg = [], []
    for _ in range(repeats):
        for fn, times in ((f, tf), (g, tg)):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times.append(time.perf_counter() - t0)
    return min(tf), min(tg)


def mean_db_difference(got, ref, floor_db=60.0):
    """Mean |20 log10 |got| - 20 log10 |ref||, over the bins within floor_db of ref's peak."""
    db = 20 * np.log10(np.abs(got) + 1e-12)
    db_ref = 20 * np.log10(np.abs(ref) + 1e-12)
    loud = db_ref > db_ref.max() - floor_db
    return float(np.mean(np.abs(db - db_ref)[loud]))


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
    print(f"{'':16s} {'jaxmusic s':>11s} {'compile s':>10s} {'librosa s':>10s} {'speed-up':>9s} "
          f"{'rel. diff':>10s} {'mean |dB|':>10s}")
    for name, (transform, reference) in cases.items():
        f = jax.jit(transform)
        t0 = time.perf_counter()
        out = jax.block_until_ready(f(y))
        compile_s = time.perf_counter() - t0
        ref = reference()  # librosa's first call (filter construction, numba) apart too
        t_jm, t_lr = best_of_turns(lambda: f(y), reference, a.repeats)
        got = np.abs(np.asarray(out)) if name == "cqt" else np.asarray(out)
        diff = np.linalg.norm(got - ref) / np.linalg.norm(ref)
        db = f"{mean_db_difference(got, ref):10.3f}" if name == "cqt" else f"{'':10s}"
        print(f"{name:16s} {t_jm:11.3f} {compile_s:10.2f} {t_lr:10.3f} {t_lr / t_jm:8.2f}x {diff:10.1e} {db}")


if __name__ == "__main__":
    main()
