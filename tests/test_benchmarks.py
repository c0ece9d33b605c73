"""The benchmark scripts that must run on a machine the project rarely has: checked here on the CPU."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

from _floor import work  # noqa: E402


def _gpu_script(tmp_path, *args):
    out = tmp_path / "gpu.json"
    env = {k: v for k, v in os.environ.items() if k != "KYMATIO_PATH"}
    r = subprocess.run([sys.executable, os.path.join(BENCH, "gpu.py"), "--cpu", "--repeats", "1", "--out", str(out),
                        *args], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(out.read_text())
    assert got["cpu_sizes"] is True
    for row in got["rows"]:
        assert f"| {row['name']} |" in r.stdout  # the table names every case
    return got["rows"]


def _check_row(row):
    torch_here = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("kymatio") is not None
    if row["name"] == "kymatio-torch" and not torch_here:
        assert "does not import" in row["skipped"]
        return
    assert "error" not in row and "skipped" not in row, row
    assert 0 < row["s_per_batch"] < 60 and math.isfinite(row["per_second"]), row
    assert row["peak_gb"] > 0 and row["first_call_s"] >= row["s_per_batch"] * 0.5, row
    assert row["device"].startswith("cpu"), row


def test_gpu_script_runs_every_case_on_cpu(tmp_path):
    # every case's code, in one process (the GPU run gives each its own: checked below)
    rows = _gpu_script(tmp_path, "--in-process")
    assert [row["name"] for row in rows] == ["scattering1d", "jtfs", "spiral", "cqt", "mel", "mfcc", "convnet-train",
                                             "translator-train", "kymatio-torch"]
    for row in rows:
        _check_row(row)


def test_gpu_script_gives_each_case_its_own_process(tmp_path):
    rows = _gpu_script(tmp_path, "--only", "mel", "kymatio-torch")
    assert [row["name"] for row in rows] == ["mel", "kymatio-torch"]
    for row in rows:
        _check_row(row)
    assert rows[0]["peak_of"] == "process resident"  # its own process, not the whole run


def test_floor_counts_the_programs_ffts_and_gemms():
    def f(x):
        y = jnp.fft.rfft(x, axis=-1)  # 3 real FFTs of 1024
        z = jax.lax.map(lambda r: jnp.fft.ifft(r), y)  # 3 steps of one complex FFT of 513
        return jnp.abs(z) @ jnp.ones((513, 7))  # (3, 513) x (513, 7)

    w = work(f, jnp.zeros((3, 1024), jnp.float32))
    assert dict(w["fft"]) == {("r2c", 1024, 3, "float32"): 1, ("c2c", 513, 1, "complex64"): 3}
    assert w["fft_flops"] == 2.5 * 1024 * 10 * 3 + 3 * 5 * 513 * np.log2(513)
    assert w["gemm"] == 2 * 3 * 513 * 7


def test_gpu_script_refuses_a_file_it_did_not_write(tmp_path):
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}')
    cmd = [sys.executable, os.path.join(BENCH, "gpu.py"), "--cpu", "--repeats", "1", "--only", "kymatio-torch",
           "--out", str(mine)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "was not written by benchmarks/gpu.py" in r.stderr and "--force" in r.stderr
    assert mine.read_text() == '{"my": "notes"}'
    assert "kymatio-torch:" not in r.stdout  # refused before any work
    assert subprocess.run(cmd + ["--force"], capture_output=True, timeout=120).returncode == 0
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)  # now its own file: replaced
    assert again.returncode == 0 and json.loads(mine.read_text())["benchmark"] == "gpu"
