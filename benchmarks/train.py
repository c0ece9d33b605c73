"""Train-step throughput: jaxmusic's InstrumentConvNet vs the same network in Keras 3 (JAX backend).

    python benchmarks/train.py [--batch 32] [--steps 20] [--repeats 3]
                               [--branches spiral 1-d 2-d] [--keras-loop fit|train_on_batch]
                               [--no-check]

One train step is forward + backward + Adam update (learning rate 1e-3) of the
ConvNet of Lostanlen & Cella (ISMIR 2016) on a (batch, 96, 128, 1) CQT input,
8 classes, softmax cross-entropy, dropout 0.5 active. jaxmusic runs
`jaxmusic.train.make_steps(...).train` on the one-device mesh of `make_mesh`;
Keras runs its own compiled train step (``jit_compile=True``) through
``model.fit`` over ``--steps`` batches (or a ``train_on_batch`` loop). The
Keras model is written with the functional API (Cropping2D, Conv2D, LeakyReLU,
MaxPooling2D, Add, Flatten, Concatenate, Dropout, Dense) and must have exactly
jaxmusic's parameter count, or the script fails. Unless ``--no-check``, a third
process copies jaxmusic's weights into the Keras model and compares the logits
of both in inference mode.

Each library runs in its own process (the script calls itself with
``--worker``), so threads, caches and peak memory are its own. Reported per
library: compile time (first step, including tracing), steady-state ms per step
(best of ``--repeats`` runs of ``--steps`` steps, first call excluded),
examples/s, process CPU time per step (all threads; less sensitive than wall
time to other load on the machine), peak resident memory (``ru_maxrss``), and
the throughput ratio jaxmusic/Keras (> 1: jaxmusic faster). The table is printed as markdown and
written to ``benchmarks/results/train.json``.

Keras is a benchmark-only dependency: ``pip install keras``. ``XLA_FLAGS`` and
other environment variables reach both workers unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

BRANCHES = ("spiral", "1-d", "2-d")
N_BINS, N_FRAMES, BPO, N_CLASSES, FILTERS, HIDDEN, SLOPE, RATE = 96, 128, 12, 8, 32, 64, 0.3, 0.5
LEARNING_RATE = 1e-3
HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results", "train.json")


# ------------------------------------------------------------------ shared
def _data(batch: int, n_batches: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_batches * batch, N_BINS, N_FRAMES, 1)).astype(np.float32)
    y = rng.integers(0, N_CLASSES, n_batches * batch).astype(np.int32)
    return x, y


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _ordered(branches) -> tuple[str, ...]:
    return tuple(b for b in BRANCHES if b in branches)


# ------------------------------------------------------------------ Keras model
def keras_model(branches, *, n_classes: int = N_CLASSES, seed: int = 0):
    """The three-branch ConvNet (or a subset) with the Keras functional API."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input((N_BINS, N_FRAMES, 1), name="cqt")

    def rows(lo, hi, name):  # input bins [lo, hi)
        return layers.Cropping2D(((lo, N_BINS - hi), (0, 0)), name=name)(inp)

    def conv(h, kernel, name, padding="valid"):
        h = layers.Conv2D(FILTERS, kernel, padding=padding, name=name)(h)
        return layers.LeakyReLU(negative_slope=SLOPE, name=name + "_act")(h)

    parts = []
    for b in _ordered(branches):
        if b == "spiral":
            # octaves 2-5 as three half-overlapping two-octave bands, one conv each, summed
            bands = [
                layers.Conv2D(FILTERS, (3, 5), padding="valid", name=f"spiral_band{i}")(
                    rows((1 + i) * BPO, (3 + i) * BPO, f"spiral_rows{i}"))
                for i in range(3)
            ]
            h = layers.LeakyReLU(negative_slope=SLOPE, name="spiral_band_act")(layers.Add(name="spiral_sum")(bands))
            h = layers.MaxPooling2D((3, 5), name="spiral_pool1")(h)
            h = conv(h, (5, 5), "spiral_conv2")
            h = layers.MaxPooling2D((h.shape[1], 5), name="spiral_pool2")(h)
        elif b == "1-d":
            h = conv(rows(N_BINS - 3 * BPO, N_BINS, "oned_rows"), (3 * BPO, 5), "oned_conv1")
            h = layers.MaxPooling2D((1, 5), name="oned_pool1")(h)
            h = conv(h, (1, 5), "oned_conv2", padding="same")
            h = layers.MaxPooling2D((1, 6), name="oned_pool2")(h)
        else:
            h = conv(inp, (5, 5), "twod_conv1")
            h = layers.MaxPooling2D((3, 5), name="twod_pool1")(h)
            h = conv(h, (5, 5), "twod_conv2")
            h = layers.MaxPooling2D((3, 5), name="twod_pool2")(h)
        parts.append(layers.Flatten(name=f"{b}_flat".replace("-", ""))(h))
    h = layers.Concatenate(name="concat")(parts) if len(parts) > 1 else parts[0]
    h = layers.Dropout(RATE, name="dropout1")(h)
    h = layers.LeakyReLU(negative_slope=SLOPE, name="dense_act")(layers.Dense(HIDDEN, name="dense")(h))
    h = layers.Dropout(RATE, name="dropout2")(h)
    out = layers.Dense(n_classes, name="logits")(h)
    return keras.Model(inp, out, name="instrument_convnet")


