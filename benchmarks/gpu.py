"""Every transform and two train steps on one accelerator, in one command: throughput and peak memory.

    python benchmarks/gpu.py [--out benchmarks/results/gpu.json] [--only NAME ...]
    python benchmarks/gpu.py --cpu [--in-process]   # small sizes on the CPU: checks the script end to end

Cases (the sizes of kymatio's published benchmark: 64 signals of 2**16 samples):

==================  =======================================================================
scattering1d        Scattering1D J=8 Q=(12, 1), batch 64 x 2**16
jtfs                TimeFrequencyScattering J=8 J_fr=3 Q=(12, 1), batch 32 x 2**16
spiral              SpiralScattering J=8 Q=12, batch 64 x 2**16
cqt, mel, mfcc      the CQT (84 bins), mel spectrogram and MFCC at 22050 Hz, batch 64 x 2**16
convnet-train       one train step (forward, backward, Adam) of the 2-d ConvNet, batch 32 of
                    96 x 128 CQT frames, through `jaxmusic.train.make_steps`
translator-train    one train step of the tiny WaveNet translator (two alternating updates),
                    batch 8 crops of 2048 samples
kymatio-torch       kymatio's Scattering1D on its torch backend, same size as scattering1d,
                    when torch and kymatio import (``KYMATIO_PATH`` or installed)
==================  =======================================================================

Each case runs in its own process (a case that fails or runs out of memory is
reported and the others go on), times its compiled call best of ``--repeats``
after a first call (compilation, timed apart), and reads the device's peak memory
(``memory_stats()['peak_bytes_in_use']`` for JAX, ``max_memory_allocated`` for
torch; the process's resident peak on the CPU). The table is printed as markdown
and all figures go to one JSON file (written atomically). kymatio's published
figures for this size are 0.15 s per batch on a V100 (torch backend) and 0.11 s
(skcuda); jaxmusic's goal on a current GPU is 15 ms.

On the lent GPU machine (JAX with CUDA, flax, optax and torch are there; soundfile,
which ``import jaxmusic`` loads, is not) carry soundfile and its needs as wheels,
and kymatio as source::

    pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
        -d .whl soundfile cffi pycparser appdirs
    # then, there:  pip install --no-index --no-deps --target /tmp/site .whl/*.whl
    #               PYTHONPATH=/tmp/site:. KYMATIO_PATH=kymatio python3 benchmarks/gpu.py

It finishes in about 5 minutes on one GPU (most of it compiling); ``--timeout``
bounds each case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _harness import check_result_file, write_result_file  # noqa: E402

RESULTS = os.path.join(HERE, "results", "gpu.json")
CASES = ("scattering1d", "jtfs", "spiral", "cqt", "mel", "mfcc", "convnet-train", "translator-train",
         "kymatio-torch")
# name: (full size, --cpu size); a size is (batch, samples) for transforms
SIZES = {
    "scattering1d": ((64, 2**16), (2, 2**13)),
    "jtfs": ((32, 2**16), (1, 2**13)),
    "spiral": ((64, 2**16), (1, 2**13)),
    "cqt": ((64, 2**16), (2, 2**14)),
    "mel": ((64, 2**16), (2, 2**14)),
    "mfcc": ((64, 2**16), (2, 2**14)),
    "convnet-train": ((32, 128), (4, 64)),  # batch, frames
    "translator-train": ((8, 2048), (2, 512)),  # batch, crop
    "kymatio-torch": ((64, 2**16), (2, 2**13)),
}


# ------------------------------------------------------------------ workers
def _best(call, sync, repeats):
    """(first call, best of ``repeats``) seconds; one untimed call between them lets a
    train step whose state changes placement after its first call compile once more."""
    t0 = time.perf_counter()
    sync(call())
    first = time.perf_counter() - t0
    sync(call())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sync(call())
        times.append(time.perf_counter() - t0)
    return first, min(times)


def _jax_peak():
    import resource

    import jax

    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**30, "device"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "process resident"


def _transform(name, batch, n):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxmusic import Scattering1D, SpiralScattering, TimeFrequencyScattering, features

    sr = 22050
    J = 8 if n >= 2**14 else 6
    build = {
        "scattering1d": lambda: Scattering1D(J=J, shape=n, Q=(12, 1)),
        "jtfs": lambda: TimeFrequencyScattering(J=J, J_fr=3, shape=n, Q=(12, 1)),
        "spiral": lambda: SpiralScattering(J=J, shape=n, Q=12),
        "cqt": lambda: features.CQT(sr=sr),
        "mel": lambda: features.MelSpectrogram(sr=sr),
        "mfcc": lambda: features.MFCC(sr=sr, n_mfcc=20),
    }[name]
    S = build()
    x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, n)).astype(np.float32))
    f = jax.jit(lambda x: S(x))
    first, best = _best(lambda: f(x), jax.block_until_ready, ARGS.repeats)
    y = f(x)
    if not bool(jnp.all(jnp.isfinite(y))):
        raise RuntimeError("non-finite output")
    return dict(what=f"{type(S).__name__} J={J}" if name in ("scattering1d", "jtfs", "spiral") else type(S).__name__,
                shape=[batch, n], output=list(y.shape), first_call_s=first, s_per_batch=best,
                per_second=batch / best, unit="signals")


def _time_train_step(model, steps, host, mesh):
    """(first call, best, parameter count) of ``steps.train`` on one batch ``host``, as
    `jaxmusic.train`'s loop calls it (state and sums placed on the mesh)."""
    import jax
    import numpy as np
    from flax import nnx

    from jaxmusic.train import replicate, shard_batch
    from jaxmusic.train.step import zero_sums

    batch = len(host["y"])
    data = shard_batch(lambda rows: {k: v[rows] for k, v in host.items()}, batch, mesh)
    box = {"state": steps.init(), "sums": replicate(zero_sums(), mesh)}

    def step():
        box["state"], box["sums"] = steps.train(box["state"], data, box["sums"], steps.consts)
        return box["sums"]

    first, best = _best(step, jax.block_until_ready, ARGS.repeats)
    if not np.isfinite(float(box["sums"]["loss"])):
        raise RuntimeError("non-finite loss")
    params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
    return first, best, params


