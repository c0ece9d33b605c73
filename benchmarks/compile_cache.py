"""What JAX's persistent compilation cache saves the command line, in one run.

Each command runs four times, each in a fresh interpreter (as a user runs it):
twice with ``--no-compile-cache`` and twice with the cache on in a folder that is
empty before the first of those two (``JAXMUSIC_CACHE_DIR``). The second run with
the cache is what every run after the first costs a user. Per run: the wall time
of the whole command, JAX's time tracing and lowering (the cache does not save
it), its time compiling or reading programs from the cache, and how many
programs were read from the cache out of those requested. One more row: the
first call of ``jax.jit(Scattering1D(J=8, Q=(12, 1), shape=2**16))`` in a fresh
process (compile or cache read, plus one run), where a first call is
measurable on its own.

    python benchmarks/compile_cache.py                 # recognition --quick (about 3 min a run) and hybridize
    python benchmarks/compile_cache.py --recognition "--quick --models none --features mfcc"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import load_average  # noqa: E402

# runs `jaxmusic ARGS` in this interpreter, with JAX's compile events added up
COMMAND = """
import json, sys, time
t0 = time.perf_counter()
import jax.monitoring as m
sums, counts = {}, {}
def duration(event, seconds, **kw):
    sums[event] = sums.get(event, 0.0) + seconds
def event(event, **kw):
    counts[event] = counts.get(event, 0) + 1
m.register_event_duration_secs_listener(duration)
m.register_event_listener(event)
from jaxmusic.cli import main
code = main(sys.argv[1:])
print("BENCH " + json.dumps({"code": code, "seconds": time.perf_counter() - t0, "sums": sums, "counts": counts}))
"""

FIRST_CALL = """
import json, time
t0 = time.perf_counter()
import sys
import jax, jax.numpy as jnp, numpy as np
from jaxmusic.compile_cache import enable_compile_cache
if sys.argv[1] != "off":
    enable_compile_cache(sys.argv[1])
import jaxmusic
S = jaxmusic.Scattering1D(J=8, shape=2**16, Q=(12, 1))
x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 2**16)).astype(np.float32))
f = jax.jit(S)
t1 = time.perf_counter(); f(x).block_until_ready(); first = time.perf_counter() - t1
t1 = time.perf_counter(); f(x).block_until_ready(); second = time.perf_counter() - t1
print("BENCH " + json.dumps({"first": first, "second": second, "seconds": time.perf_counter() - t0}))
"""

TRACE = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration")
COMPILE = "/jax/core/compile/backend_compile_duration"  # a compilation, or a read from the cache
REQUESTS, HITS = "/jax/compilation_cache/compile_requests_use_cache", "/jax/compilation_cache/cache_hits"


def _run(code: str, args: list[str], env: dict, cwd: Path) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("BENCH ")]
    if p.returncode or not lines:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1], "wall": wall}
    return dict(json.loads(lines[-1][len("BENCH "):]), wall=wall)


def _command_runs(name: str, make_args, work: Path) -> list[dict]:
    """Four runs of one command: two without the cache, two with a fresh one."""
    cache = work / f"cache-{name}"
    rows = []
    for mode, k in (("off", 1), ("off", 2), ("on", 1), ("on", 2)):
        args = make_args(work / f"{name}-{mode}-{k}")
        env = dict(os.environ, JAXMUSIC_CACHE_DIR=str(cache))
        r = _run(COMMAND, (["--no-compile-cache"] if mode == "off" else []) + args, env, work)
        rows.append(dict(r, command=name, cache=mode, run=k))
        _print_row(rows[-1])
    return rows


def _print_header():
    print(f"{'command':<24} {'cache':<6} {'run':>3} {'wall s':>8} {'trace+lower s':>14} {'compile/read s':>15} "
          f"{'read / programs':>16}")


def _print_row(r: dict) -> None:
    if "error" in r:
        print(f"{r['command']:<24} {r['cache']:<6} {r['run']:>3} error: {r['error']}")
        return
    sums, counts = r["sums"], r["counts"]
    trace = sum(sums.get(e, 0.0) for e in TRACE)
    requests, hits = counts.get(REQUESTS, 0), counts.get(HITS, 0)
    programs = f"{hits} / {requests}" if r["cache"] == "on" else "- / -"
    print(f"{r['command']:<24} {r['cache']:<6} {r['run']:>3} {r['wall']:8.1f} {trace:14.1f} "
          f"{sums.get(COMPILE, 0.0):15.1f} {programs:>16}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recognition", default="--quick",
                   help="arguments of `jaxmusic recognition` (default --quick)")
    p.add_argument("--skip-recognition", action="store_true")
    args = p.parse_args(argv)
    sound_a, sound_b = "gm8:flute", "gm8:trumpet"
    print(f"JAX's persistent compilation cache, each run a fresh process ({load_average()})")
    with tempfile.TemporaryDirectory(prefix="jaxmusic-bench-") as tmp:
        work = Path(tmp)
        _print_header()
        _command_runs("hybridize envelope", lambda out: ["hybridize", "--method", "envelope", sound_a, sound_b,
                                                         "-o", str(out) + ".wav"], work)
        if not args.skip_recognition:
            rec = shlex.split(args.recognition)
            _command_runs("recognition " + " ".join(rec)[:12], lambda out: ["recognition", *rec, "--no-progress",
                                                                            "--out", str(out)], work)
        print()
        print(f"{'first call of jit(Scattering1D(J=8, Q=(12,1), shape=2**16)), batch 4':<70} {'first s':>8} "
              f"{'second s':>9} {'process s':>10}")
        cache = work / "cache-first-call"
        for mode, k, where in (("off", 1, "off"), ("off", 2, "off"), ("on", 1, str(cache)), ("on", 2, str(cache))):
            r = _run(FIRST_CALL, [where], dict(os.environ), work)
            label = f"cache {mode}, run {k}"
            if "error" in r:
                print(f"{label:<70} error: {r['error']}")
            else:
                print(f"{label:<70} {r['first']:8.2f} {r['second']:9.3f} {r['seconds']:10.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
