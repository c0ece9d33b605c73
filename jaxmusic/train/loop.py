"""The training loop: class-balanced batches, Adam, early stopping, checkpoints, progress.

`fit` trains any Flax NNX classifier on host arrays ``(x, y)`` (features,
CQT images or raw audio for a model with a fixed front end) on a device mesh,
resuming from its checkpoint folder when one exists, and `evaluate` scores a
model on a labelled set with the ISMIR 2016 metric (error = 1 - mean per-class
recall) beside accuracy and per-class recall.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import sys
import time
from typing import Sequence

import jax
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from .._checks import JaxMusicError, ParameterError, check_int, check_real
from .._files import Interrupted, Legacy, as_run_dir, write_json
from .checkpoint import CheckpointError, Checkpointer, model_signature
from .logs import _learning_rate_reader, open_log
from .mesh import check_batch_size, make_mesh, replicate, shard_batch, to_host
from .sampling import BalancedSampler, ShuffleSampler
from .step import Steps, make_steps, to_local, zero_sums

__all__ = ["FitResult", "DivergedError", "fit", "minimize", "evaluate", "scores"]


@dataclasses.dataclass
class FitResult:
    """What `fit` returns.

    Attributes
    ----------
    model : nnx.Module
        The model passed in, updated in place with the best parameters (the
        last ones without a validation set), in eval mode.
    history : list of dict
        One entry per evaluation: ``step``, ``train_loss``, ``train_accuracy``,
        and with a validation set ``val_loss``, ``val_error``, ``val_accuracy``;
        ``learning_rate`` (the default Adam's, or the one an
        `optax.inject_hyperparams` optimizer exposes; absent otherwise);
        ``examples_per_s`` and ``seconds`` (wall clock, not reproducible).
    best_step : int or None
        Step of the best validation error.
    steps : int
        Optimizer steps taken (fewer than asked when stopped early).
    stopped_early : bool
    resumed_from : int or None
        Step of the checkpoint the run resumed from.
    seconds : float
        Wall time of this call.
    steps_run : int
        Optimizer steps executed by this call (``steps - resumed_from`` when it
        resumed: the steps before the checkpoint are not run again).
    batches_read : int
        Training batches read by this call (one per step run).
    placement : dict
        How the first training batch and the parameters were laid out on the
        mesh: ``devices`` (of the mesh), ``batch_shape`` (global),
        ``batch_devices`` (devices holding a part of the batch),
        ``local_shards`` (this process's shard shapes), ``params_replicated``
        (every parameter whole on every device). Empty when no step ran.
    """

    model: nnx.Module
    history: list
    best_step: int | None
    steps: int
    stopped_early: bool
    resumed_from: int | None
    seconds: float
    _: dataclasses.KW_ONLY
    steps_run: int = 0
    batches_read: int = 0
    placement: dict = dataclasses.field(default_factory=dict)


class DivergedError(JaxMusicError):
    """The training loss or the parameters became NaN or infinite: the run stopped
    there, keeping its last good checkpoint (the message names the step)."""


def scores(confusion) -> dict:
    """Error (percent, 1 - mean per-class recall), accuracy and per-class recall of a confusion matrix.

    Parameters
    ----------
    confusion : (n_classes, n_classes) array
        Rows: true class; columns: predicted class.

    Returns
    -------
    dict
        ``error`` and ``accuracy`` in percent; ``per_class_recall`` (NaN for a
        class absent from the set; the mean skips it).
    """
    c = np.asarray(confusion, dtype=np.float64)
    support = c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, np.diag(c) / support, np.nan)
    total = c.sum()
    return {
        "error": float(100.0 * (1.0 - np.nanmean(recall))) if np.any(support > 0) else float("nan"),
        "accuracy": float(100.0 * np.trace(c) / total) if total else float("nan"),
        "per_class_recall": [float(r) for r in recall],
    }


def _count_nonfinite(a, rows: int = 4096) -> int:
    """NaN/inf values in a host array, read in blocks of rows (a memory-mapped array is
    streamed, never loaded whole)."""
    n = int(a.shape[0]) if len(a.shape) else 1
    if not len(a.shape):
        return int(not np.isfinite(np.asarray(a)))
    return sum(int(np.count_nonzero(~np.isfinite(np.asarray(a[i:i + rows])))) for i in range(0, n, rows))


def _check_array(a, name: str, *, min_ndim: int = 1):
    """An array-like with a shape and a dtype (NumPy, memory-mapped, JAX), or a named error."""
    if a is None:
        raise ParameterError(f"{name} are required")
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        raise ParameterError(f"{name} must be an array (NumPy, memory-mapped or JAX) of shape (n, ...), got "
                             f"{type(a).__name__}; convert it with np.asarray")
    if len(a.shape) < min_ndim:
        raise ParameterError(f"{name} must have at least {min_ndim} axes (n, ...), got shape {tuple(a.shape)}")
    if np.dtype(a.dtype).kind == "c":
        raise ParameterError(f"{name} are complex ({a.dtype}); a model trains on real inputs: pass the magnitude, "
                             "or stack the real and imaginary parts on an axis")


def _check_xy(x, y, n_classes, what):
    _check_array(x, f"{what} inputs", min_ndim=2)
    _check_array(y, f"{what} labels")
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise ParameterError(f"{what}: {x.shape[0]} inputs but labels of shape {y.shape}")
    if x.shape[0] == 0:
        raise ParameterError(f"{what} is empty")
    if y.dtype.kind not in "iu":
        raise ParameterError(f"{what} labels must be integers, got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ParameterError(f"{what} labels must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    if np.dtype(x.dtype).kind != "f":
        raise ParameterError(f"{what} inputs must be floating point, got dtype {x.dtype}")
    bad = _count_nonfinite(x)
    if bad:
        raise ParameterError(f"{what} inputs hold {bad} NaN or infinite values")
    return y.astype(np.int32)


def _batches(x, y, batch_size, mesh):
    """Fixed-size batches over a whole set, the last padded with masked rows."""
    n = x.shape[0]
    for start in range(0, n, batch_size):
        def read(rows, start=start):
            idx = np.arange(start + rows.start, start + rows.stop)
            valid = idx < n
            idx = np.where(valid, idx, 0)
            return {"x": np.asarray(x[idx], np.float32), "y": _rows(y, idx), "mask": valid}
        yield shard_batch(read, batch_size, mesh)


def _evaluate_with(steps: Steps, state, x, y, batch_size, mesh) -> dict:
    conf = np.zeros((steps.n_classes, steps.n_classes))
    loss = count = 0.0
    for batch in _batches(x, y, batch_size, mesh):
        r = to_host(steps.evaluate(state, batch, steps.consts))
        conf += r["confusion"]
        loss += float(r["loss"])
        count += float(r["count"])
    out = scores(conf)
    out["loss"] = loss / max(count, 1.0)
    out["confusion"] = conf.astype(int).tolist()
    return out


def _output_classes(model, x, batch_size):
    """Number of logits the model gives for a batch shaped like ``x`` (shape check, no compute)."""
    graphdef, state = nnx.split(model)

    def apply(state, xb):
        return nnx.merge(graphdef, state)(xb)

    try:
        out = jax.eval_shape(apply, state, jax.ShapeDtypeStruct((batch_size,) + tuple(x.shape[1:]), np.float32))
    except Exception as err:
        raise ParameterError(f"the model does not accept inputs of shape (batch, {', '.join(map(str, x.shape[1:]))}): "
                             f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
    if len(out.shape) != 2:
        raise ParameterError(f"the model must map inputs to logits of shape (batch, n_classes), got {out.shape}")
    return int(out.shape[1])


def _check_setup(model, x, y, *, n_classes, batch_size, mesh, what):
    """The checks `fit` and `evaluate` share: the mesh (default all devices), a batch size
    that splits over it, the model's logits against ``n_classes``, inputs and labels.
    Returns ``(mesh, batch_size, n_classes, labels as int32)``."""
    _check_array(x, f"{what} inputs", min_ndim=2)
    mesh = make_mesh() if mesh is None else mesh
    batch_size = check_int("batch_size", batch_size, min=1)
    check_batch_size(batch_size, mesh)
    out_classes = _output_classes(model, x, batch_size)
    n_classes = out_classes if n_classes is None else check_int("n_classes", n_classes, min=2)
    if n_classes != out_classes:
        raise ParameterError(f"n_classes is {n_classes} but the model gives {out_classes} logits")
    return mesh, batch_size, n_classes, _check_xy(x, y, n_classes, what)


def evaluate(model: nnx.Module, x, y, *, n_classes: int | None = None, batch_size: int = 32,
             mesh=None) -> dict:
    """Score a classifier on a labelled set (eval mode: no dropout).

    Parameters
    ----------
    model : nnx.Module
        Maps ``(batch, ...)`` inputs to ``(batch, n_classes)`` logits.
    x : array (n, ...)
    y : array (n,) int
    n_classes : int, optional
        Default: the model's number of logits.
    batch_size : int
    mesh : jax.sharding.Mesh, optional
        Default: all devices.

    Returns
    -------
    dict
        ``error``, ``accuracy`` (percent), ``per_class_recall``, ``loss``, ``confusion``.
    """
    mesh, batch_size, n_classes, y = _check_setup(model, x, y, n_classes=n_classes, batch_size=batch_size,
                                                  mesh=mesh, what="evaluation set")
    steps = make_steps(model, optax.identity(), mesh=mesh, n_classes=n_classes)
    model.eval()
    return _evaluate_with(steps, steps.init(), x, y, batch_size, mesh)


def fit(
    model: nnx.Module,
    x,
    y,
    *,
    n_classes: int | None = None,
    val: Sequence | None = None,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    steps: int = 1000,
    eval_every: int | None = None,
    patience: int | None = None,
    seed: int = 0,
    checkpoint_dir=None,
    checkpoint_every: int | None = None,
    keep: int = 2,
    mesh=None,
    out=None,
    logdir=None,
    progress: bool = True,
    desc: str = "train",
    force: bool = False,
) -> FitResult:
    """Train a classifier with Optax on a device mesh, resumably.

    Every step draws a class-balanced batch (`BalancedSampler`, a pure function
    of ``seed`` and the step), splits it along the mesh's ``data`` axis and runs
    one jit-compiled step (cross-entropy, gradients, optimizer update). Every
    ``eval_every`` steps the running training loss and accuracy are recorded,
    with the validation error when ``val`` is given; with ``patience`` the run
    stops after that many evaluations without a better validation error and
    keeps the best parameters. With ``checkpoint_dir`` the whole state is saved
    every ``checkpoint_every`` steps (and at the end), and a later call with the
    same folder resumes from the newest checkpoint: it ends with bit-identical
    parameters to a run that was never interrupted.

    Parameters
    ----------
    model : nnx.Module
        Maps ``(batch, ...)`` inputs to ``(batch, n_classes)`` logits. Updated in place.
    x : array (n, ...)
        Training inputs, float (NumPy, or memory-mapped: only the rows of a
        batch are read, and only this process's share of them).
    y : array (n,) int
        Training labels in ``0..n_classes-1``.
    n_classes : int, optional
        Default: the model's number of logits (must agree when given).
    val : (x_val, y_val), optional
        Validation set for early stopping and the history.
    optimizer : optax.GradientTransformation, optional
        Default ``optax.adam(learning_rate)``.
    learning_rate : float
    batch_size : int
        Global batch (a multiple of the mesh's device count).
    steps : int
        Maximum optimizer steps.
    eval_every : int, optional
        Steps between evaluations; default one epoch (``ceil(n / batch_size)``).
    patience : int, optional
        Stop after this many evaluations without improvement (needs ``val``).
    seed : int
        Seeds the batch sampling (the model's own ``nnx.Rngs`` seed its
        initialisation and dropout).
    checkpoint_dir : str or path-like, optional
        Orbax checkpoint folder; resumed from when it holds a checkpoint.
    checkpoint_every : int, optional
        Steps between checkpoints; default ``eval_every``.
    keep : int
        Checkpoints kept.
    mesh : jax.sharding.Mesh, optional
        Default `make_mesh` (every device of every process).
    out : str or path-like, optional
        Folder for ``metrics.json`` (rewritten at every evaluation) and
        ``curves.png`` (at the end). Like ``checkpoint_dir`` it is jaxmusic's
        (a ``.jaxmusic.json`` marker says so): an existing folder jaxmusic did
        not write is refused unless ``force``.
    logdir : str or path-like, optional
        Folder for TensorBoard event files (`jaxmusic.train.logs`; no TensorFlow
        needed): every evaluation's entry of the history (losses, accuracy,
        validation error, ``examples_per_s``, ``learning_rate``) at its step.
        A jaxmusic folder of kind ``"logs"`` (or ``out`` itself); a run resumed
        from its checkpoint appends to it, each step once. Only process 0 writes.
    progress : bool
        Show a tqdm bar (loss, accuracy, examples/s) on process 0.
    desc : str
        Label of the progress bar.
    force : bool
        Write ``out`` and ``checkpoint_dir`` into existing folders jaxmusic did
        not write (their other files are kept).

    Returns
    -------
    FitResult

    Raises
    ------
    DivergedError
        The loss or the parameters became NaN or infinite: the run stops at
        that step without saving it (the last good checkpoint stays the
        newest) and the message names the step.
    jaxmusic.Interrupted
        Ctrl-C: the message names the last checkpoint, from which the same
        call resumes.

    Notes
    -----
    Inputs are checked for NaN and inf before training (memory-mapped inputs
    are streamed); values inside the compiled step cannot be checked, so a
    diverging run is caught by its loss and parameters instead.
    """
    t_start = time.perf_counter()
    steps_total = check_int("steps", steps, min=1)
    seed = check_int("seed", seed, min=0)
    mesh, batch_size, n_classes, y = _check_setup(model, x, y, n_classes=n_classes, batch_size=batch_size,
                                                  mesh=mesh, what="training set")
    if len(np.unique(y)) < 2:
        raise ParameterError(f"the training set holds a single class ({int(y[0])}); a classifier needs two or more")
    if val is not None:
        if len(val) != 2:
            raise ParameterError("val must be a pair (x_val, y_val)")
        x_val, y_val = val
        if tuple(x_val.shape[1:]) != tuple(x.shape[1:]):
            raise ParameterError(f"validation inputs have shape {tuple(x_val.shape)} and training inputs "
                                 f"{tuple(x.shape)}: the shapes after the first axis must agree")
        y_val = _check_xy(x_val, y_val, n_classes, "validation set")
    optimizer_given = optimizer
    patience, eval_every, checkpoint_every, optimizer, out = _schedule(
        x.shape[0], batch_size, val=val, patience=patience, eval_every=eval_every,
        checkpoint_every=checkpoint_every, optimizer=optimizer, learning_rate=learning_rate, out=out)
    steps_fn = make_steps(model, optimizer, mesh=mesh, n_classes=n_classes)
    labels_hash = hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest()[:16]

    def validate(state):
        v = _evaluate_with(steps_fn, state, x_val, y_val, batch_size, mesh)
        return v["error"], {"val_loss": v["loss"], "val_error": v["error"], "val_accuracy": v["accuracy"]}

    def postfix(entry):
        return {"loss": f"{entry['train_loss']:.3f}", "acc": f"{entry['train_accuracy']:.0f}%",
                **({"val_err": f"{entry['val_error']:.1f}%"} if "val_error" in entry else {})}

    return _run(model, steps_fn, x, y, BalancedSampler(y, batch_size=batch_size, seed=seed),
                validate=None if val is None else validate, postfix=postfix,
                run_config={"labels": labels_hash, "data": fingerprint(x), "n_val": None if val is None else int(x_val.shape[0]),
                            "val": None if val is None else fingerprint(x_val, y_val),
                            "learning_rate": learning_rate if optimizer_given is None else "optimizer"},
                seed=seed, batch_size=batch_size, steps_total=steps_total, eval_every=eval_every,
                checkpoint_every=checkpoint_every, patience=patience, checkpoint_dir=checkpoint_dir,
                keep=keep, mesh=mesh, out=out, progress=progress, desc=desc, t_start=t_start, force=force,
                logdir=logdir)


def _schedule(n, batch_size, *, val, patience, eval_every, checkpoint_every, optimizer, learning_rate, out):
    """The options `fit` and `minimize` share, checked and defaulted."""
    if patience is not None:
        patience = check_int("patience", patience, min=1)
        if val is None:
            raise ParameterError("patience (early stopping) needs a validation set: pass val=(x_val, y_val)")
    eval_every = math.ceil(n / batch_size) if eval_every is None else check_int("eval_every", eval_every, min=1)
    checkpoint_every = eval_every if checkpoint_every is None else check_int("checkpoint_every", checkpoint_every, min=1)
    if optimizer is None:
        learning_rate = check_real("learning_rate", learning_rate, min=0.0, strict_min=True)
        optimizer = optax.adam(learning_rate)
    elif not isinstance(optimizer, optax.GradientTransformation):
        raise ParameterError(f"optimizer must be an optax.GradientTransformation (e.g. optax.adam(1e-3)), "
                             f"got {type(optimizer).__name__}")
    return patience, eval_every, checkpoint_every, optimizer, out


_FULL_HASH_BYTES = 1 << 29  # hash every byte of inputs up to 512 MB (sha256: about 1 GB/s)


def fingerprint(*arrays) -> str:
    """A short hash of arrays' shapes and values (as float32 for floats), for the resume check.

    Arrays up to 512 MB in all are hashed whole, in chunks of rows (memory-mapped
    data is streamed, never loaded at once); larger ones by 256 rows spread
    evenly from the first to the last."""
    digest = hashlib.sha256()
    total = sum(int(np.prod(a.shape)) * 4 for a in arrays)
    for a in arrays:
        n = int(a.shape[0])
        digest.update(str(tuple(a.shape)).encode())
        rows = (range(0, n, 4096) if total <= _FULL_HASH_BYTES
                else np.unique(np.linspace(0, n - 1, min(n, 256)).astype(np.int64)))
        for r in rows:
            block = np.asarray(a[r:r + 4096] if total <= _FULL_HASH_BYTES else a[int(r):int(r) + 1])
            block = block.astype(np.float32) if block.dtype.kind == "f" else block.astype(np.int64)
            digest.update(np.ascontiguousarray(block).tobytes())
    return digest.hexdigest()[:16]


def _rows(a, sel):
    """Rows ``sel`` of a host array (NumPy or memory-mapped), floats as float32."""
    rows = np.asarray(a[sel])
    return rows.astype(np.float32) if rows.dtype.kind == "f" else rows


def _check_targets(model, x, y, *, batch_size, what):
    """Inputs and targets of `minimize`: same number of rows, finite, and the
    model's output for a batch of ``x`` shaped like a batch of ``y``."""
    for name, a in (("inputs", x), ("targets", y)):
        _check_array(a, f"{what} {name}")
        if np.dtype(a.dtype).kind not in "fiu":
            raise ParameterError(f"{what} {name} must be numeric, got dtype {a.dtype}")
        if np.dtype(a.dtype).kind == "f":
            bad = _count_nonfinite(a)
            if bad:
                raise ParameterError(f"{what} {name} hold {bad} NaN or infinite values")
    if x.shape[0] != y.shape[0]:
        raise ParameterError(f"{what}: {x.shape[0]} inputs but {y.shape[0]} targets")
    if x.shape[0] == 0:
        raise ParameterError(f"{what} is empty")
    graphdef, state = nnx.split(model)
    try:
        out = jax.eval_shape(lambda st, xb: nnx.merge(graphdef, st)(xb), state,
                             jax.ShapeDtypeStruct((batch_size,) + tuple(x.shape[1:]), np.float32))
    except Exception as err:
        raise ParameterError(f"the model does not accept inputs of shape (batch, {', '.join(map(str, x.shape[1:]))}): "
                             f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
    return tuple(out.shape)


def minimize(
    model: nnx.Module,
    x,
    y,
    *,
    loss=None,
    val: Sequence | None = None,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 1e-3,
    batch_size: int = 32,
    steps: int = 1000,
    eval_every: int | None = None,
    patience: int | None = None,
    seed: int = 0,
    checkpoint_dir=None,
    checkpoint_every: int | None = None,
    keep: int = 2,
    mesh=None,
    out=None,
    logdir=None,
    progress: bool = True,
    desc: str = "train",
    force: bool = False,
) -> FitResult:
    """Train any model to minimise ``loss(model(x), y)`` with Optax on a device mesh, resumably.

    `fit`'s loop for models that are not classifiers (autoencoders, regressions,
    sequence models): the same jit-compiled step split along the mesh's ``data``
    axis, early stopping on the validation loss, Orbax checkpoints that resume
    bit-identically, the tqdm bar, ``metrics.json`` and ``curves.png``. Batches
    are drawn by `ShuffleSampler` (every row once per epoch, in an order that is
    a pure function of ``seed`` and the epoch).

    Parameters
    ----------
    model : nnx.Module
        Maps ``(batch, ...)`` inputs to outputs. Updated in place.
    x : array (n, ...)
        Training inputs, float (NumPy or memory-mapped).
    y : array (n, ...)
        Training targets (float or integer), one row per input row.
    loss : callable, optional
        ``loss(outputs, targets, mask) -> scalar``, the mean over the rows where
        ``mask`` is True; default `mean_squared_error`.
    val : (x_val, y_val), optional
        Validation set: its loss chooses the kept parameters and stops early.
    optimizer, learning_rate, batch_size, steps, eval_every, patience, seed,
    checkpoint_dir, checkpoint_every, keep, mesh, out, logdir, progress, desc, force
        As in `fit`; a diverging run raises `DivergedError` as in `fit`.

    Returns
    -------
    FitResult
        Its history entries hold ``train_loss`` and, with ``val``, ``val_loss``
        (and ``learning_rate``, ``examples_per_s``, ``seconds`` as in `fit`).
    """
    t_start = time.perf_counter()
    steps_total = check_int("steps", steps, min=1)
    seed = check_int("seed", seed, min=0)
    mesh = make_mesh() if mesh is None else mesh
    batch_size = check_int("batch_size", batch_size, min=1)
    check_batch_size(batch_size, mesh)
    out_shape = _check_targets(model, x, y, batch_size=batch_size, what="training set")
    if out_shape[1:] != tuple(y.shape[1:]) and loss is None:
        raise ParameterError(f"the model's outputs have shape {out_shape} for a batch, the targets "
                             f"(batch, {', '.join(map(str, y.shape[1:]))}): pass a loss that compares them")
    if val is not None:
        if len(val) != 2:
            raise ParameterError("val must be a pair (x_val, y_val)")
        x_val, y_val = val
        _check_targets(model, x_val, y_val, batch_size=batch_size, what="validation set")
        if tuple(x_val.shape[1:]) != tuple(x.shape[1:]) or tuple(y_val.shape[1:]) != tuple(y.shape[1:]):
            raise ParameterError(f"the validation set's inputs {tuple(x_val.shape)} and targets {tuple(y_val.shape)} "
                                 f"must match the training set's {tuple(x.shape)} and {tuple(y.shape)} after the first axis")
    optimizer_given = optimizer
    patience, eval_every, checkpoint_every, optimizer, out = _schedule(
        x.shape[0], batch_size, val=val, patience=patience, eval_every=eval_every,
        checkpoint_every=checkpoint_every, optimizer=optimizer, learning_rate=learning_rate, out=out)
    steps_fn = make_steps(model, optimizer, mesh=mesh, n_classes=None, loss=loss)

    def validate(state):
        total = count = 0.0
        for batch in _batches(x_val, y_val, batch_size, mesh):
            r = to_host(steps_fn.evaluate(state, batch, steps_fn.consts))
            total += float(r["loss"])
            count += float(r["count"])
        value = total / max(count, 1.0)
        return value, {"val_loss": value}

    def postfix(entry):
        return {"loss": f"{entry['train_loss']:.4g}",
                **({"val": f"{entry['val_loss']:.4g}"} if "val_loss" in entry else {})}

    return _run(model, steps_fn, x, y, ShuffleSampler(x.shape[0], batch_size=batch_size, seed=seed),
                validate=None if val is None else validate, postfix=postfix,
                run_config={"data": fingerprint(x, y), "val": None if val is None else fingerprint(x_val, y_val),
                            "learning_rate": learning_rate if optimizer_given is None else "optimizer",
                            "loss": getattr(loss, "__name__", type(loss).__name__) if loss is not None else "mean_squared_error"},
                seed=seed, batch_size=batch_size, steps_total=steps_total, eval_every=eval_every,
                checkpoint_every=checkpoint_every, patience=patience, checkpoint_dir=checkpoint_dir,
                keep=keep, mesh=mesh, out=out, progress=progress, desc=desc, t_start=t_start, force=force,
                logdir=logdir)


#: A training folder (``out=``) written before folder markers existed.
_LEGACY = Legacy("metrics.json", names=("curves.png", "metrics.json.tmp"))


def _guarded(train, mesh):
    """``train`` with a divergence flag: ``bad`` becomes the first step whose loss sum or
    updated parameters are not finite (-1 while all are). Computed on the device, read
    on the host only at evaluations and checkpoints (no sync per step)."""
    import jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec

    def step(state, batch, sums, consts, bad):
        state, sums = train(state, batch, sums, consts)
        finite = jnp.isfinite(sums["loss"])
        for p in jax.tree.leaves(state.params):
            if jnp.issubdtype(p.dtype, jnp.inexact):
                finite &= jnp.all(jnp.isfinite(p))
        return state, sums, jnp.where((bad < 0) & ~finite, state.step, bad)

    return jax.jit(step, out_shardings=NamedSharding(mesh, PartitionSpec()))


def _placement(batch, state, mesh) -> dict:
    """How a batch and the parameters lie on the mesh (what `FitResult.placement` reports)."""
    x = batch["x"]
    params = [p for p in jax.tree.leaves(state.params) if isinstance(p, jax.Array)]
    return {"devices": int(mesh.size), "batch_shape": list(x.shape),
            "batch_devices": len(x.sharding.device_set),
            "local_shards": [list(sh.data.shape) for sh in x.addressable_shards],
            "params_replicated": all(p.sharding.is_fully_replicated and len(p.sharding.device_set) == mesh.size
                                     for p in params)}


def _run(model, steps_fn: Steps, x, y, sampler, *, validate, postfix, run_config, seed, batch_size,
         steps_total, eval_every, checkpoint_every, patience, checkpoint_dir, keep, mesh, out, progress,
         desc, t_start, force=False, logdir=None) -> FitResult:
    """The loop `fit` and `minimize` share: batches from ``sampler``, the compiled
    step, evaluations every ``eval_every`` steps (``validate(state) -> (score,
    entries)``, lower is better), early stopping, checkpoints and resumption,
    the progress bar, ``metrics.json`` and ``curves.png``, and with ``logdir`` the
    TensorBoard event files (`jaxmusic.train.logs`: each history entry at its step).

    A step whose loss or parameters are not finite stops the run (`DivergedError`)
    before anything of it is saved; Ctrl-C saves a checkpoint at the step reached
    (when the loop is between two whole steps) and raises `Interrupted` saying so."""
    classify = steps_fn.n_classes is not None
    main = jax.process_index() == 0
    out = as_run_dir(out, "training", force=force, writer=main, legacy=_LEGACY)
    log = open_log(logdir, out=out, force=force, writer=main)
    state = steps_fn.init()
    best_params = state.params
    sums = replicate(zero_sums(classify), mesh)
    history: list = []
    best_step, best_error, bad_evals, stopped = None, math.inf, 0, False
    resumed_from = None
    ckpt = None
    # what a resumed run must share with the run that wrote the checkpoint
    run_config = {
        "seed": seed, "batch_size": batch_size, "eval_every": eval_every, "patience": patience,
        "n_train": int(x.shape[0]), **run_config,
        "optimizer_state": str(jax.tree_util.tree_structure(state.opt_state)),
    }
    learning_rate = _learning_rate_reader(run_config.get("learning_rate"), state.opt_state)

    def same_run(record):
        saved = record.get("config", {})
        for k, v in run_config.items():
            if saved.get(k) != v:
                raise CheckpointError(
                    f"the checkpoint in {ckpt.directory} belongs to another run: its {k} is {saved.get(k)!r} "
                    f"and this run's is {v!r}. Resume with the same data and options, or use another "
                    "checkpoint folder")

    if checkpoint_dir is not None:
        ckpt = Checkpointer(checkpoint_dir, signature=model_signature(model), keep=keep, force=force)
        try:
            found = ckpt.restore_latest({"train": state, "best": best_params, "sums": sums}, check=same_run)
            if found is not None:
                resumed_from, restored, record = found
                state, best_params, sums = restored["train"], restored["best"], restored["sums"]
                history = record["history"]
                best_step, bad_evals, stopped = record["best_step"], record["bad_evals"], record["stopped"]
                best_error = math.inf if record["best_error"] is None else record["best_error"]
        except BaseException:
            ckpt.close()  # a refused or unreadable checkpoint leaves no manager open
            raise

    if resumed_from is not None and progress and main:
        done = resumed_from >= steps_total or stopped
        tqdm.write(f"{desc}: " + (f"already complete at step {resumed_from} ({ckpt.directory})" if done else
                                  f"resuming from the checkpoint of step {resumed_from} of {steps_total} "
                                  f"({ckpt.directory})"), file=sys.stderr)
    if log is not None:
        log.resume(history, resumed_from=resumed_from)  # the steps logged before, each once
    train_step = _guarded(steps_fn.train, mesh)
    bad = replicate(np.int32(-1), mesh)
    step = int(to_host(state.step))
    last_saved = resumed_from
    steps_run = batches_read = 0
    placement: dict = {}
    clean = True  # between two whole steps, outside an evaluation: a checkpoint may be taken
    bar = tqdm(total=steps_total, initial=step, desc=desc, unit="step", disable=not (progress and main),
               dynamic_ncols=True, leave=False)
    t_mark, step_mark = time.perf_counter(), step

    def write_metrics():
        if out is not None and main:
            write_json(out / "metrics.json", {"history": history, "best_step": best_step})

    def check_finite(b=None):
        b = int(to_host(bad)) if b is None else int(b)
        if b >= 0:
            write_metrics()
            where = (f"the last good checkpoint is step {last_saved} in {ckpt.directory}" if last_saved is not None
                     else "no checkpoint was saved before it")
            lr = run_config.get("learning_rate")
            raise DivergedError(
                f"{desc}: the training loss or the parameters became NaN or infinite at step {b} "
                f"(learning rate {lr}); the run stopped there and nothing of that step was saved: {where}. "
                "Lower the learning rate, check the inputs, or clip the gradients (an optax chain)")

    saving = False  # a checkpoint write in progress (a Ctrl-C there leaves Orbax's temporary folder only)

    def save():
        nonlocal last_saved, saving
        saving = True
        ckpt.save(step, {"train": state, "best": best_params, "sums": sums}, {
            "step": step, "history": history, "best_step": best_step, "bad_evals": bad_evals,
            "stopped": stopped, "best_error": None if math.isinf(best_error) else best_error,
            "config": run_config})
        saving = False
        last_saved = step

    try:
        while step < steps_total and not stopped:
            idx = sampler.indices(step)

            def read(rows, idx=idx):
                sel = idx[rows]
                return {"x": np.asarray(x[sel], np.float32), "y": _rows(y, sel), "mask": np.ones(len(sel), bool)}

            batch = shard_batch(read, batch_size, mesh)
            batches_read += 1
            if not placement:
                placement = _placement(batch, state, mesh)
            clean = False
            state, sums, bad = train_step(state, batch, sums, steps_fn.consts, bad)
            step += 1
            steps_run += 1
            clean = True
            bar.update(1)
            if step % eval_every == 0 or step == steps_total:
                clean = False
                s, b = to_host((sums, bad))
                check_finite(b)
                now = time.perf_counter()
                entry = {"step": step, "train_loss": float(s["loss"] / max(s["count"], 1))}
                if classify:
                    entry["train_accuracy"] = float(100 * s["correct"] / max(s["count"], 1))
                if validate is not None:
                    score, entries = validate(state)
                    if not math.isfinite(score):
                        write_metrics()
                        raise DivergedError(f"{desc}: the validation loss is {score} at step {step}; the run "
                                            f"stopped without saving that step (last checkpoint: {last_saved})")
                    entry.update(entries)
                    if score < best_error:
                        best_error, best_step, bad_evals = score, step, 0
                        best_params = jax.tree.map(lambda a: a.copy(), state.params)
                    else:
                        bad_evals += 1
                        stopped = patience is not None and bad_evals >= patience
                if learning_rate is not None:
                    entry["learning_rate"] = learning_rate(state.opt_state)
                entry["examples_per_s"] = (step - step_mark) * batch_size / max(now - t_mark, 1e-9)
                entry["seconds"] = now - t_start
                history.append(entry)
                if log is not None:
                    log.scalars(entry)
                    log.flush()
                t_mark, step_mark = now, step
                sums = replicate(zero_sums(classify), mesh)
                clean = True
                bar.set_postfix(**postfix(entry), ex_s=f"{entry['examples_per_s']:.0f}")
                write_metrics()
            if ckpt is not None and (step % checkpoint_every == 0 or step == steps_total or stopped):
                check_finite()
                save()
    except KeyboardInterrupt as err:
        kept = "no checkpoint folder was given, so nothing was kept"
        if ckpt is not None:
            if clean and not saving and jax.process_count() == 1 and step != last_saved and int(to_host(bad)) < 0:
                try:
                    step = int(to_host(state.step))
                    save()
                except (KeyboardInterrupt, JaxMusicError):
                    pass
            kept = (f"the last checkpoint is step {last_saved} in {ckpt.directory}; call again with the same "
                    "arguments (or rerun the same command) to resume" if last_saved is not None
                    else f"no checkpoint was complete yet in {ckpt.directory}")
        write_metrics()
        when = (f"at step {step} of {steps_total}" if step < steps_total else
                f"after its last step ({steps_total}), {'while' if saving else 'before'} its checkpoint was written")
        raise Interrupted(f"{desc}: interrupted {when}; {kept}") from err
    finally:
        bar.close()
        if ckpt is not None:
            ckpt.close()
        if log is not None:
            log.close()

    final = best_params if (validate is not None and best_step is not None) else state.params
    nnx.update(model, to_local(final), to_local(state.mutable))
    model.eval()
    if out is not None and main:
        write_metrics()
        if history:
            from ..plot import figure_training_curves

            figure_training_curves(history, out / "curves.png", title=desc, best_step=best_step)
    return FitResult(model=model, history=history, best_step=best_step, steps=step, stopped_early=stopped,
                     resumed_from=resumed_from, seconds=time.perf_counter() - t_start, steps_run=steps_run,
                     batches_read=batches_read, placement=placement)
