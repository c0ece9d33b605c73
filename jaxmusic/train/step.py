"""One jit-compiled train step (loss, gradients, Optax update) and one eval step.

A Flax NNX model is split once into a static graph definition and its state:
``params`` (every `nnx.Param`), ``rngs`` (its `nnx.RngState`: dropout keys and
counters) and ``consts`` (every other variable, such as the fixed filters of a
scattering front end, which are neither trained nor checkpointed). The steps
are pure functions of these pytrees, so they compile once, shard by
annotation and checkpoint as plain arrays:

    steps = make_steps(model, optax.adam(1e-3), mesh=mesh)
    state = steps.init()                          # TrainState, replicated on the mesh
    sums = replicate(zero_sums(), mesh)           # placed like the state: one compilation
    state, sums = steps.train(state, batch, sums) # batch: x, y, mask, split along "data"
    counts = steps.evaluate(state.params, batch)  # confusion counts, loss sum

Loss: softmax cross-entropy over integer labels, averaged over the rows whose
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

__all__ = ["TrainState", "Steps", "make_steps", "cross_entropy", "zero_sums"]


class TrainState(NamedTuple):
    """What a train step carries: a pytree of arrays (checkpointed as it is)."""

    step: jax.Array       #: int32 scalar, optimizer steps taken
    params: Any           #: nnx.State of the model's Params
    opt_state: Any        #: the Optax state
    rngs: Any             #: nnx.State of the model's RngState (dropout keys, counters)


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


def zero_sums():
    """Running sums a train step adds to: loss x rows, correct rows, rows."""
    return {"loss": jnp.zeros((), jnp.float32), "correct": jnp.zeros((), jnp.float32),
            "count": jnp.zeros((), jnp.float32)}


class Steps(NamedTuple):
    """The compiled functions of one model and optimizer on one mesh."""

    init: Callable          #: () -> TrainState, from the model's current values
    train: Callable         #: (TrainState, batch, sums) -> (TrainState, sums)
    evaluate: Callable      #: (params, batch) -> {"confusion": (C, C), "loss": scalar, "count": scalar}
    logits: Callable        #: (params, x) -> (batch, C) logits in eval mode
    merge: Callable         #: (params, rngs) -> the model (eval mode) holding those values
    n_classes: int


def _split(model):
    graphdef, params, rngs, consts = nnx.split(model, nnx.Param, nnx.RngState, ...)
    return graphdef, params, rngs, consts


def make_steps(model: nnx.Module, optimizer: optax.GradientTransformation, *, mesh,
               n_classes: int, loss: Callable = cross_entropy) -> Steps:
    """Compile the train and eval steps of ``model`` with ``optimizer`` on ``mesh``.

    Parameters
    ----------
    model : nnx.Module
        Maps a batch of inputs ``(batch, ...)`` to logits ``(batch, n_classes)``;
        its `train`/`eval` modes switch dropout on and off.
    optimizer : optax.GradientTransformation
    mesh : jax.sharding.Mesh
        Batches split along ``"data"``; parameters, optimizer state and RNG
        state replicated.
    n_classes : int
    loss : callable
        ``loss(logits, labels, mask) -> scalar``; default `cross_entropy`.

    Returns
    -------
    Steps
    """
    model.train()
    graph_train, params, rngs, consts = _split(model)
    model.eval()
    graph_eval = _split(model)[0]
    model.train()
    repl = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    consts = replicate(consts, mesh)

    def init():
        g, p, r, _ = _split(model)
        state = TrainState(step=jnp.zeros((), jnp.int32), params=p, opt_state=optimizer.init(p), rngs=r)
        return replicate(state, mesh)

    def train(state: TrainState, batch, sums):
        def objective(params, rngs_state):
            # fresh Variables at this trace level, so that dropout may advance its counters
            rngs_state = jax.tree.map(lambda a: a, rngs_state)
            m = nnx.merge(graph_train, params, rngs_state, consts)
            logits = m(batch["x"])
            _, _, new_rngs, _ = _split(m)
            return loss(logits, batch["y"], batch["mask"]), (logits, new_rngs)

        (value, (logits, new_rngs)), grads = jax.value_and_grad(objective, has_aux=True)(state.params, state.rngs)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        weight = batch["mask"].astype(jnp.float32)
        right = (jnp.argmax(logits, axis=-1) == batch["y"]).astype(jnp.float32) * weight
        sums = {"loss": sums["loss"] + value * jnp.sum(weight), "correct": sums["correct"] + jnp.sum(right),
                "count": sums["count"] + jnp.sum(weight)}
        return TrainState(state.step + 1, params, opt_state, new_rngs), sums

    def logits_fn(params, x):
        return nnx.merge(graph_eval, params, rngs, consts)(x)

    def evaluate(params, batch):
        logits = logits_fn(params, batch["x"])
        weight = batch["mask"].astype(jnp.float32)
        pred = jax.nn.one_hot(jnp.argmax(logits, axis=-1), n_classes, dtype=jnp.float32)
        true = jax.nn.one_hot(batch["y"], n_classes, dtype=jnp.float32) * weight[:, None]
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"])
        return {"confusion": true.T @ pred, "loss": jnp.sum(losses * weight), "count": jnp.sum(weight)}

    def merge(params, rngs_state):
        m = nnx.merge(graph_eval, to_local(params), to_local(rngs_state), to_local(consts))
        return m

    return Steps(
        init=init,
        train=jax.jit(train, out_shardings=(repl, repl)),
        evaluate=jax.jit(evaluate, out_shardings=repl),
        logits=jax.jit(logits_fn, out_shardings=split),
        merge=merge,
        n_classes=int(n_classes),
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
