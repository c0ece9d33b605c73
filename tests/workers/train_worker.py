"""A tiny training run for the multi-process and kill-and-resume tests (run as a script).

    python train_worker.py OUT [--steps N] [--checkpoint DIR] [--every K]
                               [--devices 1|all] [--process I --processes P --port PORT]

Writes OUT/paramsI.npz (the final parameters, by path) and OUT/historyI.json (I: the
process): the history, what the run reports of itself (resumed_from, steps_run,
batches_read, placement) and, independently of the library's own accounting, the
training rows this process read for each batch (``rows``, in order of reading).
"""

import argparse
import json
import sys
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--steps", type=int, default=60)
p.add_argument("--checkpoint", default=None)
p.add_argument("--every", type=int, default=20, help="steps between evaluations")
p.add_argument("--checkpoint-every", type=int, default=None)
p.add_argument("--patience", type=int, default=None)
p.add_argument("--devices", default="all")
p.add_argument("--process", type=int, default=0)
p.add_argument("--processes", type=int, default=1)
p.add_argument("--port", type=int, default=0)
args = p.parse_args()

from jaxmusic import train  # noqa: E402

if args.processes > 1:
    train.initialize(coordinator_address=f"localhost:{args.port}", num_processes=args.processes,
                     process_id=args.process)

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402


class Tiny(nnx.Module):
    def __init__(self, d, c, *, rngs):
        self.a = nnx.Linear(d, 32, rngs=rngs)
        self.drop = nnx.Dropout(0.2, rngs=rngs)
        self.b = nnx.Linear(32, c, rngs=rngs)

    def __call__(self, x):
        return self.b(self.drop(nnx.relu(self.a(x))))


class Recording:
    """Training inputs that record every batch of rows read (fancy indexing; the checks
    and the fingerprint read blocks by slices, which are not batches)."""

    def __init__(self, x):
        self.x, self.shape, self.dtype, self.batches = x, x.shape, x.dtype, []

    def __getitem__(self, index):
        if isinstance(index, np.ndarray):
            self.batches.append(index.tolist())
        return self.x[index]


rng = np.random.default_rng(0)
X = rng.normal(size=(240, 6)).astype(np.float32)
y = ((X[:, 0] > 0).astype(np.int32) + 2 * (X[:, 1] > 0)).astype(np.int32)
devices = jax.devices()[:1] if args.devices == "1" else jax.devices()
model = Tiny(6, 4, rngs=nnx.Rngs(0))
x_train = Recording(X[:180])
r = train.fit(model, x_train, y[:180], val=(X[180:], y[180:]), steps=args.steps, eval_every=args.every,
              batch_size=32, learning_rate=3e-3, checkpoint_dir=args.checkpoint,
              checkpoint_every=args.checkpoint_every or args.every, patience=args.patience,
              mesh=train.make_mesh(devices), progress=False)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
params = {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v)
          for path, v in jax.tree_util.tree_flatten_with_path(nnx.state(model, nnx.Param))[0]}
np.savez(out / f"params{args.process}.npz", **params)
(out / f"history{args.process}.json").write_text(json.dumps(
    {"history": [{k: v for k, v in h.items() if k not in ("seconds", "examples_per_s")} for h in r.history],
     "resumed_from": r.resumed_from, "devices": len(devices), "steps": r.steps, "best_step": r.best_step,
     "steps_run": r.steps_run, "batches_read": r.batches_read, "placement": r.placement, "rows": x_train.batches}))
print("done", r.steps, file=sys.stderr)
