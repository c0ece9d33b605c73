"""A transform slow enough to be interrupted: many small matrix products per note (about
0.1 s per batch of 4), so that a test can stop `jaxmusic features` in the middle of a run.
``--transform slow_transform:slow`` with this folder on ``PYTHONPATH``."""

import jax
import jax.numpy as jnp
import numpy as np

_M = jnp.asarray(np.random.default_rng(0).standard_normal((32, 32)) / 8, jnp.float32)


def slow(x):
    """One note (32 samples) -> 8 features, after 150000 small products."""
    y = jax.lax.fori_loop(0, 150000, lambda i, v: jnp.tanh(_M @ v + x), x)
    return y[:8]