def _convnet(batch, frames):
    import numpy as np
    import optax
    from flax import nnx

    from jaxmusic.models.convnet import InstrumentConvNet
    from jaxmusic.train import make_mesh, make_steps

    model = InstrumentConvNet(branches=("2-d",), n_classes=8, n_frames=frames, rngs=nnx.Rngs(0))
    mesh = make_mesh()
    rng = np.random.default_rng(0)
    host = {"x": rng.standard_normal((batch, 96, frames, 1)).astype(np.float32),
            "y": rng.integers(0, 8, batch).astype(np.int32), "mask": np.ones(batch, bool)}
    first, best, params = _time_train_step(model, make_steps(model, optax.adam(1e-3), mesh=mesh, n_classes=8),
                                           host, mesh)
    return dict(what=f"InstrumentConvNet 2-d, {params} parameters", shape=[batch, 96, frames],
                first_call_s=first, s_per_batch=best, per_second=batch / best, unit="examples")


def _translator(batch, crop):
    import numpy as np
    from flax import nnx

    from jaxmusic.models.wavenet import MusicTranslator
    from jaxmusic.synthesis.wavenet import _translator_steps
    from jaxmusic.train import make_mesh

    model = MusicTranslator(config="tiny", n_domains=2, rngs=nnx.Rngs(0))
    mesh = make_mesh()
    steps = _translator_steps(model, learning_rate=1e-3, lambda_=1e-2, augment=True, seed=0, mesh=mesh)
    t = np.arange(crop) / 8000.0
    host = {"x": (0.3 * np.sin(2 * np.pi * 220 * t)[None] * np.ones((batch, 1))).astype(np.float32),
            "y": np.zeros(batch, np.int32), "mask": np.ones(batch, bool)}
    first, best, params = _time_train_step(model, steps, host, mesh)
    return dict(what=f"MusicTranslator tiny, 2 domains, {params} parameters", shape=[batch, crop],
                first_call_s=first, s_per_batch=best, per_second=batch / best, unit="crops")


def _kymatio_torch(batch, n):
    try:
        import torch
        from kymatio.torch import Scattering1D
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return dict(skipped=f"kymatio's torch backend does not import here ({type(e).__name__}: {e})")
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    J = 8 if n >= 2**14 else 6
    S = Scattering1D(J=J, shape=n, Q=(12, 1)).to(dev)
    x = torch.randn(batch, n, device=dev)
    sync = (lambda _: torch.cuda.synchronize()) if dev == "cuda" else (lambda _: None)
    with torch.no_grad():
        first, best = _best(lambda: S(x), sync, ARGS.repeats)
    if dev == "cuda":
        peak, where = torch.cuda.max_memory_allocated() / 2**30, "device"
    else:
        import resource
        peak, where = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "process resident"
    return dict(what=f"kymatio Scattering1D J={J} (torch {torch.__version__}, {dev})", shape=[batch, n],
                first_call_s=first, s_per_batch=best, per_second=batch / best, unit="signals",
                peak_gb=peak, peak_of=where, device=torch.cuda.get_device_name() if dev == "cuda" else "cpu")


