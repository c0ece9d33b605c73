r"""Linearization: how a trained MLP makes classes linearly separable, layer by layer.

The seed's claim (course notes, 5.3): the projections and non-linearities of a
multilayer perceptron *linearize* the feature space, so that classes a straight
boundary cannot separate at the input become separable at the deeper layers.

`linearization` measures it: it trains a `jaxmusic.models.MLP` with
`jaxmusic.train.fit` on a training share of the points, reads every layer's
activations (the standardized input, each hidden layer after its non-linearity,
the logits) for all the points, and measures each layer's **linear separability**:
the balanced accuracy (mean per-class recall, the project's metric) of a
scikit-learn logistic regression, standardized, cross-validated over 5 stratified
folds. Two numbers per layer:

* ``separability``: cross-validated over all the points (those the network was
  trained on and the held-out ones) - how linear the layer has made the data set;
* ``separability_held_out``: the logistic regression fit on the training points'
  activations and scored on the held-out points' - whether the linearization
  holds for points the network has not seen (a network can make its training
  set separable by memorizing it).

Each layer's activations are also projected on their first 2 and 3 principal
components (scikit-learn PCA) for the figures: one 2-d panel per layer, and
optionally a row of 3-d panels.

`run_linearization` runs it on real features where the input is far from linearly
separable: the time-averaged MFCC 1 to 3 (spectral slope and curvature; c0, the
loudness, left out) of the piano, the female singer and the flute of
`jaxmusic.data.gm8`, every semitone of their ranges. A straight boundary fails
there because each class is a curved path through the MFCC space as its pitch
moves: measured with scikit-learn's own MLP, cross-validated balanced accuracy
0.63 (logistic regression) against 0.95 (MLP 64-32) on TimGM6mb's notes, 0.58
against 0.92 with Merlin's too. Whole-note MFCC statistics (all 40 numbers) are
not a test of the claim: any two or three gm8 classes are separable by a logistic
regression at 0.96 to 1.0, and the MLP adds nothing.

Measured with `run_linearization` (seeds 0 to 3; ranges over the seeds), balanced
accuracy of the linear probe, cross-validated over all notes / on held-out notes:

==========  ===========================  ===========================
layer       TimGM6mb, 157 notes (quick)  + Merlin, 314 notes
==========  ===========================  ===========================
input       0.64-0.67 / 0.50-0.70        0.58-0.59 / 0.55-0.60
hidden 1    0.94-0.98 / 0.88-0.99        0.84-0.87 / 0.85-0.88
hidden 2    0.97-0.99 / 0.89-0.99        0.94-0.96 / 0.87-0.92
logits      0.98-1.00 / 0.94-0.99        0.94-0.97 / 0.87-0.91
MLP error   0 % train, 1.5-3 % held out  0.7-2 % train, 8-11 % held out
==========  ===========================  ===========================

So the claim holds here: separability grows with depth through the hidden
layers, on held-out notes too, though less (the network partly memorizes its
training notes, more so with two soundfonts, whose samples of an instrument
differ); the logits add little over the last hidden layer, and on held-out notes
are sometimes a point or two below it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import jax
import numpy as np

from .._checks import ParameterError, check_int, check_real
from .._files import as_run_dir, claim_dir, write_json

__all__ = ["Linearization", "linearization", "layer_activations", "linear_separability",
           "figure_linearization", "run_linearization", "CLASSES"]

#: The gm8 classes of `run_linearization` (hard to separate linearly by their mean MFCC 1-3).
CLASSES = ("piano", "female singer", "flute")


class Linearization(NamedTuple):
    """What `linearization` returns.

    Attributes
    ----------
    layers : tuple of str
        ``"input"``, ``"hidden 1"``, ..., ``"logits"``.
    activations : tuple of ndarray, each (n, width)
        Every point's activations, layer by layer (the input standardized with the
        training points' mean and standard deviation, as the network sees it).
    pca2, pca3 : tuple of ndarray, each (n, 2) and (n, 3)
        Activations on their first 2 / 3 principal components (zero-padded where a
        layer has fewer units).
    separability : tuple of float
        Per layer, a logistic regression's balanced accuracy cross-validated over
        all the points (5 stratified folds), in [0, 1].
    separability_held_out : tuple of float
        Per layer, a logistic regression fit on the training points' activations,
        its balanced accuracy on the held-out points'.
    held_out : ndarray, shape (n,), bool
        The points the network was not trained on.
    mlp_error : dict
        The network's own error (percent, 1 - mean per-class recall) on the
        ``"train"`` and ``"held_out"`` points (`jaxmusic.train.evaluate`).
    history : list of dict
        `jaxmusic.train.fit`'s history.
    model : jaxmusic.models.MLP
        The trained network.
    """

    layers: tuple
    activations: tuple
    pca2: tuple
    pca3: tuple
    separability: tuple
    separability_held_out: tuple
    held_out: np.ndarray
    mlp_error: dict
    history: list
    model: Any


def layer_activations(model, x) -> list:
    """Every layer's output of a `jaxmusic.models.MLP`, input first, logits last.

    Parameters
    ----------
    model : jaxmusic.models.MLP
        In eval mode for deterministic outputs (dropout is applied as the model's
        mode says).
    x : array, shape (n, in_features)

    Returns
    -------
    list of ndarray
        ``[x, h_1, ..., h_L, logits]``: shapes (n, in_features), (n, hidden[i])...,
        (n, n_classes); ``h_i`` after the activation (and dropout).
    """
    import jax.numpy as jnp

    h = jnp.asarray(x, jnp.float32)
    outs = [np.asarray(h)]
    for layer in model.layers:
        h = model.activation(layer(h))
        if model.dropout is not None:
            h = model.dropout(h)
        outs.append(np.asarray(h))
    outs.append(np.asarray(model.out(h)))
    return outs


def linear_separability(features, labels, *, folds: int = 5, seed: int = 0,
                        test: Sequence | None = None) -> float:
    """How linearly separable labelled points are: a logistic regression's balanced accuracy.

    Standardized features, scikit-learn's ``LogisticRegression(max_iter=5000)``;
    balanced accuracy = mean per-class recall.

    Parameters
    ----------
    features : array, shape (n, d)
    labels : array, shape (n,)
    folds : int, keyword-only
        Stratified cross-validation folds (default 5; at most the smallest class's size).
    seed : int, keyword-only
        Shuffles the folds.
    test : (features_test, labels_test), optional, keyword-only
        Instead of cross-validating, fit on ``features`` and score on these.

    Returns
    -------
    float in [0, 1]
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if test is not None:
        clf.fit(X, y)
        return float(balanced_accuracy_score(test[1], clf.predict(np.asarray(test[0], dtype=np.float64))))
    smallest = int(np.bincount(np.unique(y, return_inverse=True)[1]).min())
    k = min(check_int("folds", folds, min=2), smallest)
    if k < 2:
        raise ParameterError(f"cross-validation needs two points of every class, the smallest class has {smallest}")
    cv = StratifiedKFold(k, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, X, y, cv=cv, scoring="balanced_accuracy").mean())


