"""Style transfer on audio, four ways: the content of a clarinet melody, the style of a violin.

Gatys et al.'s recipe (match a content signal's features and a style
signal's statistics by descending on the waveform) with the representations
the course compares (`jaxmusic.experiments.style`):

* ``conv2d``: the log spectrogram as an image through a random 2-d ConvNet
  (which the course says fails: time and frequency are not isotropic);
* ``conv1d``: Ulyanov's random 1-d ConvNet over time, frequencies as channels;
* ``scattering`` / ``jtfs``: time-averaged (joint) scattering as style.

Writes the audio of each result, one figure of spectrograms and loss curves,
and ``style.json`` with the losses and two representation-neutral numbers
(how far the MFCC timbre moved toward the violin's, how much the log-mel
spectrogram changed).

    python examples/style_transfer.py [--out runs/style] [--quick]

``--quick``: 60 steps, no JTFS (about two minutes on a 2-core CPU); without
it, 200 steps and all four representations.
"""

import argparse

from jaxmusic.experiments.style import run_style


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/style")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    summary = run_style(args.out, quick=args.quick)
    best = min(summary["results"].items(), key=lambda kv: kv[1]["timbre_to_style"])
    print(f"closest to the violin's timbre: {best[0]} (its MFCC distance to the violin is "
          f"{best[1]['timbre_to_style']:.2f} of the clarinet's)")


if __name__ == "__main__":
    main()
