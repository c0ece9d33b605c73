"""Timbre transfer on the built-in notes: every method, the seed's evaluations, and figures.

    python examples/timbre_transfer.py --out runs/timbre [--quick]

Trains the STFT-LSTM autoencoder (and the plain STFT autoencoder of the seed's
ablation) on every note of a gm8 class, then passes random melodies of the
other classes through the cepstral-envelope hybrid, MFCC mosaicing and the
autoencoders, and writes:

- ``comparison.png``: spectrograms of one input, the target and every method's output
  (with the sinusoidal morph halfway between input and target);
- ``summary.png``: the pitch test per method, the reconstruction of the training
  class, and the output bandwidth against the training class's;
- ``results.md`` / ``results.json``, and per method ``pitch-*/`` and ``reconstruction-*/``.

``--quick`` (two training classes, 400 steps, one 5-note melody per class) takes
a few minutes on a laptop CPU; the full run (the seed's 5 x 20 notes per class,
3000 steps, three classes) about half an hour.
"""

import argparse

from jaxmusic.experiments import run_timbre_transfer


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/timbre")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--classes", nargs="+", default=None, help="gm8 training classes (first = the target)")
    a = p.parse_args()
    r = run_timbre_transfer(a.out, quick=a.quick, train_classes=a.classes)
    print(open(f"{a.out}/results.md").read())
    print(f"figures in {a.out}: comparison.png, summary.png ({r['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