def _keras_compile(model):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],  # jaxmusic's step also sums loss and correct rows
        jit_compile=True,
    )


# ------------------------------------------------------------------ workers
def worker_keras(a) -> dict:
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import keras

    assert keras.backend.backend() == "jax", keras.backend.backend()
    model = keras_model(a.branches)
    _keras_compile(model)
    x, y = _data(a.batch, a.steps)

    def sync():
        jax.block_until_ready([v.value for v in model.variables])

    if a.keras_loop == "fit":
        def run(n):
            model.fit(x[: n * a.batch], y[: n * a.batch], batch_size=a.batch, epochs=1,
                      steps_per_epoch=n, shuffle=False, verbose=0)
            sync()
    else:
        def run(n):
            for i in range(n):
                model.train_on_batch(x[i * a.batch:(i + 1) * a.batch], y[i * a.batch:(i + 1) * a.batch])
            sync()

    t0 = time.perf_counter()
    run(1)
    compile_s = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(a.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        run(a.steps)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return dict(library=f"keras {keras.__version__} ({a.keras_loop}, jax {jax.__version__})",
                params=int(model.count_params()), compile_s=compile_s, times_s=times, cpu_s=cpu)


def worker_jaxmusic(a) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax import nnx

    import jaxmusic
    from jaxmusic.models.convnet import InstrumentConvNet
    from jaxmusic.train import make_mesh, make_steps, replicate, shard_batch
    from jaxmusic.train.step import zero_sums

    model = InstrumentConvNet(branches=tuple(a.branches), n_classes=N_CLASSES, n_frames=N_FRAMES,
                              rngs=nnx.Rngs(0))
    params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
    mesh = make_mesh()
    steps = make_steps(model, optax.adam(LEARNING_RATE), mesh=mesh, n_classes=N_CLASSES)
    x, y = _data(a.batch, 1)
    host = {"x": x, "y": y, "mask": np.ones(a.batch, bool)}
    batch = shard_batch(lambda rows: {k: v[rows] for k, v in host.items()}, a.batch, mesh)
    state, sums = steps.init(), replicate(zero_sums(), mesh)  # as jaxmusic.train.fit does

    t0 = time.perf_counter()
    state, sums = steps.train(state, batch, sums, steps.consts)
    jax.block_until_ready((state, sums))
    compile_s = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(a.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            state, sums = steps.train(state, batch, sums, steps.consts)
        jax.block_until_ready((state, sums))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert bool(jnp.isfinite(sums["loss"])), "non-finite loss"
    return dict(library=f"jaxmusic {getattr(jaxmusic, '__version__', '?')} (jax {jax.__version__})",
                params=params, compile_s=compile_s, times_s=times, cpu_s=cpu)


def worker_check(a) -> dict:
    """Copy jaxmusic's initial weights into the Keras model; compare inference logits."""
    os.environ["KERAS_BACKEND"] = "jax"
    import numpy as np
    from flax import nnx

    from jaxmusic.models.convnet import InstrumentConvNet

    net = InstrumentConvNet(branches=tuple(a.branches), n_classes=N_CLASSES, n_frames=N_FRAMES,
                            rngs=nnx.Rngs(0))
    net.eval()
    km = keras_model(a.branches)

    def put(name, layer):  # nnx.Conv / nnx.Linear kernels are HWIO / (in, out), as Keras's
        km.get_layer(name).set_weights([np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])])

    try:
        if net.spiral is not None:
            for i, band in enumerate(net.spiral.bands):
                put(f"spiral_band{i}", band)
            put("spiral_conv2", net.spiral.conv2)
        if net.conv1d is not None:
            put("oned_conv1", net.conv1d.conv1)
            put("oned_conv2", net.conv1d.conv2)
        if net.conv2d is not None:
            put("twod_conv1", net.conv2d.conv1)
            put("twod_conv2", net.conv2d.conv2)
        put("dense", net.dense)
        put("logits", net.logits)
    except (AttributeError, ValueError) as e:
        return dict(check="skipped", reason=f"cannot map jaxmusic's layers onto Keras's: {e}")
    x, _ = _data(4, 1, seed=1)
    ours = np.asarray(net(x))
    theirs = np.asarray(km(x, training=False))
    err = float(np.max(np.abs(ours - theirs)) / max(float(np.max(np.abs(theirs))), 1e-30))
    return dict(check="ok" if err < 1e-4 else "MISMATCH", max_rel_err=err)


