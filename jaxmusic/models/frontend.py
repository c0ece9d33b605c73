r"""A fixed jaxmusic transform as the first layer of a learned classifier.

``ScatteringClassifier(S, n_classes=8, rngs=nnx.Rngs(0))`` computes

.. math::

    z = \frac{1}{T'}\sum_t \log\!\Big(1 + \frac{|S x(\cdot, t)|}{\epsilon}\Big), \qquad
    \mathrm{logits} = \mathrm{MLP}\big((z - \mu) / \sigma\big)

for any transform ``S`` that is a pytree and maps audio ``(batch, n_samples)`` to
``(batch, *paths, frames)``: `jaxmusic.Scattering1D`,
`jaxmusic.TimeFrequencyScattering`, `jaxmusic.SpiralScattering`,
`jaxmusic.features.CQT` (complex; its modulus is taken). ``log1p(|Sx| / eps)``
equals ``log(eps + |Sx|) - log(eps)``: the usual log compression of scattering
coefficients, shifted to be zero on silence; ``eps`` is where it turns from linear
to logarithmic. The modulus matters only for order 0 (a low-pass of the signal
itself, which can be negative); higher orders are moduli already. ``mu`` and
``sigma`` are optional fixed statistics (`Standardizer`) fitted on the training
set's features.

The transform is a constant of the model, not a parameter: its array leaves are
wrapped in `Fixed`, an ``nnx.Variable`` that is not an ``nnx.Param``. So
``nnx.state(model, nnx.Param)`` holds only the classifier, ``nnx.grad`` and
``nnx.Optimizer(model, tx, wrt=nnx.Param)`` never see the filters, and ``nnx.jit``
passes them as arguments (not as constants folded into the program). The leaves
also go through ``lax.stop_gradient``, so even a gradient taken with respect to
every variable is zero for them. Gradients with respect to the input audio flow
through the transform (saliency maps).

For training on cached features, ``precomputed=True`` builds the same classifier
taking the output of `scattering_features` instead of audio; its classifier state
can be moved into an audio model with ``nnx.update(model.classifier,
nnx.state(cached.classifier))``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from .._checks import ParameterError, check_int, check_real
from .input import Standardizer
from .mlp import MLP

__all__ = ["Fixed", "freeze", "thaw", "scattering_features", "ScatteringClassifier"]


class Fixed(nnx.Variable):
    """A non-trainable ``nnx.Variable``: filters of a fixed transform, normalization statistics."""


def _is_variable(v: Any) -> bool:
    return isinstance(v, nnx.Variable)


def freeze(tree: Any) -> Any:
    """Wrap every leaf of a pytree (a transform's filters) in `Fixed`.

    Parameters
    ----------
    tree : pytree
        E.g. a `jaxmusic.Scattering1D`.

    Returns
    -------
    pytree of the same structure
        To be stored on an ``nnx.Module`` with ``nnx.data(...)``.
    """
    return jax.tree.map(Fixed, tree)


def thaw(tree: Any) -> Any:
    """Undo `freeze`: the values of the `Fixed` leaves, through ``lax.stop_gradient``.

    Parameters
    ----------
    tree : pytree with `Fixed` leaves

    Returns
    -------
    pytree of the same structure with array leaves
    """
    return jax.tree.map(
        lambda v: jax.lax.stop_gradient(v.get_value()) if _is_variable(v) else v, tree, is_leaf=_is_variable
    )


def scattering_features(transform: Callable, audio: Any, *, eps: float = 1e-3, average: bool = True) -> jax.Array:
    """The fixed layer of `ScatteringClassifier`: log-compressed, time-averaged transform.

    Parameters
    ----------
    transform : callable
        Maps ``(batch, n_samples)`` to ``(batch, *paths, frames)``, real.
    audio : array, shape (batch, n_samples), real floating point
    eps : float > 0, keyword-only
        ``log1p(|Sx| / eps)`` (default 1e-3).
    average : bool, keyword-only
        Mean over frames (default); False keeps them (flattened).

    Returns
    -------
    jax.Array, shape (batch, n_paths) or (batch, n_paths * frames)
        ``n_paths`` is the product of the path axes.
    """
    eps = check_real("eps", eps, min=0.0, strict_min=True)
    shape = getattr(audio, "shape", None)
    if shape is None or len(shape) != 2:
        raise ParameterError(
            f"audio must have shape (batch, n_samples), got {tuple(shape) if shape is not None else type(audio).__name__}"
        )
    Sx = transform(audio)
    if getattr(Sx, "ndim", 0) < 3 or Sx.shape[0] != shape[0]:
        raise ParameterError(
            f"the transform must map (batch, n_samples) to (batch, *paths, frames), got "
            f"{getattr(Sx, 'shape', type(Sx).__name__)} from {tuple(shape)}"
        )
    Z = jnp.log1p(jnp.abs(Sx) / eps)
    if average:
        Z = jnp.mean(Z, axis=-1)
    return jnp.reshape(Z, (shape[0], -1))


class ScatteringClassifier(nnx.Module):
    """A fixed transform (scattering, ...) followed by a learned MLP.

    Parameters
    ----------
    transform : pytree, callable
        The fixed first layer, ``(batch, n_samples) -> (batch, *paths, frames)``,
        e.g. ``Scattering1D(J=8, shape=16000, Q=(8, 1))``. Stored as `Fixed`
        variables (not trained, not in ``nnx.state(model, nnx.Param)``).
    n_classes : int, keyword-only
    n_samples : int or None, keyword-only
        Input length; default ``transform.shape`` (kymatio's name).
    hidden : sequence of int, keyword-only
        Hidden widths of the `MLP` (default ``(256,)``; ``()``: logistic regression).
    dropout : float, keyword-only
        Dropout of the MLP's hidden layers (default 0).
    eps : float > 0, keyword-only
        Log compression ``log1p(|Sx| / eps)`` (default 1e-3).
    average : bool, keyword-only
        Average the compressed transform over time (default) or flatten its frames.
    standardizer : `Standardizer` or None, keyword-only
        Fixed statistics of the training features (``Standardizer.fit(features)``),
        applied before the MLP.
    precomputed : bool, keyword-only
        If True, ``__call__`` takes cached `features` (batch, in_features) instead of audio.
    rngs : nnx.Rngs, keyword-only

    Attributes
    ----------
    in_features : int
        Width of the fixed layer's output.
    classifier : MLP

    Examples
    --------
    >>> S = Scattering1D(J=6, shape=4096, Q=(8, 1))
    >>> model = ScatteringClassifier(S, n_classes=8, rngs=nnx.Rngs(0))
    >>> model(audio).shape                 # audio: (batch, 4096)
    (batch, 8)
    >>> grads = nnx.grad(loss_fn)(model)   # classifier parameters only
    """

    def __init__(
        self,
        transform: Any,
        *,
        n_classes: int,
        n_samples: int | None = None,
        hidden: Sequence[int] = (256,),
        dropout: float = 0.0,
        eps: float = 1e-3,
        average: bool = True,
        standardizer: Standardizer | None = None,
        precomputed: bool = False,
        rngs: nnx.Rngs,
    ):
        if not callable(transform):
            raise ParameterError(f"transform must be a callable pytree, got {type(transform).__name__}")
        if n_samples is None:
            n_samples = getattr(transform, "shape", None)
            if n_samples is None or isinstance(n_samples, (tuple, list)) and len(n_samples) != 1:
                raise ParameterError(
                    f"pass n_samples: {type(transform).__name__} has no integer 'shape' attribute"
                )
            if isinstance(n_samples, (tuple, list)):
                n_samples = n_samples[0]
        self.n_samples = check_int("n_samples", n_samples, min=1)
        self.eps = check_real("eps", eps, min=0.0, strict_min=True)
        self.average = bool(average)
        self.precomputed = bool(precomputed)
        probe = jax.ShapeDtypeStruct((1, self.n_samples), jnp.float32)
        out = jax.eval_shape(lambda x: scattering_features(transform, x, eps=self.eps, average=self.average), probe)
        self.in_features = int(math.prod(out.shape[1:]))
        self.transform = nnx.data(freeze(transform))
        if standardizer is not None:
            if not isinstance(standardizer, Standardizer):
                raise ParameterError(f"standardizer must be a Standardizer, got {type(standardizer).__name__}")
            try:
                jnp.broadcast_shapes(jnp.shape(standardizer.mean), (self.in_features,))
                jnp.broadcast_shapes(jnp.shape(standardizer.std), (self.in_features,))
            except ValueError:
                raise ParameterError(
                    f"standardizer statistics of shape {jnp.shape(standardizer.mean)} do not fit "
                    f"features of width {self.in_features}"
                ) from None
            standardizer = nnx.data(freeze(standardizer))
        self.standardizer = standardizer
        self.classifier = MLP(
            in_features=self.in_features, hidden=hidden, n_classes=n_classes, dropout=dropout, rngs=rngs
        )

    def features(self, audio: Any) -> jax.Array:
        """The fixed layer: `scattering_features` of ``audio`` (what ``precomputed=True`` takes).

        Parameters
        ----------
        audio : array, shape (batch, n_samples), real floating point

        Returns
        -------
        jax.Array, shape (batch, in_features)
        """
        shape = getattr(audio, "shape", None)
        if shape is None or len(shape) != 2 or shape[1] != self.n_samples:
            raise ParameterError(
                f"audio must have shape (batch, {self.n_samples}), got "
                f"{tuple(shape) if shape is not None else type(audio).__name__}"
            )
        return scattering_features(thaw(self.transform), audio, eps=self.eps, average=self.average)

    def __call__(self, x: Any) -> jax.Array:
        """Class logits.

        Parameters
        ----------
        x : array
            Audio of shape (batch, n_samples); with ``precomputed=True``, features
            of shape (batch, in_features) from `features`.

        Returns
        -------
        jax.Array, shape (batch, n_classes)
        """
        if self.precomputed:
            shape = getattr(x, "shape", None)
            if shape is None or len(shape) != 2 or shape[1] != self.in_features:
                raise ParameterError(
                    f"precomputed=True: x must be features of shape (batch, {self.in_features}), "
                    f"got {tuple(shape) if shape is not None else type(x).__name__}"
                )
            z = jnp.asarray(x)
        else:
            z = self.features(x)
        if self.standardizer is not None:
            z = thaw(self.standardizer)(z)
        return self.classifier(z)
