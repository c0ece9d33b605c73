"""Frozen dataclasses registered as JAX pytrees.

A transform keeps its configuration (ints, tuples, strings) in static fields
and its filters (arrays) as leaves, so it can be passed through ``jax.jit`` as
an ordinary argument and two transforms with the same configuration share one
compiled program.
"""

from __future__ import annotations

import dataclasses

import jax

__all__ = ["pytree_dataclass", "static_field"]


def static_field(**kwargs):
    """A dataclass field that is part of the pytree structure (hashable, not traced)."""
    metadata = dict(kwargs.pop("metadata", {}) or {}, static=True)
    return dataclasses.field(metadata=metadata, **kwargs)


def pytree_dataclass(cls):
    """Make ``cls`` a frozen dataclass whose non-static fields are pytree leaves."""
    cls = dataclasses.dataclass(frozen=True, eq=False)(cls)
    fields = dataclasses.fields(cls)
    data = [f.name for f in fields if not f.metadata.get("static", False)]
    meta = [f.name for f in fields if f.metadata.get("static", False)]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)
