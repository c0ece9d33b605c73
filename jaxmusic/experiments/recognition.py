"""The instrument-recognition table: MFCC vs time / joint / spiral scattering vs ConvNets.

`run_recognition` loads a data set with several sources (the two built-in
soundfonts, folders of class folders, NSynth), cuts it into folds (leave one
source out, held-out pitches, or a random stratified split), and scores

- every representation (`jaxmusic.experiments.representations`: log-compressed,
  time-averaged MFCC, time, joint and spiral scattering) with every classifier
  (`jaxmusic.classical`: scikit-learn's standardised logistic regression, SVC,
  k-NN, random forests; and ``"mlp"``, a Flax MLP trained by `jaxmusic.train`);
- every ConvNet of Lostanlen & Cella (ISMIR 2016) on the A-weighted,
  log-compressed CQT (`jaxmusic.models.InstrumentConvNet`), trained by
  `jaxmusic.train.fit` with early stopping and Orbax checkpoints.

Metric: error = 1 - mean per-class recall (percent, the ISMIR 2016 metric),
with accuracy and per-class recall beside it, averaged over folds and seeds.
Everything lands in ``out``: ``results.json``, ``results.md``, one confusion
figure per pipeline, training curves per network, the cached features. Each
pipeline x fold x seed is written to ``out/parts`` when it is done, so running
the same call again skips finished work, and an interrupted training resumes
from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .._checks import ParameterError, check_choice, check_int
from .._files import Interrupted, Legacy, as_run_dir, read_json, write_json, write_text

__all__ = ["run_recognition", "NETWORKS", "SEED_RESULTS", "load_recognition_data", "make_folds",
           "format_table", "source_separability"]

#: The ConvNets of the table: name -> branches of `InstrumentConvNet`.
NETWORKS = {
    "convnet:spiral": ("spiral",),
    "convnet:1-d": ("1-d",),
    "convnet:2-d": ("2-d",),
    "convnet:spiral+1-d": ("spiral", "1-d"),
    "convnet:spiral+2-d": ("spiral", "2-d"),
    "convnet:1-d+2-d": ("1-d", "2-d"),
    "convnet:spiral+1-d+2-d": ("spiral", "1-d", "2-d"),
}

#: The seed's numbers (error, percent) on *its* data (MedleyDB -> solosDB), for
#: comparison only. ConvNet rows are Lostanlen & Cella's (ISMIR 2016) as printed;
#: scattering rows are from Lostanlen's thesis on the same task.
SEED_RESULTS = [
    ("MFCC", "random forest (ISMIR 2016 baseline)", 38.6, "Lostanlen & Cella 2016"),
    ("CQT", "1-d ConvNet", 38.2, "Lostanlen & Cella 2016"),
    ("CQT", "spiral ConvNet", 40.1, "Lostanlen & Cella 2016"),
    ("CQT", "2-d ConvNet (as printed; its per-class cells average 28.3)", 30.9, "Lostanlen & Cella 2016"),
    ("CQT", "spiral + 2-d ConvNet (as printed)", 28.3, "Lostanlen & Cella 2016"),
    ("CQT", "spiral + 1-d + 2-d ConvNet", 26.0, "Lostanlen & Cella 2016"),
    ("time scattering", "SVM", 32.0, "Lostanlen, PhD thesis"),
    ("joint time-frequency scattering", "SVM", 22.0, "Lostanlen, PhD thesis"),
    ("spiral scattering", "SVM", 19.9, "Lostanlen, PhD thesis"),
]

_CLASSICAL = ("logreg", "svc", "knn", "rf10", "rf100")

#: Keys of the distorted guitar whose recordings differ between TimGM6mb and Merlin.
GM8_SHARED_FREE_GUITAR = (40, 74)

#: What ``quick=True`` changes: fewer notes, classifiers and networks, shorter training.
QUICK = dict(pitch_step=4, velocities=(64, 110), networks=("convnet:spiral", "convnet:1-d", "convnet:spiral+1-d"),
             classifiers=("logreg", "svc", "knn", "rf10", "rf100"), steps=300, eval_every=25, patience=6,
             cv_folds=0)  # quick: the held-out score only, without the inner cross-validation (5/6 of a row's time)
FULL = dict(pitch_step=2, velocities=(50, 75, 100), networks=tuple(NETWORKS),
            classifiers=_CLASSICAL + ("mlp",), steps=2000, eval_every=50, patience=8, cv_folds=5)


# ------------------------------------------------------------------ data and folds
def load_recognition_data(*, data="gm8", train=None, test=None, nsynth=None, families=None, sr=16000,
                          duration=None, skip_bad_files=False, quick=False):
    """The data set of a recognition run and the sources held out by an explicit split.

    Parameters
    ----------
    data : "gm8" or sequence of folders
        ``"gm8"``: both built-in soundfonts (two sources). Folders: one source each,
        each a folder of class folders (`jaxmusic.data.load_sources`).
    train, test : sequence of folders, optional
        An explicit cross-collection split (overrides ``data``).
    nsynth : folder, optional
        NSynth's layout (overrides ``data``); its sources are acoustic/electronic/synthetic.
        Not every family has every source (brass, organ and string have no synthetic
        notes): for a leave-one-source-out test pick ``families`` that do.
    families : sequence of str, optional
        NSynth families to keep (default all).
    sr : int
    duration : float, optional
        Seconds per note for folders (default the longest file).
    skip_bad_files : bool
        Skip unreadable files with a warning naming them (default: raise).
    quick : bool
        A smaller built-in grid (every 4th semitone, two velocities).

    Returns
    -------
    (Dataset, list of str or None)
        The notes, and the test sources of an explicit split.
    """
    from .. import data as jdata

    on_error = "skip" if skip_bad_files else "raise"
    if train is not None or test is not None:
        if not train or not test:
            raise ParameterError("an explicit split needs both train folders and test folders")
        train, test = [str(d) for d in train], [str(d) for d in test]
        both = set(map(lambda d: str(Path(d).resolve()), train)) & set(map(lambda d: str(Path(d).resolve()), test))
        if both:
            raise ParameterError(f"folders {sorted(both)} are both train and test folders")
        ds = jdata.load_sources(list(train) + list(test), sr=sr, duration=duration, on_error=on_error)
        sources = list(dict.fromkeys(ds.source.tolist()))
        return ds, sources[len(train):]
    if nsynth is not None:
        ds = jdata.load_nsynth(nsynth, sr=sr, duration=duration, families=families, on_error=on_error)
        return ds, None
    if isinstance(data, str):
        if data != "gm8":
            raise ParameterError(f"data must be 'gm8' or a list of folders, got {data!r}")
        grid = QUICK if quick else FULL
        # above key 74 TimGM6mb's distortion guitar and Merlin's overdrive guitar play the same two
        # samples; a cross-source test on those keys would measure nothing, so they are left out
        return jdata.gm8_sources(sr=sr, pitch_step=grid["pitch_step"], velocities=grid["velocities"],
                                 ranges={"distorted guitar": GM8_SHARED_FREE_GUITAR}), None
    dirs = [str(d).removeprefix("folder:") for d in data]  # `jaxmusic features` spells a folder folder:DIR too
    if not dirs:
        raise ParameterError("data names no folders")
    if len(dirs) == 1 and dirs[0].startswith("nsynth:"):
        return jdata.load_nsynth(dirs[0][len("nsynth:"):], sr=sr, duration=duration, families=families,
                                 on_error=on_error), None
    return jdata.load_sources(dirs, sr=sr, duration=duration, on_error=on_error), None


def make_folds(dataset, *, split="source", seeds=1, test_sources=None, test_fraction=0.25):
    """Train/test folds: ``[(name, train_rows, test_rows), ...]``.

    - ``test_sources`` given: one fold, those sources against the rest.
    - ``"source"``: leave one source out, each source in turn (needs two or more).
    - ``"pitch"``: ``seeds`` folds, each holding out a random quarter of the pitches.
    - ``"random"``: ``seeds`` stratified random folds (easy: neighbouring notes share samples).
    """
    from ..data import split_by_pitch, stratified_split

    split = check_choice("split", split, ("source", "pitch", "random"))
    seeds = check_int("seeds", seeds, min=1)
    sources = list(dict.fromkeys(dataset.source.tolist()))
    if test_sources is not None:
        test = np.isin(dataset.source, test_sources)
        return [("test=" + "+".join(test_sources), np.flatnonzero(~test), np.flatnonzero(test))]
    if split == "source":
        if len(sources) < 2:
            pitched = bool(np.isfinite(np.asarray(dataset.pitch, float)).all())
            other = "pitch" if pitched else "random"
            raise ParameterError(f"a leave-one-source-out split needs two or more sources; the data have one "
                                 f"({sources[0]!r}). Pass several folders (one source each), or use --split {other} "
                                 f"(split={other!r} in Python)"
                                 + ("" if pitched else "; --split pitch needs the notes' pitches, which folders of "
                                                       "files do not give"))
        return [(f"test={s}", np.flatnonzero(dataset.source != s), np.flatnonzero(dataset.source == s))
                for s in sources]
    folds = []
    for seed in range(seeds):
        if split == "pitch":
            tr, te = split_by_pitch(dataset, test_fraction=test_fraction, seed=seed, return_indices=True)
        else:
            tr, te = stratified_split(dataset, test_fraction=test_fraction, seed=seed, return_indices=True)
        folds.append((f"{split}-{seed}", tr, te))
    return folds


def _check_folds(dataset, folds, minimum, why):
    for name, tr, te in folds:
        counts = np.bincount(dataset.label[tr], minlength=len(dataset.classes))
        few = {dataset.classes[c]: int(k) for c, k in enumerate(counts) if k < minimum}
        if few:
            raise ParameterError(f"fold {name}: classes with fewer training notes than the {minimum} {why}: {few}")
        absent = [dataset.classes[c] for c in range(len(dataset.classes)) if not np.any(dataset.label[te] == c)]
        if absent:
            raise ParameterError(f"fold {name}: the test notes hold no {absent}")


def _validation_rows(labels, rows, *, fraction=0.15, seed=0):
    """Hold out a stratified ``fraction`` of ``rows`` for early stopping."""
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels[rows]):
        r = rows[labels[rows] == c]
        k = min(max(1, int(round(fraction * len(r)))), len(r) - 1)
        val.append(rng.choice(r, size=k, replace=False))
    val = np.sort(np.concatenate(val))
    return np.setdiff1d(rows, val), val


# ------------------------------------------------------------------ bookkeeping
#: A run folder written before folder markers existed.
_LEGACY = Legacy("run.json", names=("features", "parts", "confusion", "checkpoints", "curves", "results.json",
                                    "results.md", "results.png", "diagnostics.json", "results.md.tmp"))


def _slug(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)


def _aggregate(parts: list, classes) -> dict:
    by_fold = {}
    for p in parts:
        by_fold.setdefault(p["fold"], []).append(p)
    fold_err = {f: float(np.mean([p["error"] for p in ps])) for f, ps in by_fold.items()}
    seed_err = {}
    for p in parts:
        seed_err.setdefault(p["seed"], []).append(p["error"])
    per_seed = [float(np.mean(v)) for v in seed_err.values()]
    recall = np.nanmean(np.array([p["per_class_recall"] for p in parts], dtype=float), axis=0)
    conf = np.sum([np.asarray(p["confusion"]) for p in parts], axis=0)
    return {
        "error": float(np.mean([p["error"] for p in parts])),
        "error_std_over_seeds": float(np.std(per_seed)) if len(per_seed) > 1 else 0.0,
        "errors": fold_err,
        "accuracy": float(np.mean([p["accuracy"] for p in parts])),
        "per_class_recall": {c: (None if math.isnan(r) else float(r)) for c, r in zip(classes, recall)},
        "confusion": conf.tolist(),
        "seconds": float(np.sum([p["seconds"] for p in parts])),
        "runs": len(parts),
    }


def format_table(rows: list, *, title: str = "", partial: str | None = None) -> str:
    """``results.md``: our rows (error, spread, accuracy, per fold) and the seed's numbers, labelled;
    ``partial`` (what is missing) marks an unfinished run at the top."""
    lines = [f"# {title}" if title else "# Instrument recognition", ""]
    if partial:
        lines += [f"**PARTIAL RESULTS: {partial}. Rerun the same command to complete the table.**", ""]
    lines += ["Error = 1 - mean per-class recall (%, the ISMIR 2016 metric), mean over folds and seeds.", "",
             "| features | model | error (%) | ± seeds | accuracy (%) | per fold | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["error"]):
        folds = ", ".join(f"{k}: {v:.1f}" for k, v in r["errors"].items())
        lines.append(f"| {r['features']} | {r['model']} | {r['error']:.1f} | {r['error_std_over_seeds']:.1f} "
                     f"| {r['accuracy']:.1f} | {folds} | {r['seconds']:.0f} |")
    feats = list(dict.fromkeys(r["features"] for r in rows if r["model"] not in NETWORKS))
    models = list(dict.fromkeys(r["model"] for r in rows if r["model"] not in NETWORKS))
    if feats and models:
        cell = {(r["features"], r["model"]): r["error"] for r in rows}
        lines += ["", "Error (%) by representation and classifier:", "",
                  "| | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
        lines += [f"| {f} | " + " | ".join(f"{cell[f, m]:.1f}" if (f, m) in cell else "" for m in models) + " |"
                  for f in feats]
    lines += ["", "## The seed's numbers, on the seed's data (MedleyDB training, solosDB test), not ours", "",
              "| features | model | error (%) | from |", "|---|---|---|---|"]
    lines += [f"| {f} | {m} | {e:.1f} | {src} |" for f, m, e, src in SEED_RESULTS]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the pipelines
def _run_classical(X, y, tr, te, *, classifier, n_classes, seed, folds_cv):
    from ..classical import evaluate

    return evaluate(X[tr], y[tr], X[te], y[te], classifier=classifier, n_classes=n_classes, seed=seed,
                    folds=folds_cv)


def _fit_network(model, X, y, tr, te, *, seed, grid, ckpt, curves, progress, desc, batch_size, logdir=None):
    from ..train import evaluate, fit

    fit_rows, val_rows = _validation_rows(y, tr, seed=seed)
    t0 = time.perf_counter()
    r = fit(model, X[fit_rows], y[fit_rows], val=(X[val_rows], y[val_rows]), steps=grid["steps"],
            eval_every=grid["eval_every"], patience=grid["patience"], seed=seed, batch_size=batch_size,
            checkpoint_dir=ckpt, out=curves, progress=progress, desc=desc, logdir=logdir)
    e = evaluate(model, X[te], y[te], batch_size=batch_size)
    e.update(seconds=time.perf_counter() - t0, steps=r.steps, best_step=r.best_step, steps_run=r.steps_run)
    return e


def source_separability(X, source, *, folds: int = 5) -> float:
    """How well a representation tells the *sources* (collections) apart: error in percent.

    Standardised logistic regression predicting each note's source from its
    features, ``KFold(folds, shuffle=True, random_state=5)``, error = 1 - mean
    per-source recall. Low values mean the representation carries the collection's
    signature (its samples, room, equalisation), which a cross-source test then
    penalises; chance is ``100 * (1 - 1 / n_sources)``.

    Parameters
    ----------
    X : (n, d) or (n, d, ...) array
        Features; axes after the second (the CQT's frames) are averaged over.
    source : (n,) array of str

    Returns
    -------
    float
    """
    from sklearn.model_selection import KFold, cross_val_score

    from ..classical import make_classifier

    X = np.asarray(X, np.float32)
    X = X.mean(axis=tuple(range(2, X.ndim))) if X.ndim > 2 else X
    _, y = np.unique(np.asarray(source), return_inverse=True)
    scores = cross_val_score(make_classifier("logreg"), X, y, scoring="balanced_accuracy",
                             cv=KFold(folds, shuffle=True, random_state=5))
    return float(100 * (1 - np.mean(scores)))


def _standardize(X, tr):
    """Standardise per feature (per CQT bin) with the training rows' statistics only, never the test set's."""
    from ..models import Standardizer

    return np.asarray(Standardizer.fit(X[tr])(X), np.float32)


def _run_mlp(X, y, tr, te, *, n_classes, seed, grid, out, key, progress, batch_size, logdir=None):
    from flax import nnx

    from ..models import MLP

    Xs = _standardize(X, tr)
    model = MLP(in_features=Xs.shape[1], hidden=(128,), n_classes=n_classes, dropout=0.3, rngs=nnx.Rngs(seed))
    return _fit_network(model, Xs, y, tr, te, seed=seed, grid=grid, ckpt=out / "checkpoints" / key,
                        curves=out / "curves" / key, progress=progress, desc=key, batch_size=batch_size,
                        logdir=None if logdir is None else logdir / key)


def _run_network(X, y, tr, te, *, model, n_classes, seed, grid, out, key, progress, batch_size, logdir=None):
    from flax import nnx

    from ..models import InstrumentConvNet

    Xs = _standardize(X, tr)  # per-bin statistics of the training notes
    net = InstrumentConvNet(branches=NETWORKS[model], n_classes=n_classes, n_bins=Xs.shape[1],
                            n_frames=Xs.shape[2], rngs=nnx.Rngs(seed))
    return _fit_network(net, Xs, y, tr, te, seed=seed, grid=grid, ckpt=out / "checkpoints" / key,
                        curves=out / "curves" / key, progress=progress, desc=key, batch_size=batch_size,
                        logdir=None if logdir is None else logdir / key)


def _convnet_inputs(ds, folder, *, progress):
    """The ConvNets' input for every note (A-weighted log CQT, gm8 preset), cached like the features."""
    from ..extract import extract
    from ..models import convnet_transform

    # the gm8 preset (55 Hz, 96 bins, 128 frames), its hop scaled to the notes' length
    transform = convnet_transform(sr=ds.sr, n_samples=ds.n_samples)
    return np.asarray(extract(ds, transform, out=folder, progress=progress, desc="cqt"))


def run_recognition(
    out="runs/recognition",
    *,
    data="gm8",
    train=None,
    test=None,
    nsynth=None,
    families=None,
    split: str = "source",
    features: Sequence[str] | None = None,
    classifiers: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    seeds: int = 1,
    quick: bool = False,
    skip_bad_files: bool = False,
    sr: int = 16000,
    duration: float | None = None,
    batch_size: int = 32,
    steps: int | None = None,
    progress: bool = True,
    verbose: bool = True,
    force: bool = False,
    logdir=None,
) -> dict:
    """Run the instrument-recognition comparison and write its table.

    Parameters
    ----------
    out : str or path-like
        Output folder; rerunning with the same folder resumes (and says how much
        was done). It is jaxmusic's (marker ``.jaxmusic.json``): an existing folder
        jaxmusic did not write is refused unless ``force``. Until every pipeline
        has run, ``results.md`` says at its top that it is partial and
        ``results.json`` has ``complete: false``.
    data, train, test, nsynth, families, duration, skip_bad_files
        Where the notes come from (see `load_recognition_data`).
    split : {"source", "pitch", "random"}
        Folds (see `make_folds`); an explicit ``train``/``test`` overrides it.
    features : sequence of str, optional
        Representations for the classifiers (default all four; ``[]`` none).
    classifiers : sequence of str, optional
        Default: the five scikit-learn pipelines (plus ``"mlp"`` in a full run).
    models : sequence of str, optional
        Networks from `NETWORKS` (default all seven; three with ``quick``; ``[]`` none).
    seeds : int
        Seeds per pipeline (and folds per seed for ``split="pitch"``/``"random"``).
    quick : bool
        Fewer notes, networks and steps: the demo's setting (minutes on a 2-core CPU).
    sr : int
    batch_size : int
        Training batch (32, the paper's).
    steps : int, optional
        Most optimizer steps per network (default 2000; 300 with ``quick``); early
        stopping on a validation split of the training notes usually ends sooner.
    progress, verbose : bool
        Progress bars; printed lines.
    force : bool
        Write into an existing folder that jaxmusic did not write.
    logdir : str or path-like, optional
        TensorBoard log folder: one subfolder (a TensorBoard run) per network
        trained, named like its checkpoints (`jaxmusic.train.fit`'s ``logdir``).

    Returns
    -------
    dict
        The content of ``results.json``: ``rows`` (one per pipeline: ``features``,
        ``model``, ``error``, ``errors``, ``accuracy``, ``per_class_recall``,
        ``seconds``, ...), ``classes``, ``sources``, ``folds``, ``config``.
    """
    from ..experiments.representations import REPRESENTATIONS, note_features

    say = print if verbose else (lambda *a, **k: None)
    t_start = time.perf_counter()
    grid = dict(QUICK if quick else FULL)
    if steps is not None:
        grid["steps"] = check_int("steps", steps, min=1)
        grid["eval_every"] = min(grid["eval_every"], grid["steps"])
    seeds = check_int("seeds", seeds, min=1)
    split = check_choice("split", split, ("source", "pitch", "random"))
    features = list(REPRESENTATIONS if features is None else features)
    for f in features:
        check_choice("features", f, REPRESENTATIONS)
    classifiers = list(grid["classifiers"] if classifiers is None else classifiers)
    for c in classifiers:
        check_choice("classifiers", c, _CLASSICAL + ("mlp",))
    models = list(grid["networks"] if models is None else models)
    for m in models:
        check_choice("models", m, tuple(NETWORKS))
    if not (features and classifiers) and not models:
        raise ParameterError("nothing to run: no features x classifiers and no networks")
    inputs = [d for d in ([] if isinstance(data, str) and data.split(":")[0] == "gm8" else
                          [data] if isinstance(data, (str, Path)) else list(data or []))]
    inputs += list(train or []) + list(test or []) + ([nsynth] if nsynth is not None else [])
    out = as_run_dir(out, "recognition", force=force, legacy=_LEGACY, inputs=inputs)
    logdir = as_run_dir(logdir, "logs", force=force, inputs=inputs)

    ds, test_sources = load_recognition_data(data=data, train=train, test=test, nsynth=nsynth, families=families,
                                             sr=sr, duration=duration, skip_bad_files=skip_bad_files, quick=quick)
    if len(ds.classes) < 2:
        raise ParameterError(f"the data hold a single class ({ds.classes[0]!r}); recognition needs two or more")
    sources = list(dict.fromkeys(ds.source.tolist()))
    folds = make_folds(ds, split=split, seeds=seeds if split != "source" else 1, test_sources=test_sources)
    classical = [c for c in classifiers if c in _CLASSICAL] if features else []
    cv = classical and grid["cv_folds"] >= 2
    _check_folds(ds, folds, grid["cv_folds"] if cv else 2, "cross-validation folds" if cv else "notes a "
                 "classifier or a network needs (training and validation)")
    y = np.asarray(ds.label, np.int32)
    n_classes = len(ds.classes)
    say(f"data: {len(ds)} notes, {n_classes} classes, sources {sources}, {ds.n_samples} samples at {ds.sr} Hz; "
        f"folds: {[f[0] for f in folds]}")
    config = dict(data=str(data) if isinstance(data, str) else list(map(str, data)), train=train, test=test,
                  nsynth=None if nsynth is None else str(nsynth), split=split, seeds=seeds, quick=quick, sr=sr,
                  n_notes=len(ds), steps=grid["steps"], batch_size=batch_size)
    config = json.loads(json.dumps(config, default=str))
    # a finished part is reused only when the data and the protocol are the same
    from ..extract import fingerprint_dataset

    fold_hash = hashlib.sha256(b"".join(np.asarray(r, np.int64).tobytes() for f in folds for r in f[1:]))
    fingerprint = {"classes": list(ds.classes), "sources": sources, "n_notes": len(ds), "sr": ds.sr,
                   "n_samples": ds.n_samples, "data": fingerprint_dataset(ds), "folds": [f[0] for f in folds],
                   "fold_rows": fold_hash.hexdigest()[:16], "quick": quick, "batch_size": batch_size,
                   "steps": grid["steps"]}
    run_file = out / "run.json"
    if run_file.is_file():
        previous = read_json(run_file, what="this recognition run")
        if previous != fingerprint:
            differ = ", ".join(f"{k}: {previous.get(k)!r} there, {v!r} now" for k, v in fingerprint.items()
                               if previous.get(k) != v)
            raise ParameterError(f"{out} holds a recognition run on other data or another protocol ({differ}); "
                                 "use another --out")
    else:
        write_json(run_file, fingerprint)

    pipelines = [(f, c) for f in features for c in classifiers] + [("cqt", m) for m in models]
    rows = []
    feature_cache = {}

    timing_file = out / "features" / "timing.json"
    timings = read_json(timing_file, default={}) if timing_file.is_file() else {}

    def features_of(name):
        if name not in feature_cache:
            t0 = time.perf_counter()
            if name == "cqt":
                X = _convnet_inputs(ds, out / "features" / "cqt", progress=progress)
            else:
                X = np.asarray(note_features(ds, name, out=out / "features" / name, progress=progress))
            seconds = time.perf_counter() - t0
            if name not in timings:  # the run that computed them (a resumed run reads them from disk)
                timings[name] = {"shape": list(X.shape[1:]), "seconds": seconds, "notes_per_s": len(ds) / seconds}
                write_json(timing_file, timings)
            feature_cache[name] = X
        return feature_cache[name]

    explicit = split == "source" or test_sources is not None
    jobs = ([(fold, seed) for fold in folds for seed in range(seeds)] if explicit
            else [(fold, k) for k, fold in enumerate(folds)])
    part_files = {(feat, model, fold, seed): out / "parts" / f"{_slug(f'{feat}__{model}__{fold}__{seed}')}.json"
                  for feat, model in pipelines for (fold, _, _), seed in jobs}
    total, done = len(part_files), sum(p.is_file() for p in part_files.values())
    previous = read_json(out / "results.json", default={}) if (out / "results.json").is_file() else {}
    if done == total and previous.get("complete"):
        say(f"already complete: {total} of {total} pipeline runs in {out}")
    elif done:
        say(f"resuming: {done} of {total} pipeline runs already done in {out}")

    def partial_note():
        missing = total - sum(p.is_file() for p in part_files.values())
        return None if not missing else f"{total - missing} of {total} pipeline runs done, {missing} missing"

    try:
        for feat, model in pipelines:
            parts = []
            for (fold, tr, te), seed in jobs:
                key = _slug(f"{feat}__{model}__{fold}__{seed}")
                part_file = part_files[feat, model, fold, seed]
                done_part = read_json(part_file, default=None) if part_file.is_file() else None
                if isinstance(done_part, dict) and "error" in done_part:
                    parts.append(done_part)
                    continue
                X = features_of(feat)
                if model in NETWORKS:
                    r = _run_network(X, y, tr, te, model=model, n_classes=n_classes, seed=seed, grid=grid,
                                     out=out, key=key, progress=progress, batch_size=batch_size, logdir=logdir)
                elif model == "mlp":
                    r = _run_mlp(X, y, tr, te, n_classes=n_classes, seed=seed, grid=grid, out=out, key=key,
                                 progress=progress, batch_size=batch_size, logdir=logdir)
                else:
                    r = _run_classical(X, y, tr, te, classifier=model, n_classes=n_classes, seed=seed,
                                       folds_cv=grid["cv_folds"])
                r = {k: v for k, v in r.items() if k in ("error", "accuracy", "per_class_recall", "confusion",
                                                         "seconds", "cv_error_mean", "steps", "best_step",
                                                         "steps_run")}
                r.update(fold=fold, seed=seed, features=feat, model=model)
                write_json(part_file, r)
                parts.append(r)
                say(f"  {feat:>10} {model:<24} {fold:<18} seed {seed}: error {r['error']:5.1f} %  "
                    f"({r['seconds']:.1f} s)")
            row = dict(features=feat, model=model, **_aggregate(parts, ds.classes))
            rows.append(row)
            _figure_confusion(row, ds.classes, out / "confusion" / f"{_slug(feat + '-' + model)}.png")
            _write_results(out, rows, ds, sources, folds, config, timings, {}, partial=partial_note() or "the source diagnostics are missing")
        diagnostics = {}
        if len(sources) > 1:  # how much each representation says about the collection, not the instrument
            diag_file = out / "diagnostics.json"
            diagnostics = read_json(diag_file, default={}) if diag_file.is_file() else {}
            missing = [f for f in dict.fromkeys(f for f, _ in pipelines) if f not in diagnostics]
            if missing:
                say(f"source identifiability: a logistic regression telling the sources apart, for {', '.join(missing)}")
            for feat in missing:
                t0 = time.perf_counter()
                diagnostics[feat] = {"source_error": source_separability(features_of(feat), ds.source)}
                write_json(diag_file, diagnostics)
                say(f"  {feat:>10}: {diagnostics[feat]['source_error']:.1f} % ({time.perf_counter() - t0:.1f} s)")
            say("source identifiability (error of a logistic regression telling the sources apart; chance "
                f"{100 * (1 - 1 / len(sources)):.0f} %): "
                + ", ".join(f"{k} {v['source_error']:.1f} %" for k, v in diagnostics.items()))
    except KeyboardInterrupt as err:
        note = partial_note() or "every pipeline run done, the source diagnostics missing"
        _write_results(out, rows, ds, sources, folds, config, timings, {}, partial=note)
        detail = f" (in it: {err})" if isinstance(err, Interrupted) else ""
        raise Interrupted(f"recognition: interrupted{detail}; {note}, kept in {out} (results.md is marked "
                          "partial); rerun the same command to resume") from err
    result = _write_results(out, rows, ds, sources, folds, config, timings, diagnostics, partial=None)
    from ..plot import figure_recognition

    builtin = isinstance(data, str) and train is None and nsynth is None  # the seed's panel beside gm8 only
    figure_recognition(rows, out / "results.png", title=f"{', '.join(sources)}; split {split}",
                       seed_results=SEED_RESULTS if builtin else ())
    say("")
    say(format_table(rows, title="Instrument recognition (" + ", ".join(sources) + f"; split {split})"))
    say("feature extraction: " + ", ".join(f"{k} {v['notes_per_s']:.0f} notes/s" for k, v in timings.items()))
    say(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'results.png'} and figures in {out} "
        f"({time.perf_counter() - t_start:.0f} s)")
    return result


def _write_results(out, rows, ds, sources, folds, config, timings, diagnostics, *, partial=None):
    """``results.json`` and ``results.md``; ``partial`` (what is missing) marks an unfinished run."""
    result = {"complete": partial is None, "partial": partial, "rows": rows, "classes": list(ds.classes),
              "sources": sources, "folds": [{"name": f, "train": len(tr), "test": len(te)} for f, tr, te in folds],
              "config": config, "features": timings, "diagnostics": diagnostics}
    write_json(out / "results.json", result)
    write_text(out / "results.md", format_table(rows, title="Instrument recognition (" + ", ".join(sources)
                                                + f"; split {config['split']})", partial=partial))
    return result


def _figure_confusion(row, classes, path):
    from ..plot import figure_confusion

    figure_confusion(np.asarray(row["confusion"]), classes, path,
                     title=f"{row['features']} + {row['model']}: error {row['error']:.1f} %")
