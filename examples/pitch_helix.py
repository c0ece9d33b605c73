"""The pitch helix learned from the built-in notes: Isomap of CQT-bin correlations.

Correlates the time-averaged, spectrally flattened log-magnitude CQT bins (E2 to
D#6) across the notes of `jaxmusic.data.gm8` (eight instruments, every semitone),
embeds the bins with Isomap in 3-d and measures how the angle around the helix's
axis follows pitch class (`jaxmusic.experiments.helix.run_helix`). Writes
``helix.png`` and ``helix.json`` to ``--out``.

    python examples/pitch_helix.py [--out runs/helix] [--quick]

About 10 seconds on a 2-core CPU (``--quick``: TimGM6mb's 353 notes only;
otherwise Merlin's too, when its soundfont is installed).
"""

import argparse

from jaxmusic.experiments.helix import run_helix


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/helix")
    p.add_argument("--quick", action="store_true", help="one soundfont (353 notes)")
    args = p.parse_args(argv)
    run_helix(args.out, quick=args.quick)


if __name__ == "__main__":
    main()
