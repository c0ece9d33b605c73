"""Batch sampling that is a pure function of (seed, step): class-balanced or shuffled.

Batch ``s`` of a run seeded ``seed`` draws each row's class uniformly among the
classes present, then a note of that class uniformly, from a NumPy generator
seeded with ``(seed, s)``. The data position of a run is therefore just its
step: a resumed run draws exactly the batches the uninterrupted one would have,
and every process of a multi-host run draws the same global batch without
talking to the others.
"""

from __future__ import annotations

import numpy as np

from .._checks import ParameterError, check_int

__all__ = ["BalancedSampler", "ShuffleSampler"]


class BalancedSampler:
    """Draw class-balanced batches of row indices.

    Parameters
    ----------
    labels : (n,) int array
        Class of every training row.
    batch_size : int
    seed : int
    """

    def __init__(self, labels, *, batch_size: int, seed: int = 0):
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ParameterError(f"labels must be a non-empty 1-d array, got shape {labels.shape}")
        self.classes = np.unique(labels)
        self.rows = [np.flatnonzero(labels == c) for c in self.classes]
        self.batch_size = check_int("batch_size", batch_size, min=1)
        self.seed = check_int("seed", seed, min=0)

    def indices(self, step: int) -> np.ndarray:
        """Row indices of batch ``step``: (batch_size,) int64."""
        rng = np.random.default_rng([self.seed, int(step)])
        which = rng.integers(0, len(self.classes), size=self.batch_size)
        u = rng.random(self.batch_size)
        out = np.empty(self.batch_size, np.int64)
        for k, rows in enumerate(self.rows):
            sel = which == k
            out[sel] = rows[np.minimum((u[sel] * len(rows)).astype(np.int64), len(rows) - 1)]
        return out


class ShuffleSampler:
    """Draw batches that visit every row once per epoch, in a shuffled order.

    The rows of a run form one stream, epoch after epoch; epoch ``e`` is the
    permutation drawn by a NumPy generator seeded with ``(seed, e)``, and batch
    ``s`` is positions ``s * batch_size`` to ``(s + 1) * batch_size`` of the
    stream (a batch may span two epochs). Like `BalancedSampler`, batch ``s`` is
    a pure function of ``(seed, s)``.

    Parameters
    ----------
    n : int
        Number of rows.
    batch_size : int
    seed : int
    """

    def __init__(self, n: int, *, batch_size: int, seed: int = 0):
        self.n = check_int("n", n, min=1)
        self.batch_size = check_int("batch_size", batch_size, min=1)
        self.seed = check_int("seed", seed, min=0)

    def _epoch(self, e: int) -> np.ndarray:
        return np.random.default_rng([self.seed, 1, int(e)]).permutation(self.n)

    def indices(self, step: int) -> np.ndarray:
        """Row indices of batch ``step``: (batch_size,) int64."""
        pos = int(step) * self.batch_size + np.arange(self.batch_size, dtype=np.int64)
        epochs = pos // self.n
        out = np.empty(self.batch_size, np.int64)
        for e in np.unique(epochs):
            sel = epochs == e
            out[sel] = self._epoch(int(e))[pos[sel] % self.n]
        return out
