"""Training with Optax on a device mesh, checkpointed with orbax-checkpoint.

- `fit`: class-balanced batches, one jit-compiled step, early stopping,
  resumable Orbax checkpoints, a tqdm bar, ``metrics.json`` and ``curves.png``.
- `minimize`: the same loop for any other model (autoencoders, sequence models):
  ``loss(model(x), y)``, default mean squared error, early stopping on the
  validation loss.
- `evaluate`, `scores`: error = 1 - mean per-class recall, accuracy, recall per class.
- `make_steps`, `TrainState`, `cross_entropy`: the step functions alone.
- `make_mesh`, `shard_batch`, `replicate`, `initialize`: data-parallel placement,
  on one device or several hosts.
- `Checkpointer`, `model_signature`, `CheckpointError`: the checkpoints alone (a damaged
  checkpoint is set aside with a `CheckpointWarning` and the one before it used).
- `DivergedError`: a NaN or infinite loss stops a run at the step it happened.
- `SummaryLog`, `log_audio`, `read_scalars`: TensorBoard event files (``logdir=`` of
  `fit` and `minimize`), written and read without TensorFlow.
"""

from .checkpoint import CheckpointError, Checkpointer, CheckpointWarning, CorruptCheckpointError, model_signature
from .logs import SummaryLog, log_audio, read_scalars
from .loop import DivergedError, FitResult, evaluate, fit, minimize, scores
from .mesh import DATA_AXIS, initialize, make_mesh, replicate, shard_batch, to_host
from .sampling import BalancedSampler, ShuffleSampler
from .step import Steps, TrainState, cross_entropy, make_steps, mean_squared_error

__all__ = [
    "fit", "minimize", "evaluate", "scores", "FitResult", "DivergedError",
    "make_steps", "Steps", "TrainState", "cross_entropy", "mean_squared_error",
    "make_mesh", "shard_batch", "replicate", "to_host", "initialize", "DATA_AXIS",
    "Checkpointer", "CheckpointError", "CorruptCheckpointError", "CheckpointWarning", "model_signature",
    "BalancedSampler", "ShuffleSampler",
    "SummaryLog", "log_audio", "read_scalars",
]
