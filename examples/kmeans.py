"""k-means in JAX on the built-in notes: clusters of MFCC statistics against the instruments.

Computes the MFCC mean and standard deviation of gm8's notes
(`jaxmusic.experiments.representations.note_features`), standardizes them,
clusters them with `jaxmusic.experiments.clustering.kmeans` (k = 8 and 16, ten
k-means++ restarts) beside scikit-learn's KMeans, and reports the purity of the
clusters against the eight instruments (`run_kmeans`). Writes ``kmeans.png``
(first two principal components, colour: cluster, marker: instrument) and
``kmeans.json`` to ``--out``.

    python examples/kmeans.py [--out runs/kmeans] [--quick]

About 20 seconds on a 2-core CPU, most of it compiling (``--quick``: 91 notes
instead of 534).
"""

import argparse

from jaxmusic.experiments.clustering import run_kmeans


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/kmeans")
    p.add_argument("--quick", action="store_true", help="91 notes instead of 534")
    args = p.parse_args(argv)
    run_kmeans(args.out, quick=args.quick)


if __name__ == "__main__":
    main()