WORKERS = {"keras": worker_keras, "jaxmusic": worker_jaxmusic, "check": worker_check}


def _spawn(name: str, a) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--batch", str(a.batch),
           "--steps", str(a.steps), "--repeats", str(a.repeats), "--keras-loop", a.keras_loop,
           "--branches", *a.branches]
    env = dict(os.environ, KERAS_BACKEND="jax")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{name} worker failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ report
def _row(r: dict, batch: int, steps: int) -> dict:
    best = min(r["times_s"])
    return dict(r, ms_per_step=1e3 * best / steps, examples_per_s=batch * steps / best,
                cpu_ms_per_step=1e3 * min(r["cpu_s"]) / steps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=20, help="train steps per timed run")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    p.add_argument("--branches", nargs="+", default=list(BRANCHES), choices=BRANCHES)
    p.add_argument("--keras-loop", choices=("fit", "train_on_batch"), default="fit")
    p.add_argument("--no-check", action="store_true", help="skip the weight-copy equivalence check")
    p.add_argument("--output", default=RESULTS, help="JSON file written (default benchmarks/results/train.json)")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if len(set(a.branches)) != len(a.branches):
        p.error(f"a branch is named twice: {a.branches}")
    a.branches = list(_ordered(a.branches))  # jaxmusic's feature order

    if a.worker:
        result = WORKERS[a.worker](a)
        result["peak_rss_mb"] = _peak_mb()
        print(json.dumps(result))
        return

    print(f"InstrumentConvNet {'+'.join(a.branches)}, batch {a.batch} x (96, 128, 1), {N_CLASSES} classes, "
          f"Adam; best of {a.repeats} x {a.steps} steps, CPU cores: {os.cpu_count()}")
    rows = {}
    for name in ("jaxmusic", "keras"):
        rows[name] = _row(_spawn(name, a), a.batch, a.steps)
    check = None if a.no_check else _spawn("check", a)

    print(f"parameters: jaxmusic {rows['jaxmusic']['params']:,}, keras {rows['keras']['params']:,}")
    if rows["jaxmusic"]["params"] != rows["keras"]["params"]:
        raise SystemExit("parameter counts differ: the two networks are not the same architecture")
    if check is not None:
        print(f"weights copied jaxmusic -> keras, inference logits: {check}")
        if check.get("check") == "MISMATCH":
            raise SystemExit("the two networks compute different logits")

    ratio = rows["jaxmusic"]["examples_per_s"] / rows["keras"]["examples_per_s"]
    print()
    print("| library | params | compile s | ms/step | examples/s | CPU ms/step | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows.values():
        print(f"| {r['library']} | {r['params']:,} | {r['compile_s']:.2f} | {r['ms_per_step']:.1f} "
              f"| {r['examples_per_s']:.1f} | {r['cpu_ms_per_step']:.0f} | {r['peak_rss_mb']:.0f} |")
    cpu_ratio = rows["keras"]["cpu_ms_per_step"] / rows["jaxmusic"]["cpu_ms_per_step"]
    print(f"\njaxmusic/Keras throughput: {ratio:.2f}x (wall time); {cpu_ratio:.2f}x in CPU time per step")

    os.makedirs(os.path.dirname(os.path.abspath(a.output)), exist_ok=True)
    with open(a.output, "w") as f:
        json.dump(dict(batch=a.batch, steps=a.steps, repeats=a.repeats, branches=a.branches,
                       keras_loop=a.keras_loop, n_classes=N_CLASSES, input=[N_BINS, N_FRAMES, 1],
                       cpu_count=os.cpu_count(), xla_flags=os.environ.get("XLA_FLAGS", ""),
                       results=rows, check=check, ratio_jaxmusic_over_keras=ratio,
                       cpu_ratio_jaxmusic_over_keras=cpu_ratio), f, indent=2)
    print(f"written {os.path.relpath(a.output)}")


if __name__ == "__main__":
    main()
