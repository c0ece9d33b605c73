"""One jit-compiled train step (loss, gradients, Optax update) and one eval step.

A Flax NNX model is split once into a static graph definition and its state:
``params`` (every `nnx.Param`), ``mutable`` (its `nnx.RngState`, dropout keys and
counters, and `nnx.BatchStat`, batch statistics: what a forward pass updates)
and ``consts`` (every other variable, such as the fixed filters of a scattering
front end: neither trained nor checkpointed, passed to the compiled steps as
arguments, not baked into them). The steps are pure functions of these pytrees,
so they compile once, shard by annotation and checkpoint as plain arrays:

    steps = make_steps(model, optax.adam(1e-3), mesh=mesh)
    state = steps.init()                          # TrainState, replicated on the mesh
    sums = replicate(zero_sums(), mesh)           # placed like the state: one compilation
    state, sums = steps.train(state, batch, sums, steps.consts)  # batch: x, y, mask, split along "data"
    counts = steps.evaluate(state, batch, steps.consts)          # confusion counts, loss sum

Two kinds of task share these steps. A classifier (``n_classes`` given) maps
inputs to logits; its loss is softmax cross-entropy over integer labels, and its
running sums count correct rows. Any other model (``n_classes=None``: an
autoencoder, a regression, a generative model) maps inputs to outputs compared
with targets ``y`` by ``loss(outputs, y, mask)`` (default `mean_squared_error`);
its sums hold the loss alone. Either loss is averaged over the rows whose
``mask`` is True (padding rows of a partial batch are ignored).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from .mesh import DATA_AXIS, replicate

__all__ = ["TrainState", "Steps", "make_steps", "cross_entropy", "mean_squared_error", "zero_sums"]


class TrainState(NamedTuple):
    """What a train step carries: a pytree of arrays (checkpointed as it is)."""

    step: jax.Array       #: int32 scalar, optimizer steps taken
    params: Any           #: nnx.State of the model's Params
    opt_state: Any        #: the Optax state
    mutable: Any          #: nnx.State of its RngState and BatchStat (dropout keys, counters, batch statistics)


def cross_entropy(logits, labels, mask):
    """Mean softmax cross-entropy over the rows where ``mask`` is True.

    Parameters
    ----------
    logits : (batch, n_classes) float
    labels : (batch,) int
    mask : (batch,) bool

    Returns
    -------
    scalar float
    """
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    weight = mask.astype(losses.dtype)
    return jnp.sum(losses * weight) / jnp.maximum(jnp.sum(weight), 1.0)


def mean_squared_error(outputs, targets, mask):
    """Mean over the rows where ``mask`` is True of each row's mean squared error.

    Parameters
    ----------
    outputs, targets : (batch, ...) float
    mask : (batch,) bool

    Returns
    -------
    scalar float
    """
    err = jnp.square(outputs.astype(jnp.float32) - targets.astype(jnp.float32))
    per_row = jnp.mean(err.reshape(err.shape[0], -1), axis=1)
    weight = mask.astype(per_row.dtype)
    return jnp.sum(per_row * weight) / jnp.maximum(jnp.sum(weight), 1.0)


def zero_sums(classify: bool = True):
    """Running sums a train step adds to: loss x rows, rows, and correct rows for a classifier."""
    zero = jnp.zeros((), jnp.float32)
    return {"loss": zero, "correct": zero, "count": zero} if classify else {"loss": zero, "count": zero}


class Steps(NamedTuple):
    """The compiled functions of one model and optimizer on one mesh."""

    init: Callable          #: () -> TrainState, from the model's current values
    train: Callable         #: jitted (TrainState, batch, sums, consts) -> (TrainState, sums)
    evaluate: Callable      #: jitted (TrainState, batch, consts) -> {"confusion": (C, C) (classifiers), "loss", "count"}
    logits: Callable        #: jitted (TrainState, x, consts) -> the model's outputs in eval mode (logits of a classifier)
    consts: Any             #: the model's other variables (fixed filters), replicated: the steps' last argument
    n_classes: int | None   #: None for a model that is not a classifier


MUTABLE = (nnx.RngState, nnx.BatchStat)  #: variables a forward pass updates, carried by the state


def _split(model):
    graphdef, params, mutable, consts = nnx.split(model, nnx.Param, MUTABLE, ...)
    return graphdef, params, mutable, consts


def make_steps(model: nnx.Module, optimizer: optax.GradientTransformation, *, mesh,
               n_classes: int | None, loss: Callable | None = None) -> Steps:
    """Compile the train and eval steps of ``model`` with ``optimizer`` on ``mesh``.

    Parameters
    ----------
    model : nnx.Module
        Maps a batch of inputs ``(batch, ...)`` to logits ``(batch, n_classes)``
        (a classifier) or to outputs of any shape compared with the batch's
        targets; its `train`/`eval` modes switch dropout on and off.
    optimizer : optax.GradientTransformation
    mesh : jax.sharding.Mesh
        Batches split along ``"data"``; parameters, optimizer state and RNG
        state replicated.
    n_classes : int or None
        Number of classes of a classifier; None for any other model.
    loss : callable, optional
        ``loss(outputs, y, mask) -> scalar`` mean over the masked rows; default
        `cross_entropy` for a classifier, `mean_squared_error` otherwise.

    Returns
    -------
    Steps
    """
    classify = n_classes is not None
    loss = (cross_entropy if classify else mean_squared_error) if loss is None else loss
    model.train()
    graph_train, _, _, consts = _split(model)
    model.eval()
    graph_eval = _split(model)[0]
    model.train()
    repl = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    consts = replicate(consts, mesh)

    def init():
        _, p, m, _ = _split(model)
        state = TrainState(step=jnp.zeros((), jnp.int32), params=p, opt_state=optimizer.init(p), mutable=m)
        return replicate(state, mesh)

    def train(state: TrainState, batch, sums, consts):
        def objective(params, mutable):
            # fresh Variables at this trace level, so that dropout may advance its counters
            mutable = jax.tree.map(lambda a: a, mutable)
            m = nnx.merge(graph_train, params, mutable, consts)
            logits = m(batch["x"])
            return loss(logits, batch["y"], batch["mask"]), (logits, _split(m)[2])

        (value, (logits, mutable)), grads = jax.value_and_grad(objective, has_aux=True)(state.params, state.mutable)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        weight = batch["mask"].astype(jnp.float32)
        new = {"loss": sums["loss"] + value * jnp.sum(weight), "count": sums["count"] + jnp.sum(weight)}
        if classify:
            right = (jnp.argmax(logits, axis=-1) == batch["y"]).astype(jnp.float32) * weight
            new["correct"] = sums["correct"] + jnp.sum(right)
        sums = new
        return TrainState(state.step + 1, params, opt_state, mutable), sums

    def logits_fn(state, x, consts):
        mutable = jax.tree.map(lambda a: a, state.mutable)
        return nnx.merge(graph_eval, state.params, mutable, consts)(x)

    def evaluate(state, batch, consts):
        logits = logits_fn(state, batch["x"], consts)
        weight = batch["mask"].astype(jnp.float32)
        if not classify:
            return {"loss": loss(logits, batch["y"], batch["mask"]) * jnp.sum(weight), "count": jnp.sum(weight)}
        pred = jax.nn.one_hot(jnp.argmax(logits, axis=-1), n_classes, dtype=jnp.float32)
        true = jax.nn.one_hot(batch["y"], n_classes, dtype=jnp.float32) * weight[:, None]
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])
        return {"confusion": true.T @ pred, "loss": jnp.sum(losses * weight), "count": jnp.sum(weight)}

    return Steps(
        init=init,
        train=jax.jit(train, out_shardings=(repl, repl)),
        evaluate=jax.jit(evaluate, out_shardings=repl),
        logits=jax.jit(logits_fn, out_shardings=split),
        consts=consts,
        n_classes=int(n_classes) if classify else None,
    )


def to_local(tree):
    """Replicated arrays as single-device arrays of this process (for use outside the mesh)."""

    def get(x):
        if isinstance(x, jax.Array):
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                data = get(jax.random.key_data(x))
                return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
            if len(x.sharding.device_set) > 1:
                return jnp.asarray(np.asarray(x.addressable_data(0)))
        return x

    return jax.tree.map(get, tree)
