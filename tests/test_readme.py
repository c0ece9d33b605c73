"""The README's Python blocks run as they stand (each in a fresh interpreter, in a scratch
folder, with a home folder holding the two folders of class folders the first block loads)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_its_blocks():
    assert len(BLOCKS) == 4 and all("import" in b for b in BLOCKS)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """~/medley and ~/solos: two folders of class folders (gm8 notes written as WAV)."""
    from jaxmusic import data

    home = tmp_path_factory.mktemp("home")
    ds = data.gm8(classes=["flute", "trumpet"], pitch_step=6, velocities=(100,))
    for i in range(len(ds)):
        folder = home / ("medley" if i % 2 else "solos") / ds.classes[int(ds.label[i])]
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"{i}.wav", np.asarray(ds.audio[i]), ds.sr)
    return home


@pytest.mark.parametrize("k", range(4), ids=["transforms", "models", "cross-synthesis", "wavenet"])
def test_a_readme_block_runs_as_it_stands(k, home, tmp_path):
    from jaxmusic.data.soundfont import cache_dir

    env = dict(os.environ, HOME=str(home), JAXMUSIC_CACHE=str(cache_dir()))  # the rendered notes stay cached
    code = BLOCKS[k] + "\nprint('block ran')\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and "block ran" in proc.stdout, proc.stderr[-3000:]
    assert (tmp_path / "runs").is_dir() or k == 3  # its outputs went to its own runs/ folder
