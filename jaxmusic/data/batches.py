"""Batches for `jit`-compiled steps, placed on a device mesh (data parallel)."""

from __future__ import annotations

import collections
from typing import Iterator, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._checks import ParameterError, check_int
from .dataset import Dataset

__all__ = ["batches", "data_sharding", "FIELDS"]

#: Fields a batch can carry, with their dtypes.
FIELDS = {
    "audio": np.float32,
    "label": np.int32,
    "pitch": np.float32,
    "velocity": np.float32,
    "index": np.int32,
    "mask": np.bool_,
}


def data_sharding(devices: Sequence | None = None, *, axis: str = "batch") -> NamedSharding:
    """Shard the leading (batch) axis over ``devices``.

    Parameters
    ----------
    devices : sequence of jax.Device, optional
        Default ``jax.local_devices()``.
    axis : str
        Name of the mesh axis.

    Returns
    -------
    jax.sharding.NamedSharding
        Over a one-axis ``Mesh`` of the devices, with ``PartitionSpec(axis)``:
        each device holds ``batch_size / len(devices)`` rows; other axes are
        not split.
    """
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ParameterError("devices must name at least one device")
    mesh = Mesh(np.array(devices), (axis,))
    return NamedSharding(mesh, PartitionSpec(axis))


def _check_divisible(sharding, batch_size):
    try:
        sharding.shard_shape((batch_size,))
    except Exception as err:
        n = getattr(getattr(sharding, "mesh", None), "size", None)
        hint = f" (a multiple of the {n} devices, e.g. {batch_size + (-batch_size) % n})" if n else ""
        raise ParameterError(
            f"batch_size {batch_size} cannot be split evenly by the sharding{hint}: {err}"
        ) from err


def batches(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    drop_remainder: bool = False,
    fields: Sequence[str] = ("audio", "label", "mask"),
    sharding=None,
    prefetch: int = 2,
) -> Iterator[dict]:
    """Iterate over a data set in fixed-size batches placed on devices.

    Every batch has the same shape, so a `jax.jit`-compiled step compiles
    once: the last, partial batch is padded with zero rows whose ``mask`` is
    False (or dropped with ``drop_remainder=True``). Rows are read only when
    their batch is built, so a memory-mapped data set streams from disk.

    Parameters
    ----------
    dataset : Dataset
    batch_size : int
        Rows per batch; a multiple of the number of devices of ``sharding``.
    shuffle : bool
        Visit rows in a random order drawn from ``(seed, epoch)``.
    seed, epoch : int
        Seeds of the shuffle; pass the epoch number for a new order each epoch.
    drop_remainder : bool
        Drop the last partial batch instead of padding it.
    fields : sequence of str
        Which of `FIELDS` to put in each batch: ``audio`` (batch, samples)
        float32, ``label`` (batch,) int32, ``pitch`` and ``velocity``
        (batch,) float32 (NaN where unknown), ``index`` (batch,) int32 (row of
        the data set, -1 for padding) and ``mask`` (batch,) bool.
    sharding : jax.sharding.Sharding, optional
        Where to put each array. Default `data_sharding()`: the batch axis
        split over all local devices.
    prefetch : int
        Batches transferred ahead of the one being used (0: none).

    Yields
    ------
    dict of str to jax.Array

    Examples
    --------
    >>> step = jax.jit(lambda params, b: loss(params, b["audio"], b["label"], b["mask"]))
    >>> for b in batches(ds, batch_size=64, shuffle=True, epoch=epoch):   # doctest: +SKIP
    ...     params = step(params, b)
    """
    if not isinstance(dataset, Dataset):
        raise ParameterError(f"dataset must be a jaxmusic.data.Dataset, got {type(dataset).__name__}")
    batch_size = check_int("batch_size", batch_size, min=1)
    prefetch = check_int("prefetch", prefetch, min=0)
    seed, epoch = check_int("seed", seed), check_int("epoch", epoch, min=0)
    fields = tuple(fields)
    bad = [f for f in fields if f not in FIELDS]
    if bad or not fields:
        raise ParameterError(f"fields must be among {list(FIELDS)}, got {list(fields)}")
    if sharding is None:
        sharding = data_sharding()
    _check_divisible(sharding, batch_size)
    n = len(dataset)
    order = np.arange(n)
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(n)
    stop = (n // batch_size) * batch_size if drop_remainder else n

    def host_batches():
        for start in range(0, stop, batch_size):
            rows = order[start : start + batch_size]
            k = len(rows)
            out = {}
            for f in fields:
                if f == "audio":
                    # read in file order (fast on a memory map), then restore the batch order
                    sort = np.argsort(rows, kind="stable")
                    block = np.empty((k, dataset.n_samples), np.float32)
                    block[sort] = dataset.audio[rows[sort]]
                    value = block
                elif f == "index":
                    value = rows.astype(np.int32)
                elif f == "mask":
                    value = np.ones(k, bool)
                else:
                    value = getattr(dataset, f)[rows]
                if k < batch_size:
                    fill = -1 if f == "index" else 0
                    pad = np.full((batch_size - k,) + value.shape[1:], fill, dtype=FIELDS[f])
                    value = np.concatenate([value.astype(FIELDS[f]), pad])
                out[f] = value.astype(FIELDS[f], copy=False)
            yield out

    queue = collections.deque()
    for host in host_batches():
        queue.append({f: jax.device_put(v, sharding) for f, v in host.items()})
        if len(queue) > prefetch:
            yield queue.popleft()
    while queue:
        yield queue.popleft()
