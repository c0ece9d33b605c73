"""Spiral scattering: time per signal against a baseline commit and against a work floor.

In one process, under ``jax.jit``, for each configuration and batch size: paths, compile
time (first call minus a steady call), time per signal (best of ``--reps`` steady calls;
the baseline and the current code alternate, so both see the same load), the work the
transform's output needs (FFT flops, multiply-add flops of the GEMMs and products,
pointwise flops: see `work`), the time that work takes at this machine's measured FFT,
GEMM and pointwise rates (the "floor"), and the ratio of the measured time to it.

The baseline is `SpiralScattering` as it was at a git revision (``--baseline``, default
``f58b507``, before the Speed II rewrite), loaded from ``git show`` into a scratch
module so the two run side by side; ``--baseline none`` skips it.

    python benchmarks/spiral.py                       # J=8 2**16 and J=10 2**15, Q=12, batch 1 and 8
    python benchmarks/spiral.py --cases 10,12,15 --batches 1 --reps 5
    python benchmarks/spiral.py --F 12                # also the F-averaged spiral
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxmusic.scattering import spiral  # noqa: E402


def load_baseline(rev: str):
    """`jaxmusic.scattering.spiral` as it was at git revision ``rev``, as a module of the
    package (its relative imports resolve against today's package)."""
    src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:jaxmusic/scattering/spiral.py"],
                         capture_output=True, text=True, check=True).stdout
    name = "jaxmusic.scattering._spiral_baseline"
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "jaxmusic.scattering"
    sys.modules[name] = mod
    exec(compile(src, f"{rev}:jaxmusic/scattering/spiral.py", "exec"), mod.__dict__)
    return mod


# ------------------------------------------------------------------------ work count
def _fft(n: int, real: bool = False) -> float:
    """Flops of one FFT of length n: 5 n log2 n complex, half that for a real one."""
    return (2.5 if real else 5.0) * n * math.log2(n) if n > 1 else 0.0


def work(S, B: int = 1) -> dict:
    """Flops that ``S(x)`` for ``B`` signals needs, by kind, on the route this
    implementation takes, each operation counted once at its smallest (no copies,
    layouts, launches or padding):

    * ``fft``: one real FFT of the padded signal; per first-order row a complex
      inverse FFT at its resolution and a real FFT of its modulus; per time wavelet
      ``j2`` one complex inverse FFT per *input* row (``n_in``) at resolution ``K2``;
    * ``gemm``: multiply-adds (2 flops) of the folds (filter blocks times spectra),
      of the chroma filters (real matrices on real and imaginary parts, at the rows
      ``[e0, L)`` they feed) and of the temporal low-pass (``n_k`` taps per block and
      kept sample);
    * ``pointwise``: octave filters (3 complex taps per output), spin pairs and
      moduli (about 10 flops per complex output), first-order moduli and low-pass.

    The kernel does more than this: its chroma GEMM forms every (chroma, octave)
    filter's rows directly (``3 + 6n`` real matrices of ``n_o`` rows, instead of
    ``1 + 2n`` of ``n_e`` rows and the octave sums), and its low-pass GEMM works on
    groups of ``g`` blocks (``(g + n_k - 1) / n_k`` times the taps) to avoid the
    banded sum; the floor below is for this count, so it is a lower bound.

    Also ``fft_output_rows``: the FFT flops of the baseline's route, one inverse
    FFT and one real FFT per *output* row of the spiral order.
    """
    plan = S._plan
    tp = plan.time
    N = tp.N
    fft = gemm = pw = old = 0.0
    fft += _fft(N, True)
    for K, paths in tp.rows[0]:
        n = N >> K
        fft += len(paths) * (_fft(n) + _fft(n, True))
        gemm += len(paths) * 2 * 2 * n  # the fold (about one block per row)
        pw += len(paths) * 6 * n  # modulus, low-pass blocks
    n_c = plan.n_chroma
    for o2 in plan.order2:
        M2 = N >> o2.K2
        n_in, n_o, n_e = len(o2.gamma_in), plan.L - o2.o0, plan.L - o2.e0
        n_t = o2.conv.n_blocks * o2.conv.D if o2.conv is not None else M2
        fft += n_in * _fft(M2)
        gemm += sum(len(s.rows) * len(s.blocks) * 4 * M2 for s in o2.srcs)
        gemm += 2 * (1 + 2 * len(plan.chroma)) * n_e * n_in * 2 * n_t
        R = n_c * 3 * n_o
        pw += R * 10 * n_t
        if o2.conv is not None:
            gemm += 2 * R * n_t * o2.conv.n_k
        old += R * (_fft(M2) + _fft(M2, True))
    return {k: B * v for k, v in dict(fft=fft, gemm=gemm, pointwise=pw, fft_output_rows=old).items()}


