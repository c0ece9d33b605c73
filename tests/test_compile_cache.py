"""The persistent compilation cache of the command line (`jaxmusic.compile_cache`): a second
run of a command reads what the first compiled, ``JAXMUSIC_CACHE_DIR`` moves the folder,
``--no-compile-cache`` writes nothing, a folder jaxmusic did not make is left alone."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import soundfile as sf

from jaxmusic import compile_cache
from jaxmusic.cli import main
from jaxmusic.data.soundfont import cache_dir as notes_cache_dir

# runs the command as `jaxmusic ...` does, counting JAX's persistent-cache lookups and hits
COMMAND = """
import json, sys
import jax.monitoring
counts = {}
jax.monitoring.register_event_listener(lambda event, **kw: counts.__setitem__(event, counts.get(event, 0) + 1))
from jaxmusic.cli import main
code = main(sys.argv[1:])
print("CACHE " + json.dumps(counts))
sys.exit(code)
"""
REQUESTS, HITS = "/jax/compilation_cache/compile_requests_use_cache", "/jax/compilation_cache/cache_hits"


def _run(args, env):
    p = subprocess.run([sys.executable, "-c", COMMAND, *args], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **env})
    assert p.returncode == 0, p.stderr[-2000:]
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("CACHE ")][-1]
    return json.loads(line[len("CACHE "):])


def _entries(folder: Path):
    return sorted(p.name for p in folder.iterdir() if p.name != ".jaxmusic.json")


def test_a_second_run_reads_what_the_first_compiled(tmp_path):
    sr = 16000
    t = np.arange(sr // 4) / sr
    sf.write(tmp_path / "a.wav", 0.5 * np.sin(2 * np.pi * 220 * t), sr)
    sf.write(tmp_path / "b.wav", 0.3 * np.sign(np.sin(2 * np.pi * 330 * t)), sr)
    cache = tmp_path / "cache"
    env = {"JAXMUSIC_CACHE_DIR": str(cache)}

    def hybridize(name):
        return _run(["hybridize", "--method", "envelope", str(tmp_path / "a.wav"), str(tmp_path / "b.wav"),
                     "-o", str(tmp_path / name)], env)

    first = hybridize("one.wav")
    written = _entries(cache)
    assert first.get(REQUESTS, 0) > 0 and first.get(HITS, 0) == 0
    assert len(written) > 0  # JAX's entries, in the folder JAXMUSIC_CACHE_DIR names
    assert json.loads((cache / ".jaxmusic.json").read_text())["kind"] == "compile-cache"
    second = hybridize("two.wav")
    # every program is read back from what the first run wrote, none compiled again
    assert second.get(HITS, 0) == second[REQUESTS] == first[REQUESTS] == len(written)
    assert _entries(cache) == written
    assert sf.read(tmp_path / "one.wav")[0].tolist() == sf.read(tmp_path / "two.wav")[0].tolist()


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("JAXMUSIC_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("JAXMUSIC_CACHE", raising=False)
    assert compile_cache.default_cache_dir() == Path.home() / ".cache" / "jaxmusic" / "jax"
    assert compile_cache.default_cache_dir() != notes_cache_dir()  # apart from the rendered notes
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.default_cache_dir() == tmp_path / "xdg" / "jaxmusic" / "jax"
    monkeypatch.setenv("JAXMUSIC_CACHE_DIR", str(tmp_path / "moved"))
    assert compile_cache.default_cache_dir() == tmp_path / "moved"


def test_the_command_turns_it_on_and_restores_jax(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("JAXMUSIC_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    before = jax.config.jax_compilation_cache_dir
    seen = []
    monkeypatch.setattr(compile_cache, "_reset", lambda: seen.append(jax.config.jax_compilation_cache_dir))
    assert main(["experiment", "--list"]) == 0
    folder = tmp_path / "xdg" / "jaxmusic" / "jax"
    assert seen[0] == str(folder.absolute())  # on while the command ran
    assert json.loads((folder / ".jaxmusic.json").read_text())["kind"] == "compile-cache"
    assert jax.config.jax_compilation_cache_dir == before  # and off again after it
    # --no-compile-cache: no folder, JAX untouched
    monkeypatch.setenv("JAXMUSIC_CACHE_DIR", str(tmp_path / "off"))
    seen.clear()
    assert main(["--no-compile-cache", "experiment", "--list"]) == 0
    assert not (tmp_path / "off").exists() and seen == []


def test_a_folder_jaxmusic_did_not_make_is_left_alone(monkeypatch, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    monkeypatch.setenv("JAXMUSIC_CACHE_DIR", str(mine))
    before = jax.config.jax_compilation_cache_dir
    assert main(["experiment", "--list"]) == 0  # the command runs, without the cache
    err = capsys.readouterr().err
    assert "without the compilation cache" in err and str(mine) in err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert jax.config.jax_compilation_cache_dir == before
