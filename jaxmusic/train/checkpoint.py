"""Checkpoints with orbax-checkpoint: arrays as tensorstore, the rest as JSON, no pickle.

A checkpoint holds a training run's whole state: the `TrainState` (parameters,
optimizer state, RNG state, step), the best parameters so far (early
stopping), and a JSON record of the data position, the running sums, the
metrics history and the model's *signature* (class, parameter paths, shapes
and dtypes). Orbax writes each step into a temporary folder and renames it
when complete, so a run killed at any point leaves its earlier checkpoints
intact and `latest` never returns a half-written one. Restoring into a model
whose signature differs (another architecture, another class count) raises
`CheckpointError` naming the first difference.

PRNG keys are stored as their raw ``uint32`` key data and re-wrapped on restore.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .._checks import JaxMusicError
from .._files import Legacy, claim_dir, write_json

__all__ = ["CheckpointError", "CorruptCheckpointError", "Checkpointer", "model_signature"]


class CheckpointError(JaxMusicError):
    """A checkpoint that cannot be used: another model, a damaged folder."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint whose files cannot be read (truncated, damaged, half-written)."""


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was set aside and an earlier one used."""


#: A checkpoint folder written before folder markers existed: its signature and Orbax's step folders.
_LEGACY = Legacy("signature.json", patterns=(r"\d+", r"\d+\.orbax-checkpoint-tmp-.*", r"\d+\.corrupt(-\d+)?"))


def model_signature(model: nnx.Module) -> dict:
    """What a checkpoint must match: the model's class and its parameters' paths, shapes, dtypes.

    Returns
    -------
    dict
        ``{"model": class name, "params": {path: [shape, dtype]}, "n_params": int}``
        (JSON-serialisable).
    """
    params = nnx.state(model, nnx.Param)
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        names = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
        key = "/".join(n for n in names if n not in (".value", "value"))
        flat[key] = [list(np.shape(leaf)), str(leaf.dtype)]
    return {"model": type(model).__name__, "params": flat,
            "n_params": int(sum(int(np.prod(s)) for s, _ in flat.values()))}


def _signature_difference(saved: dict, current: dict) -> str | None:
    if saved.get("model") != current["model"]:
        return f"it was written by a {saved.get('model')} and this model is a {current['model']}"
    a, b = saved.get("params", {}), current["params"]
    missing = sorted(set(a) - set(b))
    extra = sorted(set(b) - set(a))
    if missing or extra:
        return (f"its parameters differ: {len(missing)} only in the checkpoint (e.g. {missing[:3]}), "
                f"{len(extra)} only in the model (e.g. {extra[:3]})")
    for k in a:
        if list(a[k]) != list(b[k]):
            return (f"parameter {k!r} has shape/dtype {tuple(a[k][0])} {a[k][1]} in the checkpoint "
                    f"and {tuple(b[k][0])} {b[k][1]} in the model (another architecture or class count?)")
    return None


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _unkey(tree):
    return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def _rekey(template, tree):
    return jax.tree.map(lambda t, x: jax.random.wrap_key_data(x, impl=jax.random.key_impl(t)) if _is_key(t) else x,
                        template, tree)


class Checkpointer:
    """Save and restore training runs in ``directory`` (one sub-folder per step).

    Parameters
    ----------
    directory : str or path-like
    signature : dict
        `model_signature` of the model being trained; written to
        ``directory/signature.json`` and checked against every restore.
    keep : int
        How many of the latest checkpoints to keep.
    force : bool
        Use a folder that jaxmusic did not write (see `jaxmusic._files.claim_dir`);
        without it such a folder is refused with `jaxmusic.OutputError`.
    """

    def __init__(self, directory, *, signature: dict, keep: int = 2, force: bool = False):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        run = claim_dir(directory, "checkpoints", force=force, legacy=_LEGACY, writer=jax.process_index() == 0)
        self._run = run
        self.directory = run.path.absolute()
        self.signature = signature
        sig_file = self.directory / "signature.json"
        if sig_file.is_file():
            try:
                saved = json.loads(sig_file.read_text())
            except (OSError, ValueError) as err:
                raise CheckpointError(f"{sig_file} is unreadable ({err}); delete {self.directory} "
                                      "to start over") from err
            why = _signature_difference(saved, signature)
            if why:
                raise CheckpointError(f"the checkpoints in {self.directory} are not from this model: "
                                      f"{why}. Use another checkpoint folder, or delete this one to start over")
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=False),
        )
        if jax.process_index() == 0 and not sig_file.is_file():
            write_json(run / "signature.json", signature, indent=None)

    def latest(self) -> int | None:
        """The step of the newest complete checkpoint, or None."""
        return self.manager.latest_step()

    def save(self, step: int, state, record: dict) -> None:
        """Write ``state`` (a pytree of arrays) and ``record`` (JSON) as checkpoint ``step``.

        Orbax writes into a temporary folder renamed when complete: a write that
        fails or is killed leaves the earlier checkpoints as they were. A failure
        raises `CheckpointError` naming the folder and the newest complete checkpoint."""
        ocp = self._ocp
        record = dict(record, signature=self.signature)
        try:
            self.manager.save(int(step), args=ocp.args.Composite(
                state=ocp.args.StandardSave(_unkey(state)), record=ocp.args.JsonSave(record)), force=True)
            self.manager.wait_until_finished()
        except (OSError, ValueError, RuntimeError) as err:
            try:
                self.manager.reload()
                last = self.manager.latest_step()
            except Exception:
                last = None
            raise CheckpointError(
                f"cannot write checkpoint {step} in {self.directory} ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}); the run stopped. "
                + (f"The newest complete checkpoint is step {last}: once the folder is writable, rerun to "
                   "resume from it" if last is not None else "No complete checkpoint was written")) from err

    def record(self, step: int) -> dict:
        """The JSON record of checkpoint ``step`` (checked against this model's signature)."""
        ocp = self._ocp
        try:
            record = self.manager.restore(int(step), args=ocp.args.Composite(record=ocp.args.JsonRestore()))["record"]
        except Exception as err:
            raise CorruptCheckpointError(f"checkpoint {step} in {self.directory} is unreadable: {err}") from err
        if not isinstance(record, dict) or "signature" not in record:
            raise CorruptCheckpointError(f"checkpoint {step} in {self.directory} has no readable record")
        why = _signature_difference(record.get("signature", {}), self.signature)
        if why:
            raise CheckpointError(f"checkpoint {step} in {self.directory} is not from this model: {why}")
        return record

    def restore(self, step: int, template):
        """Read checkpoint ``step`` into arrays shaped, typed and placed like ``template``.

        Returns
        -------
        (state, record)
        """
        ocp = self._ocp
        abstract = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), _unkey(template))
        record = self.record(step)
        try:
            restored = self.manager.restore(int(step), args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract)))["state"]
        except Exception as err:
            raise CorruptCheckpointError(f"checkpoint {step} in {self.directory} is unreadable: "
                                         f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
        for leaf in jax.tree.leaves(restored):  # a run never saves a non-finite state: this one is damaged
            if jnp.issubdtype(leaf.dtype, jnp.inexact) and not bool(jnp.all(jnp.isfinite(leaf))):
                raise CorruptCheckpointError(f"checkpoint {step} in {self.directory} holds NaN or infinite values")
        return _rekey(template, restored), record

    def restore_latest(self, template, *, check=None):
        """The newest checkpoint that reads back whole, as ``(step, state, record)``, or None.

        A checkpoint that cannot be read (truncated, damaged) is named in a
        `CheckpointWarning`, set aside as ``STEP.corrupt`` in the folder (never
        deleted) and the one before it tried. ``check(record)`` may raise to refuse
        a checkpoint of another run; that error propagates."""
        import warnings

        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                record = self.record(step)
                if check is not None:
                    check(record)
                state, record = self.restore(step, template)
                return step, state, record
            except CorruptCheckpointError as err:
                aside = self._set_aside(step)
                warnings.warn(f"{err}; set aside as {aside.name}, trying the checkpoint before it",
                              CheckpointWarning, stacklevel=3)
        return None

    def _set_aside(self, step: int) -> Path:
        src = self.directory / str(step)
        dst = self.directory / f"{step}.corrupt"
        k = 1
        while dst.exists():
            dst = self.directory / f"{step}.corrupt-{k}"
            k += 1
        if jax.process_index() == 0 and src.exists():
            src.rename(dst)
        self.manager.reload()
        return dst

    def close(self) -> None:
        """Finish pending writes and release the manager."""
        self.manager.close()