def _best(f, reps):
    jax.block_until_ready(f())
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        best = min(best, time.perf_counter() - t0)
    return best


def machine_rates(reps: int = 5) -> dict:
    """Flops per second of a batched complex FFT (64 x 2**14), a float32 GEMM
    (512 x 512 x 8192) and a fused pointwise modulus (2**18 complex values, in cache,
    4 flops each), measured now."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((64, 2**14)) + 1j * rng.standard_normal((64, 2**14))
    z = jnp.asarray(z.astype(np.complex64))
    a = jnp.asarray(rng.standard_normal((512, 512)), jnp.float32)
    b = jnp.asarray(rng.standard_normal((512, 8192)), jnp.float32)
    re = jnp.asarray(rng.standard_normal(2**18), jnp.float32)
    im = jnp.asarray(rng.standard_normal(2**18), jnp.float32)
    f_fft, f_mm = jax.jit(lambda z: jnp.fft.ifft(z, axis=-1)), jax.jit(lambda a, b: a @ b)
    f_pw = jax.jit(lambda r, i: jnp.abs(jax.lax.complex(r, i)))
    return {
        "fft": 64 * _fft(2**14) / _best(lambda: f_fft(z), reps),
        "gemm": 2 * 512 * 512 * 8192 / _best(lambda: f_mm(a, b), reps),
        "pointwise": 4 * 2**18 / _best(lambda: f_pw(re, im), reps),
    }


def floor_seconds(w: dict, rates: dict) -> float:
    return sum(w[k] / rates[k] for k in ("fft", "gemm", "pointwise"))


# ------------------------------------------------------------------------------ main
def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="8,12,16;10,12,15", help="J,Q,log2 N triples separated by ';'")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--baseline", default="f58b507", help="git revision, or 'none'")
    p.add_argument("--F", default=None, help="also time SpiralScattering(..., F=F)")
    args = p.parse_args(argv)

    base = None if args.baseline == "none" else load_baseline(args.baseline)
    print(f"device {jax.devices()[0]}, load average {os.getloadavg()[0]:.2f} at start")
    rates = machine_rates()
    print("machine rates (GFLOP/s): " + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in rates.items()))
    print(f"{'case':22s} {'B':>2s} {'code':9s} {'paths':>6s} {'compile s':>9s} {'s/signal':>9s} "
          f"{'GFLOP fft/gemm/pw':>19s} {'floor s':>8s} {'x floor':>7s} {'speed-up':>8s}")
    for case in args.cases.split(";"):
        J, Q, n = (int(v) for v in case.split(","))
        N = 2**n
        variants = []
        if base is not None:
            variants.append(("baseline", base.SpiralScattering(J=J, shape=N, Q=Q)))
        S = spiral.SpiralScattering(J=J, shape=N, Q=Q)
        variants.append(("current", S))
        if args.F is not None:
            F = args.F if args.F == "global" else int(args.F)
            variants.append((f"F={F}", spiral.SpiralScattering(J=J, shape=N, Q=Q, F=F)))
        for B in (int(b) for b in args.batches.split(",")):
            x = jnp.asarray(np.random.default_rng(0).standard_normal((B, N)), jnp.float32)
            runs = {}
            for name, T in variants:
                f = jax.jit(lambda T, x: T(x))
                t0 = time.perf_counter()
                jax.block_until_ready(f(T, x))
                first = time.perf_counter() - t0
                runs[name] = dict(T=T, f=f, first=first, best=math.inf)
            for _ in range(args.reps):  # alternate, so that every variant sees the same load
                for r in runs.values():
                    t0 = time.perf_counter()
                    jax.block_until_ready(r["f"](r["T"], x))
                    r["best"] = min(r["best"], time.perf_counter() - t0)
            ref = runs.get("baseline")
            for name, r in runs.items():
                T = r["T"]
                paths = T.output_size()
                compile_s = max(r["first"] - r["best"], 0.0)
                line = (f"J={J} Q={Q} N=2**{n:<2d}     {B:2d} {name:9s} {paths:6d} {compile_s:9.2f} "
                        f"{r['best'] / B:9.4f}")
                if name != "baseline":
                    w = work(T, B)
                    fl = floor_seconds(w, rates)
                    line += (f" {w['fft'] / 1e9:6.2f}/{w['gemm'] / 1e9:5.2f}/{w['pointwise'] / 1e9:5.2f}"
                             f" {fl / B:8.4f} {r['best'] / fl:7.1f}")
                    if ref is not None:
                        line += f" {ref['best'] / r['best']:7.2f}x"
                print(line, flush=True)
            if base is not None:
                w = work(S, B)
                print(f"{'':26s}(baseline route: {w['fft_output_rows'] / 1e9:.2f} GFLOP of FFTs, one per "
                      f"output row; now {w['fft'] / 1e9:.2f})")
    print(f"load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
