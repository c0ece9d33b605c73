"""The four properties of a representation, measured on built-in notes.

Discriminability, stability (to additive noise and to a small time warp), invariance
(to small and large delays and to a one-semitone transposition) and reconstruction of
the waveform, the Fourier modulus, the STFT, the mel spectrogram, MFCC, a wavelet
scalogram and time, joint and spiral scattering, on gm8 notes (TimGM6mb, 2**14 samples
at 16 kHz); plus the seed's argument on Gabor atoms: a dilation moves a partial at ``f``
by ``eps f``, so the Fourier modulus changes more and more with frequency while the
constant-Q transforms do not.

    python examples/representation_properties.py [--out runs/properties] [--quick]

Writes ``properties.png`` (one panel per property), ``properties.md`` and
``properties.json``. ``--quick`` (4 notes, Q=4) takes under a minute on a 2-core CPU,
most of it compiling the three scattering transforms; the full run (12 notes, Q=8)
a few minutes.
"""

import argparse
import time

from jaxmusic.experiments.properties import PROPERTIES, run_properties


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/properties")
    p.add_argument("--quick", action="store_true", help="4 notes, Q=4: under a minute")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise")
    args = p.parse_args()
    t0 = time.perf_counter()
    r = run_properties(args.out, quick=args.quick, seed=args.seed)
    width = max(map(len, r["transforms"]))
    print(f"{'':{width}}  " + "  ".join(f"{prop[:14]:>14}" for prop in PROPERTIES))
    for name, v in r["transforms"].items():
        cells = ["none" if v[prop] is None else f"{v[prop]:.3g}" for prop in PROPERTIES]
        print(f"{name:{width}}  " + "  ".join(f"{c:>14}" for c in cells))
    print(f"{time.perf_counter() - t0:.0f} s; wrote " + ", ".join(r["files"].values()))


if __name__ == "__main__":
    main()
