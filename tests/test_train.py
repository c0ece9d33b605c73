"""jaxmusic.train: the step, the loop, sharding, multi-process runs, Orbax checkpoints."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
from flax import nnx
from sklearn.metrics import balanced_accuracy_score, confusion_matrix

import jaxmusic
from jaxmusic import train

WORKER = Path(__file__).parent / "workers" / "train_worker.py"


class Tiny(nnx.Module):
    def __init__(self, d, c, *, rngs, hidden=32):
        self.a = nnx.Linear(d, hidden, rngs=rngs)
        self.drop = nnx.Dropout(0.2, rngs=rngs)
        self.b = nnx.Linear(hidden, c, rngs=rngs)

    def __call__(self, x):
        return self.b(self.drop(nnx.relu(self.a(x))))


def blobs(n=240, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = ((X[:, 0] > 0).astype(np.int32) + 2 * (X[:, 1] > 0)).astype(np.int32)
    return X, y


def run_worker(out, *args, env=None, wait=True):
    cmd = [sys.executable, str(WORKER), str(out), *map(str, args)]
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return proc
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    return proc


def load_params(folder, process=0):
    with np.load(Path(folder) / f"params{process}.npz") as f:
        return {k: f[k] for k in f.files}


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ metric and sampling
def test_scores_match_sklearn():
    rng = np.random.default_rng(1)
    t = rng.integers(0, 5, 300)
    p = np.where(rng.random(300) < 0.6, t, rng.integers(0, 5, 300))
    s = train.scores(confusion_matrix(t, p, labels=range(5)))
    assert s["error"] == pytest.approx(100 * (1 - balanced_accuracy_score(t, p)))
    assert s["accuracy"] == pytest.approx(100 * np.mean(t == p))


def test_scores_skip_absent_classes():
    c = np.array([[3, 1, 0], [0, 0, 0], [0, 1, 1]])
    s = train.scores(c)
    assert np.isnan(s["per_class_recall"][1])
    assert s["error"] == pytest.approx(100 * (1 - (0.75 + 0.5) / 2))


def test_sampler_is_balanced_and_a_function_of_the_step():
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1)
    s = train.BalancedSampler(labels, batch_size=32, seed=3)
    drawn = np.concatenate([s.indices(k) for k in range(300)])
    counts = np.bincount(labels[drawn], minlength=3) / len(drawn)
    np.testing.assert_allclose(counts, 1 / 3, atol=0.02)
    np.testing.assert_array_equal(s.indices(17), train.BalancedSampler(labels, batch_size=32, seed=3).indices(17))
    assert not np.array_equal(s.indices(17), s.indices(18))


# ------------------------------------------------------------------ fit
def test_fit_learns_and_writes_metrics_and_curves(tmp_path):
    X, y = blobs()
    model = Tiny(6, 4, rngs=nnx.Rngs(0))
    r = train.fit(model, X[:180], y[:180], val=(X[180:], y[180:]), steps=300, eval_every=30,
                  learning_rate=3e-3, out=tmp_path, progress=False)
    assert r.steps == 300 and len(r.history) == 10
    assert r.history[-1]["val_error"] < 15, r.history[-1]
    assert r.history[0]["train_loss"] > r.history[-1]["train_loss"]
    e = train.evaluate(model, X[180:], y[180:])
    best = min(h["val_error"] for h in r.history)
    assert e["error"] == pytest.approx(best)  # the kept parameters are the best ones
    assert json.loads((tmp_path / "metrics.json").read_text())["best_step"] == r.best_step
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_eval_mode_is_deterministic_and_train_mode_is_not():
    X, _ = blobs(32)
    model = Tiny(6, 4, rngs=nnx.Rngs(0))
    model.eval()
    np.testing.assert_array_equal(model(X), model(X))
    model.train()
    assert not np.array_equal(model(X), model(X))


def test_early_stopping_stops_and_keeps_the_best():
    X, y = blobs()
    rng = np.random.default_rng(5)
    y_noise = rng.integers(0, 4, len(y)).astype(np.int32)  # unlearnable validation labels
    model = Tiny(6, 4, rngs=nnx.Rngs(0))
    r = train.fit(model, X[:180], y[:180], val=(X[180:], y_noise[180:]), steps=5000, eval_every=10,
                  patience=3, learning_rate=3e-3, progress=False)
    assert r.stopped_early and r.steps < 5000
    assert r.steps - r.best_step == 30


def test_fit_and_evaluate_are_seeded():
    X, y = blobs()
    finals = []
    for _ in range(2):
        m = Tiny(6, 4, rngs=nnx.Rngs(1))
        train.fit(m, X, y, steps=20, eval_every=10, seed=4, progress=False)
        finals.append(np.asarray(m.b.kernel[...]))
    np.testing.assert_array_equal(*finals)


def test_other_optimizer_is_used():
    X, y = blobs()
    m = Tiny(6, 4, rngs=nnx.Rngs(0))
    before = np.asarray(m.a.kernel[...]).copy()
    train.fit(m, X, y, steps=5, optimizer=optax.sgd(0.0), progress=False)
    np.testing.assert_array_equal(np.asarray(m.a.kernel[...]), before)


@pytest.mark.parametrize("kwargs, match", [
    (dict(y=np.zeros(240, np.int32)), "single class"),
    (dict(y=np.arange(240, dtype=np.int32) % 5), "labels must lie in 0..3"),
    (dict(y=np.zeros(10, np.int32)), "240 inputs but labels of shape"),
    (dict(y=np.zeros(240, np.float32)), "must be integers"),
    (dict(X=np.full((240, 6), np.nan, np.float32)), "NaN or infinite"),
    (dict(X=np.zeros((240, 7), np.float32)), "does not accept inputs of shape"),
    (dict(X=np.zeros((0, 6), np.float32), y=np.zeros(0, np.int32)), "empty"),
    (dict(batch_size=0), "batch_size"),
    (dict(patience=3), "validation set"),
    (dict(n_classes=8), "model gives 4 logits"),
    (dict(val=(np.zeros((10, 5), np.float32), np.zeros(10, np.int32))), "shapes after the first axis"),
    (dict(X=[[0.0] * 6] * 240), "training set inputs must be an array .* got list; convert it with np.asarray"),
    (dict(X=np.zeros((240, 6), np.complex64)), "complex .*magnitude"),
    (dict(X=np.zeros((240, 6), np.int32)), "floating point"),
    (dict(learning_rate=float("nan")), "learning_rate must be finite"),
    (dict(optimizer="adam"), "optax.GradientTransformation"),
])
def test_fit_bad_input(kwargs, match):
    X, y = blobs()
    X, y = kwargs.pop("X", X), kwargs.pop("y", y)
    with pytest.raises(jaxmusic.ParameterError, match=match):
        train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, y, steps=2, progress=False, **kwargs)


def test_checkpoint_from_another_model_is_refused(tmp_path):
    X, y = blobs()
    train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, y, steps=4, eval_every=2, checkpoint_dir=tmp_path / "ck",
              progress=False)
    with pytest.raises(train.CheckpointError, match=r"b/bias.*\(4,\).*\(3,\)"):
        train.fit(Tiny(6, 3, rngs=nnx.Rngs(0)), X, y % 3, steps=4, checkpoint_dir=tmp_path / "ck", progress=False)
    with pytest.raises(train.CheckpointError, match="parameter"):
        train.fit(Tiny(6, 4, rngs=nnx.Rngs(0), hidden=16), X, y, steps=4, checkpoint_dir=tmp_path / "ck",
                  progress=False)


class Interrupting:
    """Training inputs whose batch reads raise KeyboardInterrupt after ``after`` batches."""

    def __init__(self, x, *, after):
        self.x, self.after, self.reads = x, after, 0
        self.shape, self.dtype = x.shape, x.dtype

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.x, dtype=dtype)

    def __getitem__(self, index):
        self.reads += 1
        if self.reads > self.after:
            raise KeyboardInterrupt
        return self.x[index]


def test_resume_in_process_continues_the_run(tmp_path):
    X, y = blobs()
    kw = dict(eval_every=10, checkpoint_every=7, val=(X[200:], y[200:]), patience=100, progress=False)
    a = Tiny(6, 4, rngs=nnx.Rngs(0))
    ra = train.fit(a, X[:200], y[:200], steps=40, checkpoint_dir=tmp_path / "a", **kw)
    b = Tiny(6, 4, rngs=nnx.Rngs(0))
    # Ctrl-C while reading batch 15 (two reads check and fingerprint the data), between evaluations 10 and 20,
    # just after the checkpoint of step 14: nothing more to save
    with pytest.raises(jaxmusic.Interrupted, match="interrupted at step 14 of 40; the last checkpoint is step 14"):
        train.fit(b, Interrupting(X[:200], after=16), y[:200], steps=40, checkpoint_dir=tmp_path / "b", **kw)
    b2 = Tiny(6, 4, rngs=nnx.Rngs(0))
    rb = train.fit(b2, X[:200], y[:200], steps=40, checkpoint_dir=tmp_path / "b", **kw)
    assert rb.resumed_from == 14 and len(rb.history) == 4 and rb.history[0]["step"] == 10
    assert rb.steps_run == rb.batches_read == 40 - 14  # the steps before the checkpoint were not run again
    strip = lambda h: [{k: v for k, v in e.items() if k not in ("seconds", "examples_per_s")} for e in h]
    assert strip(ra.history) == strip(rb.history)  # the running sums of steps 11-14 were checkpointed
    for pa, pb in zip(jax.tree.leaves(nnx.state(a, nnx.Param)), jax.tree.leaves(nnx.state(b2, nnx.Param))):
        np.testing.assert_array_equal(pa, pb)


# ------------------------------------------------------------------ real processes
def test_sharded_over_four_devices_equals_one_device(tmp_path):
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    procs = [run_worker(tmp_path / "four", "--devices", "all", env=env, wait=False),
             run_worker(tmp_path / "one", "--devices", "1", env=env, wait=False)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
    h4 = json.loads((tmp_path / "four" / "history0.json").read_text())
    h1 = json.loads((tmp_path / "one" / "history0.json").read_text())
    # the batch is split over all four devices (8 rows each), the parameters are whole on each
    assert h4["placement"] == {"devices": 4, "batch_shape": [32, 6], "batch_devices": 4,
                               "local_shards": [[8, 6]] * 4, "params_replicated": True}
    assert h1["placement"] == {"devices": 1, "batch_shape": [32, 6], "batch_devices": 1,
                               "local_shards": [[32, 6]], "params_replicated": True}
    four, one = load_params(tmp_path / "four"), load_params(tmp_path / "one")
    assert four.keys() == one.keys()
    for k in four:
        np.testing.assert_allclose(four[k], one[k], rtol=2e-5, atol=2e-6, err_msg=k)


def test_two_processes_train_as_one(tmp_path):
    port = free_port()
    procs = [run_worker(tmp_path / "multi", "--process", i, "--processes", 2, "--port", port, wait=False)
             for i in range(2)]
    single = run_worker(tmp_path / "single", wait=False)
    for p in procs + [single]:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
    p0, p1 = load_params(tmp_path / "multi", 0), load_params(tmp_path / "multi", 1)
    s = load_params(tmp_path / "single")
    h = [json.loads((tmp_path / "multi" / f"history{i}.json").read_text()) for i in range(2)]
    for hi in h:  # each process holds its half of every global batch, on its one device
        assert hi["devices"] == 2 and hi["steps_run"] == 60 == len(hi["rows"])
        assert hi["placement"] == {"devices": 2, "batch_shape": [32, 6], "batch_devices": 2,
                                   "local_shards": [[16, 6]], "params_replicated": True}
    X, y = blobs()
    sampler = train.BalancedSampler(y[:180], batch_size=32, seed=0)
    for step, (r0, r1) in enumerate(zip(h[0]["rows"], h[1]["rows"])):
        idx = sampler.indices(step).tolist()
        assert (r0, r1) == (idx[:16], idx[16:]), step  # different rows: process 0 the first half
    for k in s:
        np.testing.assert_array_equal(p0[k], p1[k], err_msg=k)
        np.testing.assert_allclose(p0[k], s[k], rtol=2e-5, atol=2e-6, err_msg=k)


def _checkpoint_steps(folder):
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())


def test_killed_run_resumes_bit_identical(tmp_path):
    # checkpoints fall between evaluations (running sums in flight), early-stopping counters move
    args = ["--steps", "700", "--every", "10", "--checkpoint-every", "7", "--patience", "1000"]
    ref = run_worker(tmp_path / "ref", *args, wait=False)
    ck = tmp_path / "ck"
    kills = []
    rng = np.random.default_rng()
    for target in (21, 280):  # kill twice: early, then later in the resumed run, a random moment after
        victim = run_worker(tmp_path / "victim", *args, "--checkpoint", ck, wait=False)
        t0 = time.time()
        while time.time() - t0 < 180 and victim.poll() is None:
            if _checkpoint_steps(ck) and max(_checkpoint_steps(ck)) >= target:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.15))
        assert victim.poll() is None, "the run finished before it could be killed"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills.append(max(_checkpoint_steps(ck)))
    run_worker(tmp_path / "victim", *args, "--checkpoint", ck)
    _, err = ref.communicate(timeout=240)
    assert ref.returncode == 0, err[-3000:]
    resumed = json.loads((tmp_path / "victim" / "history0.json").read_text())
    assert resumed["resumed_from"] >= kills[-1] > kills[0]
    # the resumed process ran only the steps after its checkpoint, and read only their batches
    done = resumed["resumed_from"]
    assert resumed["steps_run"] == resumed["batches_read"] == len(resumed["rows"]) == 700 - done
    X, y = blobs()
    assert resumed["rows"][0] == train.BalancedSampler(y[:180], batch_size=32, seed=0).indices(done).tolist()
    a, b = load_params(tmp_path / "ref"), load_params(tmp_path / "victim")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)  # bit-identical
    reference = json.loads((tmp_path / "ref" / "history0.json").read_text())
    assert reference["history"] == resumed["history"] and reference["best_step"] == resumed["best_step"]


def test_resume_with_other_options_is_refused(tmp_path):
    X, y = blobs()
    train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, y, steps=4, eval_every=2, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(train.CheckpointError, match="its seed is 0 and this run's is 1"):
        train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, y, steps=8, eval_every=2, seed=1, checkpoint_dir=tmp_path,
                  progress=False)
    with pytest.raises(train.CheckpointError, match="labels"):
        train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, (y + 1) % 4, steps=8, eval_every=2, checkpoint_dir=tmp_path,
                  progress=False)
    with pytest.raises(train.CheckpointError, match="learning_rate|optimizer_state"):
        train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, y, steps=8, eval_every=2, optimizer=optax.sgd(0.1),
                  checkpoint_dir=tmp_path, progress=False)
    X2 = X.copy()
    X2[-1, 0] += 1.0  # other features, same labels
    with pytest.raises(train.CheckpointError, match="data"):
        train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X2, y, steps=8, eval_every=2, checkpoint_dir=tmp_path,
                  progress=False)


class WithFixed(nnx.Module):
    """A fixed (non-trained) projection, then a trained layer, like a scattering front end."""

    def __init__(self, d, c, *, rngs):
        from jaxmusic.models import Fixed

        self.proj = Fixed(np.random.default_rng(0).normal(size=(d, 16)).astype(np.float32))
        self.bn = nnx.BatchNorm(16, rngs=rngs)
        self.out = nnx.Linear(16, c, rngs=rngs)

    def __call__(self, x):
        return self.out(self.bn(x @ jax.lax.stop_gradient(self.proj[...])))


def test_fixed_variables_are_arguments_and_batch_statistics_are_carried(tmp_path):
    X, y = blobs()
    model = WithFixed(6, 4, rngs=nnx.Rngs(0))
    proj = np.asarray(model.proj[...]).copy()
    steps = train.make_steps(model, optax.adam(1e-2), mesh=train.make_mesh(), n_classes=4)
    state = steps.init()
    batch = {"x": X[:32], "y": y[:32], "mask": np.ones(32, bool)}
    sums = train.replicate(train.step.zero_sums(), train.make_mesh())
    text = steps.train.lower(state, batch, sums, steps.consts).as_text()
    # the 6x16 filters are an argument of the compiled step, not a constant baked into it
    assert not [line for line in text.splitlines() if "constant" in line and "6x16" in line]
    assert "tensor<6x16xf32>" in text
    r = train.fit(model, X, y, steps=100, eval_every=20, learning_rate=1e-2, progress=False, checkpoint_dir=tmp_path)
    np.testing.assert_array_equal(np.asarray(model.proj[...]), proj)  # not trained
    assert not np.allclose(np.asarray(model.bn.mean[...]), 0)  # batch statistics moved and were kept
    assert r.history[-1]["train_accuracy"] > 60


# ------------------------------------------------------------------ minimize: the loop for models that are not classifiers
class Linear(nnx.Module):
    def __init__(self, d, k, *, rngs):
        self.l = nnx.Linear(d, k, rngs=rngs)

    def __call__(self, x):
        return self.l(x)


def regression(n=200, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    W = rng.normal(size=(d, k)).astype(np.float32)
    return X, X @ W + 0.01 * rng.normal(size=(n, k)).astype(np.float32), W


def test_shuffle_sampler_visits_every_row_once_per_epoch():
    s = train.ShuffleSampler(50, batch_size=8, seed=3)
    rows = np.concatenate([s.indices(k) for k in range(25)])  # 200 positions: 4 epochs
    for e in range(4):
        assert sorted(rows[50 * e:50 * (e + 1)]) == list(range(50))
    assert not np.array_equal(rows[:50], rows[50:100])
    np.testing.assert_array_equal(s.indices(9), train.ShuffleSampler(50, batch_size=8, seed=3).indices(9))
    assert not np.array_equal(s.indices(0), train.ShuffleSampler(50, batch_size=8, seed=4).indices(0))


def test_minimize_fits_a_linear_map(tmp_path):
    X, Y, W = regression()
    m = Linear(4, 3, rngs=nnx.Rngs(0))
    r = train.minimize(m, X[:160], Y[:160], val=(X[160:], Y[160:]), steps=300, eval_every=50,
                       learning_rate=3e-2, progress=False, out=tmp_path)
    assert r.history[-1]["val_loss"] < 1e-3 < r.history[0]["val_loss"]
    assert "train_accuracy" not in r.history[-1]
    np.testing.assert_allclose(m.l.kernel[...], W, atol=0.02)
    assert json.loads((tmp_path / "metrics.json").read_text())["history"] == r.history
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_minimize_custom_loss_and_integer_targets():
    # a model whose outputs are logits over targets of another shape: the loss compares them
    X, y = blobs()
    m = Tiny(6, 4, rngs=nnx.Rngs(0))
    with pytest.raises(jaxmusic.ParameterError, match="pass a loss"):
        train.minimize(m, X, y, steps=2, progress=False)
    r = train.minimize(m, X, y, loss=train.cross_entropy, steps=150, eval_every=50, learning_rate=1e-2,
                       progress=False)
    assert r.history[-1]["train_loss"] < 0.5 * r.history[0]["train_loss"]
    assert train.evaluate(m, X, y)["accuracy"] > 80


def test_minimize_resumes_bit_identically(tmp_path):
    X, Y, _ = regression()
    kw = dict(eval_every=10, checkpoint_every=7, val=(X[160:], Y[160:]), progress=False, learning_rate=1e-2)
    a = Linear(4, 3, rngs=nnx.Rngs(0))
    ra = train.minimize(a, X[:160], Y[:160], steps=40, checkpoint_dir=tmp_path / "a", **kw)
    b = Linear(4, 3, rngs=nnx.Rngs(0))
    # two reads check and fingerprint the data, then reading batch 16 fails: Ctrl-C saves step 15
    with pytest.raises(jaxmusic.Interrupted, match="interrupted at step 15 of 40; the last checkpoint is step 15"):
        train.minimize(b, Interrupting(X[:160], after=17), Y[:160], steps=40, checkpoint_dir=tmp_path / "b", **kw)
    b2 = Linear(4, 3, rngs=nnx.Rngs(0))
    rb = train.minimize(b2, X[:160], Y[:160], steps=40, checkpoint_dir=tmp_path / "b", **kw)
    assert rb.resumed_from == 15 and rb.steps_run == rb.batches_read == 40 - 15
    strip = lambda h: [{k: v for k, v in e.items() if k not in ("seconds", "examples_per_s")} for e in h]
    assert strip(ra.history) == strip(rb.history)
    np.testing.assert_array_equal(a.l.kernel[...], b2.l.kernel[...])
    late = Y[:160].copy()
    late[150] += 1.0  # one row far beyond the first ones
    with pytest.raises(train.CheckpointError, match="data"):
        train.minimize(Linear(4, 3, rngs=nnx.Rngs(0)), X[:160], late, steps=50, checkpoint_dir=tmp_path / "b", **kw)
    with pytest.raises(train.CheckpointError, match="val"):
        train.minimize(Linear(4, 3, rngs=nnx.Rngs(0)), X[:160], Y[:160], steps=50, checkpoint_dir=tmp_path / "b",
                       **dict(kw, val=(X[160:], 2 * Y[160:])))
    with pytest.raises(train.CheckpointError, match="learning_rate"):
        train.minimize(Linear(4, 3, rngs=nnx.Rngs(0)), X[:160], Y[:160], steps=50, checkpoint_dir=tmp_path / "b",
                       **dict(kw, learning_rate=0.5))


@pytest.mark.parametrize("bad, match", [
    (dict(y=np.zeros((10, 3), np.float32)), "200 inputs but 10 targets"),
    (dict(y=np.full((200, 3), np.nan, np.float32)), "NaN"),
    (dict(x=np.zeros((200, 5), np.float32)), "does not accept inputs"),
    (dict(val=(np.zeros((5, 4), np.float32), np.zeros((5, 2), np.float32))), "must match"),
    (dict(patience=2), "needs a validation set"),
])
def test_minimize_bad_input(bad, match):
    X, Y, _ = regression()
    kw = dict(x=X, y=Y, steps=2, progress=False)
    kw.update(bad)
    with pytest.raises(jaxmusic.ParameterError, match=match):
        train.minimize(Linear(4, 3, rngs=nnx.Rngs(0)), **kw)


# ------------------------------------------------------------------ faults: divergence, damaged and failed checkpoints
def nan_at(count):
    """An optax transformation that turns the update of step ``count`` (0-based) into NaN."""
    import jax.numpy as jnp

    def init(params):
        return {"count": jnp.zeros((), jnp.int32)}

    def update(updates, state, params=None):
        scale = jnp.where(state["count"] == count, jnp.nan, 1.0)
        return jax.tree.map(lambda u: u * scale, updates), {"count": state["count"] + 1}

    return optax.chain(optax.adam(1e-2), optax.GradientTransformation(init, update))


def test_a_diverging_run_stops_at_its_step_and_keeps_the_last_good_checkpoint(tmp_path):
    X, y = blobs()
    kw = dict(eval_every=5, checkpoint_every=5, progress=False, checkpoint_dir=tmp_path / "ck", out=tmp_path / "out")
    with pytest.raises(train.DivergedError, match=r"NaN or infinite at step 13 .*last good checkpoint is step 10"):
        train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, y, steps=30, optimizer=nan_at(12), **kw)
    assert _checkpoint_steps(tmp_path / "ck") == [5, 10]  # nothing of steps 11-13 was saved
    history = json.loads((tmp_path / "out" / "metrics.json").read_text())["history"]
    assert [e["step"] for e in history] == [5, 10] and all(np.isfinite(e["train_loss"]) for e in history)
    with pytest.raises(train.DivergedError, match="at step 3 .*no checkpoint was saved"):
        train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, y, steps=4, eval_every=4, optimizer=nan_at(2), progress=False)
    for lr in (float("nan"), float("inf"), 0.0, -1e-3):
        with pytest.raises(jaxmusic.ParameterError, match="learning_rate"):
            train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, y, steps=2, learning_rate=lr, progress=False)


def _uninterrupted(tmp_path, steps=30):
    X, y = blobs()
    m = Tiny(6, 4, rngs=nnx.Rngs(0))
    r = train.fit(m, X, y, steps=steps, eval_every=5, checkpoint_every=10, val=(X[:40], y[:40]),
                  checkpoint_dir=tmp_path / "reference", progress=False)
    return m, r


def _same(a, b):
    for pa, pb in zip(jax.tree.leaves(nnx.state(a, nnx.Param)), jax.tree.leaves(nnx.state(b, nnx.Param))):
        np.testing.assert_array_equal(pa, pb)


def _strip(h):
    return [{k: v for k, v in e.items() if k not in ("seconds", "examples_per_s")} for e in h]


@pytest.mark.parametrize("damage", ["killed during the save", "truncated", "emptied"])
def test_a_damaged_newest_checkpoint_gives_way_to_the_one_before(tmp_path, damage):
    X, y = blobs()
    ref, rr = _uninterrupted(tmp_path)
    kw = dict(eval_every=5, checkpoint_every=10, val=(X[:40], y[:40]), checkpoint_dir=tmp_path / "ck", progress=False)
    train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), X, y, steps=20, **kw)
    ck = tmp_path / "ck"
    assert _checkpoint_steps(ck) == [10, 20]
    if damage == "killed during the save":  # what a SIGKILL during Orbax's write leaves: the temporary folder
        (ck / "20").rename(ck / "20.orbax-checkpoint-tmp-1765130000000000")
    else:
        files = sorted(p for p in (ck / "20").rglob("*") if p.is_file() and p.stat().st_size > 64)
        assert files
        for f in files:
            data = f.read_bytes()
            f.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"")
    m = Tiny(6, 4, rngs=nnx.Rngs(0))
    if damage == "killed during the save":
        r = train.fit(m, X, y, steps=30, **kw)
    else:
        with pytest.warns(train.CheckpointWarning, match=r"checkpoint 20 in .* (unreadable|no readable record).*set "
                                                         r"aside as 20\.corrupt"):
            r = train.fit(m, X, y, steps=30, **kw)
        assert (ck / "20.corrupt").is_dir()  # kept for inspection, never deleted
    assert r.resumed_from == 10 and r.steps_run == 20
    assert _strip(r.history) == _strip(rr.history)
    _same(m, ref)


def _make_read_only(folder):
    """Make ``folder`` unwritable for this process (chmod; as root, the immutable attribute).
    Returns the undo, or None where the machine allows neither."""
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        return lambda: os.chmod(folder, 0o755)
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)
    return None


def test_a_checkpoint_folder_made_read_only_mid_run(tmp_path):
    X, y = blobs()
    ref, rr = _uninterrupted(tmp_path)
    ck = tmp_path / "ck"
    undo = []

    class ReadOnlyAfter:  # makes the checkpoint folder read-only while step 15's batch is read
        def __init__(self, x):
            self.x, self.shape, self.dtype, self.batches = x, x.shape, x.dtype, 0

        def __getitem__(self, index):
            if isinstance(index, np.ndarray):
                self.batches += 1
                if self.batches == 15:
                    action = _make_read_only(ck)
                    if action is None:
                        pytest.skip("neither chmod nor chattr can make a folder read-only here")
                    undo.append(action)
            return self.x[index]

    kw = dict(eval_every=5, checkpoint_every=10, val=(X[:40], y[:40]), checkpoint_dir=ck, progress=False)
    try:
        with pytest.raises(train.CheckpointError, match=r"cannot write checkpoint 20 .*newest complete checkpoint "
                                                         r"is step 10"):
            train.fit(Tiny(6, 4, rngs=nnx.Rngs(0)), ReadOnlyAfter(X), y, steps=30, **kw)
    finally:
        for action in undo:
            action()
    assert undo and _checkpoint_steps(ck) == [10]
    m = Tiny(6, 4, rngs=nnx.Rngs(0))
    r = train.fit(m, X, y, steps=30, **kw)
    assert r.resumed_from == 10 and r.steps_run == 20
    assert _strip(r.history) == _strip(rr.history)
    _same(m, ref)
