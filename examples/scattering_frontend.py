"""A deep scattering network: wavelets as the fixed first layer, inside the jitted train step.

Trains `jaxmusic.models.ScatteringClassifier` (time scattering, log-compressed and
time-averaged, then an MLP) on raw audio of the built-in notes with
`jaxmusic.train.fit`: every step computes the scattering of its batch inside the
same compiled program as the classifier's update. Then it differentiates the
true class's logit with respect to the input audio (a saliency map: which
samples of the note the decision rests on) and draws both.

    python examples/scattering_frontend.py [--out runs/frontend] [--steps 150]

About two minutes on a 2-core CPU.
"""

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxmusic
from jaxmusic import data, models, train
from jaxmusic.plot import _pyplot


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/frontend")
    p.add_argument("--steps", type=int, default=150)
    args = p.parse_args()
    out = Path(args.out)

    ds = data.gm8(sr=16000, duration=0.5, hold=0.4, pitch_step=3, velocities=(60, 100))
    tr, te = data.split_by_pitch(ds, test_fraction=0.25, seed=1)
    S = jaxmusic.Scattering1D(J=7, shape=ds.n_samples, Q=(8, 1))
    stats = models.Standardizer.fit(models.scattering_features(S, jnp.asarray(tr.audio[:128])))
    model = models.ScatteringClassifier(S, n_classes=len(ds.classes), hidden=(128,), dropout=0.2,
                                        standardizer=stats, rngs=nnx.Rngs(0))
    print(f"{len(tr)} training notes, {len(te)} test notes; scattering {model.in_features} paths -> MLP")
    r = train.fit(model, np.asarray(tr.audio), tr.label, val=(np.asarray(te.audio), te.label), steps=args.steps,
                  eval_every=25, batch_size=16, out=out, desc="scattering + MLP")
    e = train.evaluate(model, np.asarray(te.audio), te.label, batch_size=16)
    print(f"held-out pitches: error {e['error']:.1f} % (1 - mean per-class recall), accuracy {e['accuracy']:.1f} %")

    # saliency: d logit[true class] / d audio, through the scattering layer
    i = int(np.flatnonzero(te.label == ds.classes.index("trumpet"))[0]) if np.any(
        te.label == ds.classes.index("trumpet")) else 0
    x = jnp.asarray(te.audio[i])
    grad = jax.grad(lambda x: model(x[None])[0, te.label[i]])(x)
    plt = _pyplot()
    t = np.arange(len(x)) / ds.sr
    fig, (a, b) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True)
    a.plot(t, np.asarray(x), lw=0.5)
    a.set_title(f"{ds.classes[te.label[i]]}, MIDI {int(te.pitch[i])} (a held-out pitch)")
    b.plot(t, np.abs(np.asarray(grad)), lw=0.5, color="C3")
    b.set_title("saliency |d logit / d audio| through the scattering layer")
    b.set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(out / "saliency.png", dpi=110)
    print(f"wrote {out / 'saliency.png'} and {out / 'curves.png'}; {r.steps} steps in {r.seconds:.0f} s")


if __name__ == "__main__":
    main()