def _pca(a: np.ndarray, n: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    m = min(n, a.shape[1], a.shape[0])
    p = PCA(m).fit_transform(a) if np.ptp(a, axis=0).max() > 0 else np.zeros((len(a), m))
    return np.pad(p, ((0, 0), (0, n - m)))


def linearization(
    key: jax.Array,
    features: Any,
    labels: Any,
    *,
    hidden: Sequence[int] = (64, 32),
    steps: int = 2000,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    test_fraction: float = 0.25,
    class_names: Sequence[str] | None = None,
    three_d: bool = True,
    out=None,
    progress: bool = False,
) -> Linearization:
    """Train an MLP on labelled points and measure each layer's linear separability.

    See the module docstring for the protocol.

    Parameters
    ----------
    key : jax.Array
        PRNG key: the network's initialisation, the held-out split and the batches.
    features : array, shape (n, d), real
        Points (feature vectors); standardized with the training points' statistics.
    labels : array, shape (n,), int
        Classes (two or three for the figures to read well; any number of two or
        more works), each with at least 5 points.
    hidden : sequence of int, keyword-only
        Hidden layer widths (default (64, 32)); ReLU activations.
    steps : int, keyword-only
        Optimizer steps of `jaxmusic.train.fit` (Adam, class-balanced batches).
    learning_rate, batch_size : keyword-only
        Of `jaxmusic.train.fit` (defaults 1e-3, 32).
    test_fraction : float in (0, 1), keyword-only
        Share of each class held out from training (default 0.25).
    class_names : sequence of str, optional, keyword-only
        For the figures' legends.
    three_d : bool, keyword-only
        Also write the 3-d figure (default True).
    out : str or path-like, optional, keyword-only
        Folder for ``linearization.png`` (a row of 2-d PCA panels, one per layer)
        and ``linearization_3d.png``.
    progress : bool, keyword-only
        Show the training progress bar.

    Returns
    -------
    Linearization

    Raises
    ------
    ParameterError
        ``features`` not 2-d real or not finite, ``labels`` of another length, not
        integers, with one class, or a class of fewer than 5 points; bad
        ``hidden``, ``steps``, ``test_fraction``.
    """
    from flax import nnx
    from sklearn.model_selection import train_test_split

    from ..models.mlp import MLP
    from ..train import evaluate, fit

    X = np.asarray(features)
    y = np.asarray(labels)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ParameterError(f"features must be a non-empty 2-d array (n, d), got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise ParameterError(f"features must be real numbers, got dtype {X.dtype}")
    X = X.astype(np.float64)
    if not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise ParameterError(f"features hold NaN or inf in {bad.size} points (rows {bad[:10].tolist()}"
                             f"{'...' if bad.size > 10 else ''})")
    if y.shape != (X.shape[0],):
        raise ParameterError(f"labels must have shape ({X.shape[0]},) like the features' points, got {y.shape}")
    if y.dtype.kind not in "iu":
        raise ParameterError(f"labels must be integers 0..n_classes-1, got dtype {y.dtype}")
    classes, y = np.unique(y, return_inverse=True)
    counts = np.bincount(y)
    if len(classes) < 2:
        raise ParameterError(f"labels hold a single class ({classes[0]}); linear separability needs two or more")
    if counts.min() < 5:
        raise ParameterError(f"every class needs at least 5 points (to hold some out and cross-validate); "
                             f"class {classes[counts.argmin()]} has {counts.min()}")
    test_fraction = check_real("test_fraction", test_fraction, min=0.0, strict_min=True)
    if test_fraction >= 1.0:
        raise ParameterError(f"test_fraction must be in (0, 1), got {test_fraction}")
    steps = check_int("steps", steps, min=1)
    names = [str(c) for c in classes] if class_names is None else [str(class_names[int(c)]) for c in classes]

    k_init, k_split, k_fit = jax.random.split(key, 3)
    split_seed = int(jax.random.randint(k_split, (), 0, 2**31 - 1))
    fit_seed = int(jax.random.randint(k_fit, (), 0, 2**31 - 1))
    idx = np.arange(len(y))
    train, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=split_seed)
    held_out = np.zeros(len(y), bool)
    held_out[test] = True
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    Z = ((X - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)

    model = MLP(in_features=Z.shape[1], hidden=hidden, n_classes=len(classes), rngs=nnx.Rngs(k_init))
    result = fit(model, Z[train], y[train].astype(np.int32), steps=steps, learning_rate=learning_rate,
                 batch_size=batch_size, seed=fit_seed, progress=progress, desc="linearization")
    model = result.model
    model.eval()
    errors = {"train": evaluate(model, Z[train], y[train].astype(np.int32))["error"],
              "held_out": evaluate(model, Z[test], y[test].astype(np.int32))["error"]}
    acts = layer_activations(model, Z)
    layers = ("input",) + tuple(f"hidden {i + 1}" for i in range(len(model.hidden))) + ("logits",)
    sep, sep_out = [], []
    for a in acts:
        sep.append(linear_separability(a, y, seed=split_seed % 2**31))
        sep_out.append(linear_separability(a[train], y[train], test=(a[test], y[test])))
    res = Linearization(layers=layers, activations=tuple(acts), pca2=tuple(_pca(a, 2) for a in acts),
                        pca3=tuple(_pca(a, 3) for a in acts), separability=tuple(sep),
                        separability_held_out=tuple(sep_out), held_out=held_out, mlp_error=errors,
                        history=result.history, model=model)
    if out is not None:
        out = as_run_dir(out, "experiment-linearization")
        figure_linearization(res, y, out / "linearization.png", class_names=names)
        if three_d:
            figure_linearization(res, y, out / "linearization_3d.png", class_names=names, three_d=True)
    return res


def figure_linearization(result: Linearization, labels, path, *, class_names=None, three_d: bool = False,
                         title: str = "") -> Path:
    """One panel per layer: the points on their first principal components, by class.

    Parameters
    ----------
    result : Linearization
    labels : array, shape (n,) int
        Class of each point, ``0..n_classes-1``.
    path : str or path-like (PNG)
    class_names : sequence of str, optional, keyword-only
    three_d : bool, keyword-only
        3-d panels (``pca3``) instead of 2-d ones (``pca2``).
    title : str, keyword-only

    Returns
    -------
    Path
    """
    from ..plot import _pyplot, _save

    plt = _pyplot()
    y = np.asarray(labels)
    n = len(result.layers)
    names = class_names or [str(c) for c in np.unique(y)]
    fig = plt.figure(figsize=(3.6 * n, 3.9))
    for i, layer in enumerate(result.layers):
        P = (result.pca3 if three_d else result.pca2)[i]
        ax = fig.add_subplot(1, n, i + 1, projection="3d" if three_d else None)
        for c in np.unique(y):
            for out, marker in ((False, "o"), (True, "x")):
                m = (y == c) & (result.held_out == out)
                if not m.any():
                    continue
                pts = (P[m, 0], P[m, 1]) + ((P[m, 2],) if three_d else ())
                ax.scatter(*pts, s=12 if out else 9, marker=marker, color=f"C{int(c)}", alpha=0.8,
                           label=names[int(c)] if not out else None, linewidths=0.8)
        width = result.activations[i].shape[1]
        ax.set_title(f"{layer} ({width} units)\nlinear separability {result.separability[i]:.2f}, "
                     f"held out {result.separability_held_out[i]:.2f}", fontsize=8)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(title or "MLP layers on their principal components (o: training points, x: held out); "
                 "separability: logistic regression's balanced accuracy", fontsize=9)
    return _save(fig, path)


def run_linearization(out="runs/linearization", *, quick: bool = False, seed: int = 0,
                      verbose: bool = True, force: bool = False) -> dict:
    """The seed's linearization claim on real features: gm8's piano, female singer and flute.

    Features: the time-averaged MFCC 1-3 (`jaxmusic.experiments.representations.note_features`,
    ``"mfcc"``: the means of coefficients 1 to 3) of `CLASSES` from `jaxmusic.data.gm8`,
    every semitone of their ranges at velocity 75, 1 s at 16 kHz: TimGM6mb's 157
    notes with ``quick`` (1500 steps), otherwise TimGM6mb's and Merlin's (314 notes,
    3000 steps; TimGM6mb's alone without Merlin's soundfont). `linearization` with
    hidden layers (64, 32). Writes ``linearization.png``, ``linearization_3d.png``
    and ``linearization.json`` to ``out``.

    Parameters
    ----------
    out : str or path-like
    quick : bool, keyword-only
    seed : int, keyword-only
        Seeds the PRNG key.
    verbose : bool, keyword-only

    Returns
    -------
    dict
        The summary written to ``linearization.json``: separability per layer (all
        points cross-validated, and held out), the network's error.
    """
    from .representations import builtin_notes, note_features

    say = print if verbose else (lambda *a, **k: None)
    t0 = time.perf_counter()
    out = claim_dir(out, "experiment-linearization", force=force)
    ds = builtin_notes(both=not quick, say=say, sr=16000, duration=1.0, velocities=(75,), pitch_step=1, classes=CLASSES)
    F = note_features(ds, "mfcc", progress=False)[:, 1:4]
    steps = 1500 if quick else 3000
    r = linearization(jax.random.key(seed), F, np.asarray(ds.label), hidden=(64, 32), steps=steps,
                      class_names=ds.classes, out=out)
    summary = {
        "notes": len(ds), "classes": list(ds.classes),
        "sources": sorted({str(s) for s in np.unique(ds.source)}),
        "features": "time-averaged MFCC 1-3", "hidden": [64, 32], "steps": steps,
        "layers": list(r.layers),
        "separability": dict(zip(r.layers, r.separability)),
        "separability_held_out": dict(zip(r.layers, r.separability_held_out)),
        "mlp_error_percent": r.mlp_error,
        "seconds": time.perf_counter() - t0,
    }
    write_json(out / "linearization.json", summary)
    say(f"{len(ds)} notes ({', '.join(ds.classes)}), mean MFCC 1-3; linear separability by layer "
        "(cross-validated / held out):")
    for name, a, b in zip(r.layers, r.separability, r.separability_held_out):
        say(f"  {name:10s} {a:.3f} / {b:.3f}")
    say(f"MLP error: {r.mlp_error['train']:.1f}% train, {r.mlp_error['held_out']:.1f}% held out; "
        f"wrote {out / 'linearization.png'} ({summary['seconds']:.1f} s)")
    return summary
