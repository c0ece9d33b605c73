"""Reconstruct a note from its scattering coefficients by gradient descent.

The course says that for wavelets and scattering "direct reconstruction is not
possible": there is no inverse operator. But the transforms are differentiable,
so a signal with the same coefficients can be searched for. This example

1. inverts a built-in note's time, joint (JTFS) and spiral scattering with
   `jaxmusic.experiments.inversion.run_inversion` (audio, figure, JSON), and
2. shows the function underneath, `invert`, on a batch: three notes at once
   (``vmap``), from noise, with the error curve of each.

    python examples/invert_scattering.py [--out runs/invert] [--quick]

``--quick``: time and joint scattering of 4096 samples, 100 steps (about a
minute on a 2-core CPU); without it, 8192 samples, 500 steps and the spiral
too (several minutes).
"""

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxmusic
from jaxmusic.data import gm8
from jaxmusic.experiments.inversion import invert, run_inversion, spectral_convergence


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/invert")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    out = Path(args.out)

    # 1. one note, three transforms
    run_inversion(out / "note", quick=args.quick)

    # 2. a batch: three notes of the flute, one call, one compilation
    n = 4096 if args.quick else 8192
    ds = gm8(classes=("flute",), velocities=(100,), pitch_step=12, sr=16000)
    x = jnp.asarray(ds.audio[:3, :n])
    S = jaxmusic.Scattering1D(J=6, shape=n, Q=8)
    res = invert(jax.random.key(0), S, S(x), steps=150 if args.quick else 500,
                 reference=x, out=out / "batch", sr=16000)
    sc = spectral_convergence(res.signal, x)
    for pitch, e, s in zip(ds.pitch[:3], res.error[:, -1], np.atleast_1d(sc)):
        print(f"flute MIDI {int(pitch)}: coefficient error {100 * e:.2f} %, spectral convergence {s:.3f}")
    print(f"{res.signal.shape[0]} signals, {res.error.shape[1] - 1} steps in {res.seconds:.1f} s; "
          f"wrote {out / 'batch'}")


if __name__ == "__main__":
    main()
