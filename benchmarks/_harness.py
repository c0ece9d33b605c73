"""Shared timing harness: each library runs in its own subprocess so that peak
memory (ru_maxrss) is its own, and both are measured in the same run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time


def kymatio_path() -> str | None:
    """Where kymatio is importable from: $KYMATIO_PATH, else an installed kymatio."""
    path = os.environ.get("KYMATIO_PATH")
    if path:
        return path
    try:
        import importlib.util

        return "" if importlib.util.find_spec("kymatio") else None
    except Exception:
        return None


# SciPy >= 1.17 removed scipy.special.sph_harm, which kymatio.jax imports.
SCIPY_SHIM = """
import scipy.special as _sp
if not hasattr(_sp, "sph_harm"):
    _sp.sph_harm = lambda m, n, theta, phi: _sp.sph_harm_y(n, m, phi, theta)
"""

RUNNER = """
import json, resource, sys, time
{prelude}
import jax, jax.numpy as jnp, numpy as np
{setup}
x = jnp.asarray(np.random.default_rng(0).standard_normal(({batch}, {n})).astype(np.float32))
f = jax.jit(lambda x: {call})
t0 = time.perf_counter(); f(x).block_until_ready(); compile_s = time.perf_counter() - t0
times = []
for _ in range({repeats}):
    t0 = time.perf_counter(); f(x).block_until_ready(); times.append(time.perf_counter() - t0)
print(json.dumps(dict(compile_s=compile_s, best_s=min(times), median_s=sorted(times)[len(times) // 2],
                      peak_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)))
"""


def measure(setup: str, call: str, *, batch: int, n: int, repeats: int, prelude: str = "",
            pythonpath: str | None = None) -> dict:
    """Run one timed case in a fresh interpreter and return its figures."""
    code = RUNNER.format(prelude=prelude, setup=textwrap.dedent(setup), call=call,
                         batch=batch, n=n, repeats=repeats)
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(rows: dict[str, dict], reference: str) -> None:
    """Print a table of the measured cases with ratios against ``reference``."""
    ref = rows.get(reference, {})
    print(f"{'':24s} {'s/batch':>9s} {'compile s':>10s} {'peak GB':>8s} {'speed-up':>9s}")
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:24s} error: {r['error']}")
            continue
        ratio = ref["best_s"] / r["best_s"] if "best_s" in ref else float("nan")
        print(f"{name:24s} {r['best_s']:9.3f} {r['compile_s']:10.2f} {r['peak_gb']:8.2f} {ratio:8.2f}x")


def best_of(f, repeats):
    """In-process timing of a JAX call: (first call seconds, best of ``repeats`` further
    calls, last result); the first call includes compilation."""
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(f())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(f())
        times.append(time.perf_counter() - t0)
    return first, min(times), out


COMPILE_RUNNER = """
import json, resource, sys, time
{prelude}
import jax, jax.numpy as jnp, numpy as np
{setup}
x = jnp.asarray(np.random.default_rng(0).standard_normal(({batch}, {n})).astype(np.float32))
f = jax.jit(lambda x: {call})
t0 = time.perf_counter(); g = f.lower(x).compile(); compile_s = time.perf_counter() - t0
t0 = time.perf_counter(); g(x).block_until_ready(); first_run_s = time.perf_counter() - t0
times = []
for _ in range({repeats}):
    t0 = time.perf_counter(); f(x).block_until_ready(); times.append(time.perf_counter() - t0)
n_compiled = f._cache_size()
print(json.dumps(dict(compile_s=compile_s, first_call_s=compile_s + first_run_s, best_s=min(times),
                      recompiled=n_compiled != 1,
                      peak_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)))
"""


def measure_compile(setup: str, call: str, *, batch: int, n: int, repeats: int = 1,
                    prelude: str = "", pythonpath: str | None = None) -> dict:
    """Like `measure`, with the compilation timed apart (``jit(...).lower(x).compile()``):
    ``compile_s``, ``first_call_s`` (compilation plus one run, what a first call costs),
    ``best_s`` of ``repeats`` further calls through the same ``jit`` (which must not
    compile again: ``recompiled``) and the process's peak memory."""
    code = COMPILE_RUNNER.format(prelude=prelude, setup=textwrap.dedent(setup), call=call,
                                 batch=batch, n=n, repeats=repeats)
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_average() -> str:
    """The 1-minute load average and the CPU count, for the record (timings on a
    shared machine are only comparable within one run)."""
    try:
        return f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    except OSError:
        return f"{os.cpu_count()} CPUs"


def check_result_file(path: str, kind: str, *, force: bool = False) -> None:
    """Refuse (exit with a message) to write the results of benchmark ``kind`` over a file
    that an earlier run of the same benchmark did not write, unless ``force``: checked
    before any work, so that a wrong ``--out`` costs nothing and loses nothing."""
    if force or not os.path.lexists(path):
        return
    try:
        with open(path) as fh:
            ours = json.load(fh).get("benchmark") == kind
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        sys.exit(f"{path} exists and was not written by benchmarks/{kind}.py: choose another path, "
                 "or pass --force to replace it")


def write_result_file(path: str, kind: str, result: dict) -> None:
    """Write ``result`` (marked as benchmark ``kind``'s) to ``path`` as JSON, atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(dict(benchmark=kind, **result), fh, indent=1)
    os.replace(tmp, path)
