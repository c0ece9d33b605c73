"""Linearization by an MLP, layer by layer, on real features of the built-in notes.

Trains a `jaxmusic.models.MLP` (hidden layers 64 and 32) with `jaxmusic.train.fit`
on the time-averaged MFCC 1-3 of gm8's piano, female singer and flute, which no
straight boundary separates well, and measures every layer's linear separability
(a logistic regression's cross-validated balanced accuracy, and on held-out notes)
(`jaxmusic.experiments.linearization.run_linearization`). Writes
``linearization.png`` (a row of 2-d PCA panels, one per layer),
``linearization_3d.png`` and ``linearization.json`` to ``--out``.

    python examples/linearization.py [--out runs/linearization] [--quick]

About 10 seconds on a 2-core CPU (``--quick``: TimGM6mb's 157 notes and 1500 steps;
otherwise Merlin's notes too, when its soundfont is installed, and 3000 steps).
"""

import argparse

from jaxmusic.experiments.linearization import run_linearization


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/linearization")
    p.add_argument("--quick", action="store_true", help="one soundfont, 1500 steps")
    args = p.parse_args(argv)
    run_linearization(args.out, quick=args.quick)


if __name__ == "__main__":
    main()