def worker(name):
    size = SIZES[name][1 if ARGS.cpu else 0]
    if name == "kymatio-torch":
        return _kymatio_torch(*size)
    import jax

    if name == "convnet-train":
        r = _convnet(*size)
    elif name == "translator-train":
        r = _translator(*size)
    else:
        r = _transform(name, *size)
    r["peak_gb"], r["peak_of"] = _jax_peak()
    d = jax.devices()[0]
    r["device"] = f"{d.platform}: {getattr(d, 'device_kind', '')}"
    r["jax"] = jax.__version__
    return r


# ------------------------------------------------------------------ driver
def run_case(name, a) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--repeats", str(a.repeats)]
    if a.cpu:
        cmd.append("--cpu")
    env = dict(os.environ)
    if a.cpu:
        env["JAX_PLATFORMS"] = "cpu"
        env["CUDA_VISIBLE_DEVICES"] = ""
    root = os.path.dirname(HERE)
    paths = [root] + ([env["KYMATIO_PATH"]] if env.get("KYMATIO_PATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")])
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        return dict(name=name, error=f"timed out after {a.timeout} s")
    wall = time.perf_counter() - t0
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        err = (out.stderr.strip().splitlines() or ["failed"])[-1]
        return dict(name=name, error=err[:300], wall_s=wall)
    return dict(name=name, wall_s=wall, **json.loads(lines[-1]))


def run_in_process(name) -> dict:
    t0 = time.perf_counter()
    try:
        r = worker(name)
    except Exception as e:  # noqa: BLE001 - reported like a failed process
        return dict(name=name, error=f"{type(e).__name__}: {e}"[:300])
    if "peak_of" in r:
        r["peak_of"] += " (the whole run so far)"
    return dict(name=name, wall_s=time.perf_counter() - t0, **r)


def table(rows) -> str:
    head = "| case | what | size | s/batch | per second | first call s | peak GB |\n|---|---|---|---:|---:|---:|---:|"
    lines = [head]
    for r in rows:
        if "error" in r or "skipped" in r:
            lines.append(f"| {r['name']} | {r.get('error') or r.get('skipped')} | | | | | |")
            continue
        lines.append(f"| {r['name']} | {r['what']} | {' x '.join(map(str, r['shape']))} | {r['s_per_batch']:.4f} | "
                     f"{r['per_second']:.1f} {r['unit']} | {r['first_call_s']:.1f} | {r['peak_gb']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu", action="store_true", help="small sizes on the CPU (checks the script end to end)")
    p.add_argument("--only", nargs="+", choices=CASES, help="the cases to run (default: all)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--timeout", type=float, default=240.0, help="seconds allowed to each case")
    p.add_argument("--out", default=RESULTS, help="the JSON file written (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace an --out file this script did not write")
    p.add_argument("--in-process", action="store_true",
                   help="run every case in this process (quicker; peak memory is then the whole run's)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    ARGS = a = p.parse_args(argv)
    if a.cpu:  # before jax is imported, here or in a worker
        os.environ["JAX_PLATFORMS"] = "cpu"
    if a.worker:
        print(json.dumps(worker(a.worker)), flush=True)
        return 0
    check_result_file(a.out, "gpu", force=a.force)
    rows = []
    t0 = time.perf_counter()
    for name in a.only or CASES:
        r = run_in_process(name) if a.in_process else run_case(name, a)
        rows.append(r)
        done = r.get("error") or r.get("skipped") or f"{r['s_per_batch']:.4f} s/batch, peak {r['peak_gb']:.2f} GB"
        print(f"{name}: {done}", flush=True)
    device = next((r["device"] for r in rows if "device" in r), "unknown")
    print(f"\n{device}, {'--cpu sizes' if a.cpu else 'full sizes'}, best of {a.repeats}, "
          f"{time.perf_counter() - t0:.0f} s in all\n")
    print(table(rows))
    write_result_file(a.out, "gpu", dict(device=device, cpu_sizes=a.cpu, repeats=a.repeats, rows=rows,
                                         total_s=time.perf_counter() - t0))
    failed = [r["name"] for r in rows if "error" in r]
    return 1 if failed else 0


ARGS = None

if __name__ == "__main__":
    sys.exit(main())
