"""A counted floor for any jitted transform: the work its program does, at this machine's rates.

The work is read from the transform's own jaxpr (what jaxmusic runs, not a model of
it), walking into ``jit``, ``lax.map``/``scan`` (times their length), ``cond`` (the
costliest branch), ``custom_jvp``/``custom_vjp`` and ``remat``:

* ``fft``: every FFT, by type (complex, real forward, real inverse), length and number
  of transforms, at 5 n log2 n flops (complex) or half that (real);
* ``gemm``: multiply-adds of ``dot_general`` and ``conv_general_dilated`` (2 flops each);
* ``bytes``: the traffic that no fusion can avoid around those kernels: every FFT's,
  GEMM's and convolution's input and output cross memory once more, to be written by
  the work before them and read by the work after (gathers, folds, moduli); plus the
  transform's own input and output.

The rates are measured now, in this process: each FFT at the very shape the program
uses, a large float32 GEMM (the best case) and a streaming copy. The floor
(``floor_s``) is the time of the kernels alone: FFTs plus GEMMs, which no
implementation of this algorithm avoids, so it is a lower bound for this algorithm on
this machine (not for the transform: another algorithm may do less work). The
traffic time (``memory_s``) is an estimate, not a bound: it assumes every kernel's
input and output goes out to memory and back, where a good schedule keeps some of
them in cache; ``with_traffic_s`` adds it to the floor.
"""

from __future__ import annotations

import math
import time
from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np

FFT_KINDS = {jax.lax.FftType.FFT: "c2c", jax.lax.FftType.IFFT: "c2c", jax.lax.FftType.RFFT: "r2c",
             jax.lax.FftType.IRFFT: "c2r"}


def _fft_flops(kind: str, n: int) -> float:
    return (5.0 if kind == "c2c" else 2.5) * n * math.log2(n) if n > 1 else 0.0


def _nbytes(aval) -> int:
    return int(np.prod(aval.shape, dtype=np.int64)) * aval.dtype.itemsize


def count(jaxpr, mult: int = 1, out=None) -> dict:
    """Walk a (closed) jaxpr and count its FFTs, GEMM flops and kernel traffic."""
    if out is None:
        out = {"fft": Counter(), "gemm": 0.0, "bytes": 0.0}
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        p = eqn.params
        if name == "fft":
            kind = FFT_KINDS[jax.lax.FftType(int(p["fft_type"]))]
            lengths = tuple(p["fft_lengths"])
            n = int(np.prod(lengths))
            src = eqn.invars[0].aval
            batch = int(np.prod(src.shape[: src.ndim - len(lengths)], dtype=np.int64))
            out["fft"][(kind, n, batch, str(eqn.invars[0].aval.dtype))] += mult
            out["bytes"] += mult * (_nbytes(src) + _nbytes(eqn.outvars[0].aval))
        elif name == "dot_general":
            (lc, rc), (lb, rb) = p["dimension_numbers"]
            a, b = eqn.invars[0].aval, eqn.invars[1].aval
            o = eqn.outvars[0].aval
            k = int(np.prod([a.shape[i] for i in lc], dtype=np.int64))
            out["gemm"] += mult * 2.0 * int(np.prod(o.shape, dtype=np.int64)) * k
            out["bytes"] += mult * (_nbytes(a) + _nbytes(b) + _nbytes(o))
        elif name == "conv_general_dilated":
            lhs, rhs, o = eqn.invars[0].aval, eqn.invars[1].aval, eqn.outvars[0].aval
            dn = p["dimension_numbers"]
            rs = rhs.shape
            out_ch = rs[dn.rhs_spec[0]]
            k = int(np.prod(rs, dtype=np.int64)) // out_ch  # in-channels/groups x window
            out["gemm"] += mult * 2.0 * int(np.prod(o.shape, dtype=np.int64)) * k
            out["bytes"] += mult * (_nbytes(lhs) + _nbytes(rhs) + _nbytes(o))
        elif name == "scan":
            count(p["jaxpr"], mult * int(p["length"]), out)
        elif name == "cond":
            branches = [count(b, mult) for b in p["branches"]]
            best = max(branches, key=lambda c: sum(_fft_flops(k[0], k[1]) * k[2] * v
                                                   for k, v in c["fft"].items()) + c["gemm"])
            out["fft"].update(best["fft"])
            out["gemm"] += best["gemm"]
            out["bytes"] += best["bytes"]
        elif name == "while":
            raise ValueError("a while loop's trip count is unknown: the floor cannot be counted")
        else:
            for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
                sub = p.get(key)
                if sub is not None and hasattr(getattr(sub, "jaxpr", sub), "eqns"):
                    count(sub, mult, out)
    return out


