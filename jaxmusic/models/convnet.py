r"""Convolutional networks on the constant-Q transform for instrument recognition.

After V. Lostanlen and C.-E. Cella, "Deep convolutional networks on the pitch
spiral for musical instrument recognition", ISMIR 2016. The input is a
log-compressed constant-Q magnitude, ``(batch, n_bins, n_frames, 1)`` (frequency
x time x channel), 96 bins from 55 Hz at 12 bins per octave (see
`jaxmusic.models.convnet_input`). Three branches, any non-empty subset of which
is concatenated and classified by the same two dense layers:

``"2-d"``
    conv 32 @ 5x5, max-pool 3x5 (freq x time), conv 32 @ 5x5, max-pool 3x5.
``"1-d"``
    the top three octaves (bins ``n_bins - 3 * bins_per_octave`` and up:
    1.76-13.3 kHz), conv 32 spanning all 36 bins x 5 frames, max-pool 1x5, conv
    32 @ 1x5 (SAME padding), max-pool 1x6.
``"spiral"``
    octaves 2 to 5 (bins 12-59: 110 Hz-1.76 kHz) as three half-overlapping
    two-octave bands (bins 0-23, 12-35 and 24-47 of that range); each band has its
    own conv 32 @ 3x5, the three outputs are summed, then max-pool 3x5, conv 32 @
    5x5, max-pool over all remaining frequencies x 5 frames. The sum over bands
    that are one octave apart is the convolution "on the pitch spiral".

Convolutions are VALID unless stated, each followed by a leaky ReLU of slope 0.3;
pooling windows are their own strides and drop the remainder (Keras's
``MaxPooling2D``). The head is dropout 0.5, dense 64, leaky ReLU 0.3, dropout
0.5, dense ``n_classes`` (logits). With 8 classes and 128 frames the parameter
counts are the paper's: spiral 35,944; 1-d 19,720; 2-d 92,584; spiral + 1-d
55,080; spiral + 2-d 127,944; 1-d + 2-d 111,720; all three 147,080.

How it is computed (measured on a 2-core CPU, train step of all three branches at
batch 32: about 0.3 s against 0.9 s for the same network with
``lax.reduce_window`` pooling):

* Convolutions are ``lax.conv_general_dilated`` in NHWC/HWIO (what `nnx.Conv`
  does): on XLA's CPU runtime this was as fast as or faster than NCHW,
  im2col + matmul, or shifted multiply-adds, including for the one-channel first
  layers.
* Max-pooling is a reshape and a ``max`` over the window axes, not
  ``reduce_window``: its gradient is an elementwise mask instead of XLA's
  ``select_and_scatter``, which was 3x slower for the whole step. (At exact
  ties, such as the all-zero rows above Nyquist, the gradient is shared among
  the tied inputs, where Keras gives it to one of them.)
* Pooling comes before the bias and the leaky ReLU (both commute with a
  per-channel max, since the activation is increasing), so they run on the
  pooled array.
* The three spiral bands are stacked as three input channels of one convolution
  (their kernels concatenated, biases summed): one convolution instead of three
  and two sums.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from .._checks import ParameterError, check_int, check_real

__all__ = [
    "BRANCHES",
    "CONVNET_PRESETS",
    "ConvNetPreset",
    "InstrumentConvNet",
    "convnet_n_features",
    "convnet_min_frames",
]

#: Branch names of `InstrumentConvNet`, in the order their features are concatenated.
BRANCHES = ("spiral", "1-d", "2-d")

_SLOPE = 0.3  # leaky ReLU slope after every convolution and the dense layer
_FILTERS = 32
_HIDDEN = 64
_DN = ("NHWC", "HWIO", "NHWC")


# ------------------------------------------------------------------ presets
@dataclasses.dataclass(frozen=True)
class ConvNetPreset:
    """Input configuration of `InstrumentConvNet` (see `CONVNET_PRESETS`).

    Attributes
    ----------
    sr : int
        Sampling rate (Hz) the preset is designed for.
    n_samples : int
        Excerpt length in samples.
    hop_length : int
        CQT hop; ``1 + n_samples // hop_length`` centred frames, cropped (or
        zero-padded) to ``n_frames``.
    n_frames : int
        Frames the network takes.
    fmin : float
        Frequency of the lowest bin (Hz).
    n_bins : int
        Number of CQT bins.
    bins_per_octave : int
        CQT resolution.
    """

    sr: int
    n_samples: int
    hop_length: int
    n_frames: int
    fmin: float = 55.0
    n_bins: int = 96
    bins_per_octave: int = 12


#: Named input configurations.
#:
#: ``"ismir2016"``: the paper's: 2**17 samples (2.97 s) at 44.1 kHz, hop 1024:
#: 129 centred frames cropped to 128; 96 bins from 55 Hz (top bin 13.3 kHz).
#:
#: ``"gm8"``: 1-second notes at 16 kHz (`jaxmusic.data.gm8`, NSynth-style), hop 125
#: (7.8 ms): 129 centred frames cropped to 128 exactly as ``"ismir2016"``, so the
#: network and its parameter counts are the paper's. At 16 kHz only the lowest 86
#: bins (up to 7.46 kHz) have filters below Nyquist; `convnet_input` computes those
#: and sets the 10 bins above (7.9-13.3 kHz) to zero, which is what a 16 kHz
#: recording holds there (resampling to 32 kHz would give the same near-zero rows
#: at twice the CQT cost).
CONVNET_PRESETS = types.MappingProxyType(
    {
        "ismir2016": ConvNetPreset(sr=44100, n_samples=131072, hop_length=1024, n_frames=128),
        "gm8": ConvNetPreset(sr=16000, n_samples=16000, hop_length=125, n_frames=128),
    }
)


# ------------------------------------------------------------------ geometry
def _check_branches(branches: Any) -> tuple[str, ...]:
    if isinstance(branches, str):
        branches = (branches,)
    try:
        given = tuple(branches)
    except TypeError:
        raise ParameterError(
            f"branches must be a non-empty sequence of {BRANCHES}, got {branches!r}"
        ) from None
    if not given:
        raise ParameterError(f"branches must name at least one of {BRANCHES}, got {branches!r}")
    for b in given:
        if b not in BRANCHES:
            raise ParameterError(f"unknown branch {b!r} in branches={branches!r}; choose from {BRANCHES}")
    dup = sorted({b for b in given if given.count(b) > 1})
    if dup:
        raise ParameterError(f"branch {dup[0]!r} appears more than once in branches={branches!r}")
    return tuple(b for b in BRANCHES if b in given)


def _pool_out(n: int, p: int) -> int:
    return n // p


def _branch_grid(branch: str, n_bins: int, n_frames: int, bpo: int) -> list[tuple[str, int, int]]:
    """(stage, freq, time) after every stage of one branch; sizes may be < 1."""
    t1 = _pool_out(n_frames - 4, 5)
    if branch == "2-d":
        f1 = _pool_out(n_bins - 4, 3)
        return [
            ("conv 5x5", n_bins - 4, n_frames - 4),
            ("pool 3x5", f1, t1),
            ("conv 5x5", f1 - 4, t1 - 4),
            ("pool 3x5", _pool_out(f1 - 4, 3), _pool_out(t1 - 4, 5)),
        ]
    if branch == "1-d":
        return [
            (f"conv {3 * bpo}x5", 1, n_frames - 4),
            ("pool 1x5", 1, t1),
            ("conv 1x5 same", 1, t1),
            ("pool 1x6", 1, _pool_out(t1, 6)),
        ]
    f1 = _pool_out(2 * bpo - 2, 3)
    return [
        ("band conv 3x5", 2 * bpo - 2, n_frames - 4),
        ("pool 3x5", f1, t1),
        ("conv 5x5", f1 - 4, t1 - 4),
        ("pool all x5", 1 if f1 - 4 >= 1 else 0, _pool_out(t1 - 4, 5)),
    ]


def _check_geometry(branches, n_bins: int, n_frames: int, bpo: int) -> dict[str, int]:
    """Flattened features per branch; ParameterError if any stage is empty."""
    need_bins = {"2-d": 1, "1-d": 3 * bpo, "spiral": 5 * bpo}
    out = {}
    for b in branches:
        if n_bins < need_bins[b]:
            where = "the top three octaves" if b == "1-d" else "octaves 2-5"
            raise ParameterError(
                f"branch {b!r} reads {where} of the input: needs n_bins >= {need_bins[b]} "
                f"at bins_per_octave={bpo}, got n_bins={n_bins}"
            )
        grid = _branch_grid(b, n_bins, n_frames, bpo)
        for stage, f, t in grid:
            if f < 1:
                raise ParameterError(
                    f"branch {b!r}: n_bins={n_bins} (bins_per_octave={bpo}) leaves no frequency "
                    f"after {stage!r}"
                )
            if t < 1:
                raise ParameterError(
                    f"n_frames={n_frames} is too short for branch {b!r}: nothing is left after "
                    f"{stage!r}; branches {tuple(branches)} need n_frames >= "
                    f"{convnet_min_frames(branches=branches, n_bins=n_bins, bins_per_octave=bpo)}"
                )
        _, f, t = grid[-1]
        out[b] = f * t * _FILTERS
    return out


def convnet_min_frames(*, branches: Sequence[str] = BRANCHES, n_bins: int = 96, bins_per_octave: int = 12) -> int:
    """Fewest input frames every branch in ``branches`` can pool down to at least one.

    Parameters
    ----------
    branches : sequence of {"spiral", "1-d", "2-d"}, keyword-only
    n_bins, bins_per_octave : int, keyword-only

    Returns
    -------
    int
        49 for the spiral and 2-d branches, 34 for 1-d (the maximum over ``branches``).
    """
    branches = _check_branches(branches)
    for t in range(1, 10_000):
        if all(min(g[2] for g in _branch_grid(b, n_bins, t, bins_per_octave)) >= 1 for b in branches):
            return t
    raise ParameterError(f"no frame count works for branches={branches}")  # pragma: no cover


def convnet_n_features(
    *, branches: Sequence[str] = BRANCHES, n_bins: int = 96, n_frames: int = 128, bins_per_octave: int = 12
) -> int:
    """Length of the concatenated, flattened branch outputs (input of the dense layer).

    Parameters
    ----------
    branches : sequence of {"spiral", "1-d", "2-d"}, keyword-only
    n_bins, n_frames, bins_per_octave : int, keyword-only
        Input geometry (``n_frames`` frames of ``n_bins`` bins).

    Returns
    -------
    int
        1024 for "2-d", 128 for "1-d" and 128 for "spiral" at 96 bins x 128 frames.

    Raises
    ------
    ParameterError
        Unknown branches, or an input too small for the pools of some branch.
    """
    branches = _check_branches(branches)
    n_bins = check_int("n_bins", n_bins, min=1)
    n_frames = check_int("n_frames", n_frames, min=1)
    bpo = check_int("bins_per_octave", bins_per_octave, min=1)
    return sum(_check_geometry(branches, n_bins, n_frames, bpo).values())


# ------------------------------------------------------------------ layers
def _leaky(x: jax.Array) -> jax.Array:
    return jax.nn.leaky_relu(x, _SLOPE)


def _max_pool(x: jax.Array, pf: int, pt: int) -> jax.Array:
    """Non-overlapping max-pool of (B, F, T, C) by (pf, pt), remainders dropped."""
    B, F, T, C = x.shape
    f, t = F // pf, T // pt
    x = x[:, : f * pf, : t * pt].reshape(B, f, pf, t, pt, C)
    return jnp.max(x, axis=(2, 4))


def _conv(x: jax.Array, kernel: jax.Array, padding: Any = "VALID") -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=_DN)


def _conv_pool_act(x, conv: nnx.Conv, pool: tuple[int, int], padding="VALID") -> jax.Array:
    """conv (no bias), max-pool, bias, leaky ReLU: equal to conv+bias, leaky ReLU, pool."""
    y = _max_pool(_conv(x, conv.kernel[...], padding), *pool)
    return _leaky(y + conv.bias[...])


def _conv_layer(cin: int, cout: int, kernel: tuple[int, int], rngs: nnx.Rngs) -> nnx.Conv:
    # Glorot-uniform kernels and zero biases: the Keras defaults the paper's code used.
    return nnx.Conv(
        cin, cout, kernel, padding="VALID", kernel_init=nnx.initializers.glorot_uniform(), rngs=rngs
    )


class _TwoD(nnx.Module):
    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = _conv_layer(1, _FILTERS, (5, 5), rngs)
        self.conv2 = _conv_layer(_FILTERS, _FILTERS, (5, 5), rngs)

    def __call__(self, x):
        h = _conv_pool_act(x, self.conv1, (3, 5))
        return _conv_pool_act(h, self.conv2, (3, 5))


class _OneD(nnx.Module):
    def __init__(self, *, n_bins: int, bins_per_octave: int, rngs: nnx.Rngs):
        self.start = n_bins - 3 * bins_per_octave
        self.conv1 = _conv_layer(1, _FILTERS, (3 * bins_per_octave, 5), rngs)
        self.conv2 = _conv_layer(_FILTERS, _FILTERS, (1, 5), rngs)

    def __call__(self, x):
        h = _conv_pool_act(x[:, self.start :], self.conv1, (1, 5))
        return _conv_pool_act(h, self.conv2, (1, 6), padding="SAME")


class _Spiral(nnx.Module):
    def __init__(self, *, bins_per_octave: int, rngs: nnx.Rngs):
        self.octave = bins_per_octave
        self.bands = nnx.List([_conv_layer(1, _FILTERS, (3, 5), rngs) for _ in range(3)])
        self.conv2 = _conv_layer(_FILTERS, _FILTERS, (5, 5), rngs)

    def __call__(self, x):
        o = self.octave
        # bands [o, 3o), [2o, 4o), [3o, 5o) of the input, stacked as channels
        bands = jnp.concatenate([x[:, (1 + i) * o : (3 + i) * o] for i in range(3)], axis=-1)
        kernel = jnp.concatenate([c.kernel[...] for c in self.bands], axis=2)
        bias = sum(c.bias[...] for c in self.bands)
        h = _max_pool(_conv(bands, kernel), 3, 5)
        h = _leaky(h + bias)
        h = _max_pool(_conv(h, self.conv2.kernel[...]), h.shape[1] - 4, 5)
        return _leaky(h + self.conv2.bias[...])


# ------------------------------------------------------------------ the network
class InstrumentConvNet(nnx.Module):
    """ConvNet on the CQT for instrument recognition (Lostanlen & Cella, ISMIR 2016).

    Parameters
    ----------
    branches : sequence of {"spiral", "1-d", "2-d"}, keyword-only
        Any non-empty subset, in any order; features are concatenated in the
        order of `BRANCHES`, so the same set gives the same network.
    n_classes : int, keyword-only
        Number of output logits (default 8).
    n_bins : int, keyword-only
        CQT bins of the input (default 96: 55 Hz-13.3 kHz at 12 per octave).
    n_frames : int, keyword-only
        Frames of the input (default 128); sets the width of the first dense layer.
    bins_per_octave : int, keyword-only
        CQT resolution (default 12); the 1-d branch reads the top 3 octaves, the
        spiral branch octaves 2-5, in bands of two octaves.
    dropout : float in [0, 1), keyword-only
        Rate of both dropout layers (default 0.5). Active in train mode
        (``model.train()``, the default), off after ``model.eval()``.
    rngs : nnx.Rngs, keyword-only
        Initialisation and dropout keys (``nnx.Rngs(0)`` or ``nnx.Rngs(params=0, dropout=1)``).

    Raises
    ------
    ParameterError
        Unknown, duplicate or no branches; an input geometry too small for the
        pools (the message gives the fewest frames that work).

    Examples
    --------
    >>> model = InstrumentConvNet(branches=("spiral", "1-d", "2-d"), rngs=nnx.Rngs(0))
    >>> logits = model(x)          # x: (batch, 96, 128, 1) -> (batch, 8)
    >>> model.eval(); logits = nnx.jit(lambda m, x: m(x))(model, x)
    """

    def __init__(
        self,
        *,
        branches: Sequence[str] = BRANCHES,
        n_classes: int = 8,
        n_bins: int = 96,
        n_frames: int = 128,
        bins_per_octave: int = 12,
        dropout: float = 0.5,
        rngs: nnx.Rngs,
    ):
        self.branches = _check_branches(branches)
        self.n_classes = check_int("n_classes", n_classes, min=1)
        self.n_bins = check_int("n_bins", n_bins, min=1)
        self.n_frames = check_int("n_frames", n_frames, min=1)
        self.bins_per_octave = check_int("bins_per_octave", bins_per_octave, min=1)
        rate = check_real("dropout", dropout, min=0.0)
        if rate >= 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {dropout}")
        self.branch_features = _check_geometry(self.branches, self.n_bins, self.n_frames, self.bins_per_octave)
        self.spiral = _Spiral(bins_per_octave=self.bins_per_octave, rngs=rngs) if "spiral" in self.branches else None
        self.conv1d = (
            _OneD(n_bins=self.n_bins, bins_per_octave=self.bins_per_octave, rngs=rngs)
            if "1-d" in self.branches else None
        )
        self.conv2d = _TwoD(rngs=rngs) if "2-d" in self.branches else None
        dense = nnx.initializers.glorot_uniform()
        self.dropout1 = nnx.Dropout(rate, rngs=rngs)
        self.dense = nnx.Linear(self.n_features, _HIDDEN, kernel_init=dense, rngs=rngs)
        self.dropout2 = nnx.Dropout(rate, rngs=rngs)
        self.logits = nnx.Linear(_HIDDEN, self.n_classes, kernel_init=dense, rngs=rngs)

    @property
    def n_features(self) -> int:
        """Width of the concatenated branch features (see `convnet_n_features`)."""
        return sum(self.branch_features.values())

    def features(self, x: jax.Array) -> jax.Array:
        """Concatenated, flattened branch outputs.

        Parameters
        ----------
        x : array, shape (batch, n_bins, n_frames, 1), floating point

        Returns
        -------
        jax.Array, shape (batch, n_features)
        """
        x = self._check_input(x)
        B = x.shape[0]
        parts = []
        for name, branch in (("spiral", self.spiral), ("1-d", self.conv1d), ("2-d", self.conv2d)):
            if branch is not None:
                parts.append(branch(x).reshape(B, -1))
        return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]

    def __call__(self, x: jax.Array) -> jax.Array:
        """Class logits.

        Parameters
        ----------
        x : array, shape (batch, n_bins, n_frames, 1), floating point
            Log-compressed CQT (`convnet_input`), standardized.

        Returns
        -------
        jax.Array, shape (batch, n_classes)
            Unnormalized log-probabilities.
        """
        h = self.dropout1(self.features(x))
        h = self.dropout2(_leaky(self.dense(h)))
        return self.logits(h)

    def _check_input(self, x):
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", None)
        want = ("batch", self.n_bins, self.n_frames, 1)
        if shape is None or dtype is None:
            raise ParameterError(f"x must be an array of shape {want}, got {type(x).__name__}")
        if len(shape) != 4 or tuple(shape[1:]) != want[1:]:
            hint = ""
            if len(shape) == 4 and shape[1] == self.n_bins and shape[3] == 1:
                hint = (
                    f"; this network was built for n_frames={self.n_frames} (crop or pad the "
                    "input, or build one with InstrumentConvNet(n_frames=...))"
                )
            elif len(shape) == 3 and tuple(shape[1:]) == (self.n_bins, self.n_frames):
                hint = "; add the channel axis: x[..., None]"
            raise ParameterError(f"x must have shape {want}, got {tuple(shape)}{hint}")
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ParameterError(f"x must be floating point, got dtype {dtype}")
        return x
