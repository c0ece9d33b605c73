"""Train/test splits that matter for music: by pitch, by source, stratified."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .._checks import ParameterError, check_int, check_real
from .dataset import Dataset

__all__ = ["split_by_pitch", "split_by_source", "stratified_split"]


def _check_dataset(dataset):
    if not isinstance(dataset, Dataset):
        raise ParameterError(f"dataset must be a jaxmusic.data.Dataset, got {type(dataset).__name__}")


def _nonempty(train_rows, test_rows, what):
    if len(train_rows) == 0 or len(test_rows) == 0:
        raise ParameterError(
            f"{what} leaves {len(train_rows)} training and {len(test_rows)} test notes; "
            "both must be non-empty"
        )


def split_by_pitch(
    dataset: Dataset,
    *,
    test_pitches: Sequence[float] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    return_indices: bool = False,
) -> tuple[Dataset, Dataset]:
    """Hold out whole pitches: no test pitch occurs in the training set.

    Tests generalization across pitch, the way an instrument recognizer
    must recognize notes it has never heard.

    Parameters
    ----------
    dataset : Dataset
        Every note must have a pitch.
    test_pitches : sequence of float, optional
        The pitches to hold out. Default: a random ``test_fraction`` of the
        distinct pitches (at least one), drawn with ``seed``.
    test_fraction : float
        Fraction of the distinct pitches held out when ``test_pitches`` is None.
    seed : int
        Seed of the NumPy generator that draws the pitches.
    return_indices : bool
        Return the row indices of train and test instead of the data sets.

    Returns
    -------
    (Dataset, Dataset)
        Train and test (or their row indices).
    """
    _check_dataset(dataset)
    if np.isnan(dataset.pitch).any():
        raise ParameterError(
            f"split_by_pitch needs a pitch for every note; {int(np.isnan(dataset.pitch).sum())} "
            "of the notes have none (NaN)"
        )
    pitches = np.unique(dataset.pitch)
    if test_pitches is None:
        test_fraction = check_real("test_fraction", test_fraction, min=0.0, max=1.0, strict_min=True)
        seed = check_int("seed", seed)
        k = max(1, int(round(test_fraction * len(pitches))))
        test_pitches = np.random.default_rng(seed).choice(pitches, size=k, replace=False)
    test_pitches = np.asarray(test_pitches, dtype=np.float32).reshape(-1)
    in_test = np.isin(dataset.pitch, test_pitches)
    train, test = np.flatnonzero(~in_test), np.flatnonzero(in_test)
    _nonempty(train, test, f"split_by_pitch with test pitches {sorted(test_pitches.tolist())}")
    return (train, test) if return_indices else (dataset[train], dataset[test])


def split_by_source(dataset: Dataset, *, test_sources: Sequence[str] | str) -> tuple[Dataset, Dataset]:
    """Train on some sources, test on others (e.g. one soundfont against another).

    Parameters
    ----------
    dataset : Dataset
    test_sources : str or sequence of str
        Sources (``dataset.source`` values) that form the test set.

    Returns
    -------
    (Dataset, Dataset)
        Train and test.
    """
    _check_dataset(dataset)
    if isinstance(test_sources, str):
        test_sources = [test_sources]
    test_sources = [str(s) for s in test_sources]
    present = sorted(set(dataset.source.tolist()))
    missing = [s for s in test_sources if s not in present]
    if missing:
        raise ParameterError(f"test_sources {missing} are not sources of the data set; its sources are {present}")
    in_test = np.isin(dataset.source, test_sources)
    train, test = np.flatnonzero(~in_test), np.flatnonzero(in_test)
    _nonempty(train, test, f"split_by_source with test_sources {test_sources}")
    return dataset[train], dataset[test]


def stratified_split(
    dataset: Dataset, *, test_fraction: float = 0.2, seed: int = 0, return_indices: bool = False
) -> tuple[Dataset, Dataset]:
    """Random split that keeps each class's proportion in train and test.

    Each class with at least two notes puts ``round(test_fraction * n_c)``
    of them (at least one, at most ``n_c - 1``) in the test set.

    Parameters
    ----------
    dataset : Dataset
    test_fraction : float
        In (0, 1).
    seed : int
        Seed of the NumPy generator.
    return_indices : bool
        Return the row indices of train and test instead of the data sets.

    Returns
    -------
    (Dataset, Dataset)
        Train and test (or their row indices), each in the data set's original order.
    """
    _check_dataset(dataset)
    test_fraction = check_real("test_fraction", test_fraction, min=0.0, max=1.0, strict_min=True)
    if test_fraction >= 1.0:
        raise ParameterError(f"test_fraction must be < 1, got {test_fraction}")
    seed = check_int("seed", seed)
    rng = np.random.default_rng(seed)
    test = []
    for c in range(len(dataset.classes)):
        rows = np.flatnonzero(dataset.label == c)
        if len(rows) < 2:
            continue
        k = min(max(1, int(round(test_fraction * len(rows)))), len(rows) - 1)
        test.append(rng.choice(rows, size=k, replace=False))
    test = np.sort(np.concatenate(test)) if test else np.zeros(0, np.int64)
    train = np.setdiff1d(np.arange(len(dataset)), test)
    _nonempty(train, test, f"stratified_split with test_fraction {test_fraction}")
    return (train, test) if return_indices else (dataset[train], dataset[test])