def work(f, x) -> dict:
    """The work of ``f(x)``: FFTs ``{(kind, n, batch, dtype): calls}``, their flops,
    GEMM flops and bytes (kernel traffic plus ``x`` and the output)."""
    closed = jax.make_jaxpr(f)(x)
    w = count(closed)
    w["bytes"] += _nbytes(closed.in_avals[0]) + sum(_nbytes(a) for a in closed.out_avals)
    w["fft_flops"] = sum(_fft_flops(k[0], k[1]) * k[2] * c for k, c in w["fft"].items())
    return w


def _best(f, *args, reps: int = 3, min_time: float = 0.02) -> float:
    jax.block_until_ready(f(*args))
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        n = 0
        while True:
            jax.block_until_ready(f(*args))
            n += 1
            if time.perf_counter() - t0 >= min_time:
                break
        best = min(best, (time.perf_counter() - t0) / n)
    return best


_FFT_CACHE: dict = {}


def fft_seconds(kind: str, n: int, batch: int, dtype: str, reps: int = 3) -> float:
    """Seconds of one batched FFT of this shape on this machine (measured once per process).

    Small FFTs are timed on enough rows (at least 2**18 values) that a call's dispatch
    does not count, and the time is scaled back to ``batch`` rows."""
    key = (kind, n, batch, dtype)
    if key not in _FFT_CACHE:
        rows = max(batch, -(-2**18 // n))
        rng = np.random.default_rng(0)
        real = np.float64 if "64" in dtype and dtype != "complex64" else np.float32
        if kind == "c2r":
            m = n // 2 + 1
            z = (rng.standard_normal((rows, m)) + 1j * rng.standard_normal((rows, m))).astype(
                np.complex128 if real == np.float64 else np.complex64)
            f = jax.jit(lambda a: jnp.fft.irfft(a, n=n, axis=-1))
        elif kind == "r2c":
            z = rng.standard_normal((rows, n)).astype(real)
            f = jax.jit(lambda a: jnp.fft.rfft(a, axis=-1))
        else:
            z = (rng.standard_normal((rows, n)) + 1j * rng.standard_normal((rows, n))).astype(
                np.complex128 if real == np.float64 else np.complex64)
            f = jax.jit(lambda a: jnp.fft.ifft(a, axis=-1))
        _FFT_CACHE[key] = _best(f, jnp.asarray(z), reps=reps) * batch / rows
    return _FFT_CACHE[key]


def machine_rates(reps: int = 5) -> dict:
    """This machine's float32 GEMM rate (flop/s, 1024 x 1024 x 4096, the best case) and
    streaming bandwidth (bytes/s: a 256 MB copy, read and write counted)."""
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((1024, 1024)), jnp.float32)
    b = jnp.asarray(rng.standard_normal((1024, 4096)), jnp.float32)
    big = jnp.asarray(rng.standard_normal(2**25), jnp.float32)  # 128 MB
    mm = jax.jit(lambda a, b: a @ b)
    copy = jax.jit(lambda v: v * 2.0)
    return {
        "gemm": 2 * 1024 * 1024 * 4096 / _best(mm, a, b, reps=reps),
        "stream": 2 * big.nbytes / _best(copy, big, reps=reps),
    }


def floor(w: dict, rates: dict) -> dict:
    """Seconds of ``w`` at ``rates``: FFTs at their own measured times, GEMM at the
    GEMM rate (their sum is ``floor_s``), and the traffic at the streaming rate
    (``memory_s``; ``with_traffic_s`` = ``floor_s + memory_s``)."""
    fft_s = sum(fft_seconds(*k) * c for k, c in w["fft"].items())
    gemm_s = w["gemm"] / rates["gemm"]
    mem_s = w["bytes"] / rates["stream"]
    return {"fft_s": fft_s, "gemm_s": gemm_s, "memory_s": mem_s, "floor_s": fft_s + gemm_s,
            "with_traffic_s": fft_s + gemm_s + mem_s}
