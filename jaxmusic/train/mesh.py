"""Data-parallel placement on a `jax.sharding.Mesh`: batches split along ``data``,
parameters and optimizer state replicated.

The same code runs on one CPU, a GPU, a TPU slice or several hosts. On several
hosts every process calls `initialize` first (a thin wrapper of
`jax.distributed.initialize`), then builds the same global mesh with `make_mesh`
and feeds only its own rows of each global batch to `shard_batch`: the callback
that reads the rows is asked only for the shards of this process's devices.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._checks import ParameterError

__all__ = ["DATA_AXIS", "initialize", "make_mesh", "replicate", "shard_batch", "to_host"]

#: Name of the mesh axis the batch is split along.
DATA_AXIS = "data"


def initialize(*, coordinator_address: str, num_processes: int, process_id: int) -> None:
    """Join a multi-process run (`jax.distributed.initialize`) before any other JAX call.

    On CPU the cross-process collectives go through gloo (XLA's CPU collectives);
    on GPU and TPU JAX picks the native ones.

    Parameters
    ----------
    coordinator_address : str
        ``host:port`` of process 0's coordinator, e.g. ``"localhost:12345"``.
    num_processes : int
        How many processes take part.
    process_id : int
        This process's rank, ``0 <= process_id < num_processes``.
    """
    if not 0 <= int(process_id) < int(num_processes):
        raise ParameterError(f"process_id {process_id} must lie in 0..{int(num_processes) - 1}")
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except Exception:  # older/newer JAX without the option: its default is used
        pass
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=int(num_processes), process_id=int(process_id))


def make_mesh(devices: Sequence | None = None) -> Mesh:
    """A one-axis mesh (``"data"``) over ``devices``, by default every device of every process.

    Parameters
    ----------
    devices : sequence of jax.Device, optional
        Default ``jax.devices()`` (global: all hosts' devices).

    Returns
    -------
    jax.sharding.Mesh
    """
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ParameterError("devices must name at least one device")
    return Mesh(np.array(devices), (DATA_AXIS,))


def _replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def _batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Raise `ParameterError` unless ``batch_size`` splits evenly over the mesh."""
    n = mesh.size
    if batch_size % n:
        raise ParameterError(
            f"batch_size {batch_size} does not split evenly over the {n} devices of the mesh; "
            f"use a multiple of {n}, e.g. {batch_size + (-batch_size) % n}"
        )


def replicate(tree, mesh: Mesh):
    """Place a pytree of host or device arrays on every device of ``mesh`` (replicated).

    Works across processes: each process passes the same values.
    """
    sharding = _replicated(mesh)

    def put(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            data = put(np.asarray(jax.random.key_data(x)))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if not x.sharding.is_fully_replicated:
                raise ParameterError(f"replicate takes host values or replicated arrays; this one of shape "
                                     f"{x.shape} is split across processes")
            host = np.asarray(x.addressable_data(0))
        else:
            host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


def shard_batch(read: Callable[[slice], dict], batch_size: int, mesh: Mesh) -> dict:
    """Build one global batch split along ``data``, reading only this process's rows.

    Parameters
    ----------
    read : callable
        ``read(rows)`` with ``rows`` a slice of the global batch returns a dict
        of host arrays whose leading axis has ``rows.stop - rows.start`` entries.
        It is called once per local device with that device's rows.
    batch_size : int
        Global batch size (a multiple of the number of devices).
    mesh : jax.sharding.Mesh

    Returns
    -------
    dict of jax.Array
        Each of global shape ``(batch_size, ...)``, sharded along axis 0.
    """
    check_batch_size(batch_size, mesh)
    sharding = _batch_sharding(mesh)
    local = {}
    for device, index in sharding.addressable_devices_indices_map((batch_size,)).items():
        rows = index[0]
        local[device] = read(slice(rows.start or 0, batch_size if rows.stop is None else rows.stop))
    first = next(iter(local.values()))
    out = {}
    for name, part in first.items():
        shape = (batch_size,) + tuple(np.shape(part)[1:])
        arrays = [jax.device_put(np.ascontiguousarray(local[d][name]), d) for d in local]
        out[name] = jax.make_array_from_single_device_arrays(shape, sharding, arrays)
    return out


def to_host(tree):
    """Copy a pytree of (replicated or process-local) arrays to NumPy on this host."""

    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if not x.sharding.is_fully_replicated:
                raise ParameterError(
                    f"to_host copies replicated arrays only; this one of shape {x.shape} is split across "
                    "processes (gather it with jax.experimental.multihost_utils.process_allgather)")
            return np.asarray(x.addressable_data(0))
        return np.asarray(x)

    return jax.tree.map(get, tree)
