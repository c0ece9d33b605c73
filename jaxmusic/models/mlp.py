"""A multilayer perceptron classifier on feature vectors (MFCC statistics, scattering, ...)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
from flax import nnx

from .._checks import ParameterError, check_int, check_real

__all__ = ["MLP"]


class MLP(nnx.Module):
    """Dense layers ``in_features -> hidden... -> n_classes``.

    Each hidden layer is dense, ``activation``, then dropout (when ``dropout > 0``);
    the last layer is dense with no activation (logits).

    Parameters
    ----------
    in_features : int, keyword-only
        Width of the input vectors.
    hidden : sequence of int, keyword-only
        Widths of the hidden layers (default ``(256,)``; ``()`` is logistic regression).
    n_classes : int, keyword-only
        Number of output logits.
    dropout : float in [0, 1), keyword-only
        Dropout rate after each hidden activation (default 0). Active in train
        mode (the default), off after ``model.eval()``.
    activation : callable, keyword-only
        Hidden activation (default ``jax.nn.relu``).
    rngs : nnx.Rngs, keyword-only
        Initialisation (and dropout) keys.

    Examples
    --------
    >>> mlp = MLP(in_features=40, hidden=(128, 64), n_classes=8, rngs=nnx.Rngs(0))
    >>> mlp(x).shape                    # x: (batch, 40)
    (batch, 8)
    """

    def __init__(
        self,
        *,
        in_features: int,
        hidden: Sequence[int] = (256,),
        n_classes: int,
        dropout: float = 0.0,
        activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
        rngs: nnx.Rngs,
    ):
        self.in_features = check_int("in_features", in_features, min=1)
        self.n_classes = check_int("n_classes", n_classes, min=1)
        if isinstance(hidden, (int, str)) or not hasattr(hidden, "__iter__"):
            raise ParameterError(f"hidden must be a sequence of layer widths, e.g. (256,), got {hidden!r}")
        self.hidden = tuple(check_int(f"hidden[{i}]", h, min=1) for i, h in enumerate(hidden))
        rate = check_real("dropout", dropout, min=0.0)
        if rate >= 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {dropout}")
        if not callable(activation):
            raise ParameterError(f"activation must be callable, got {activation!r}")
        self.activation = activation
        widths = (self.in_features,) + self.hidden
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
        self.dropout = nnx.Dropout(rate, rngs=rngs) if rate > 0 else None
        self.out = nnx.Linear(widths[-1], self.n_classes, rngs=rngs)

    def __call__(self, x: Any) -> jax.Array:
        """Class logits.

        Parameters
        ----------
        x : array, shape (..., in_features), floating point

        Returns
        -------
        jax.Array, shape (..., n_classes)
        """
        shape = getattr(x, "shape", None)
        if shape is None or len(shape) < 1 or shape[-1] != self.in_features:
            raise ParameterError(
                f"x must have shape (..., {self.in_features}), got "
                f"{tuple(shape) if shape is not None else type(x).__name__}"
            )
        h = x
        for layer in self.layers:
            h = self.activation(layer(h))
            if self.dropout is not None:
                h = self.dropout(h)
        return self.out(h)
