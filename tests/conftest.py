"""Test-session setup.

librosa compiles its numba kernels (pYIN's ``localmin``, ...) with ``cache=True``, which
writes the cache next to librosa's sources. Two pytest-xdist workers compiling the same
kernel in a fresh environment race on those files, and a worker can load a half-written
cache and crash (seen as a segmentation fault in ``librosa.pyin``). Each worker gets its
own numba cache folder (``.cache/numba-gwN``), set before numba is first imported; a
run without workers keeps numba's default.

The command line turns on JAX's persistent compilation cache (`jaxmusic.compile_cache`);
the tests keep theirs in ``.cache/jax-gwN`` (one folder per worker, as JAX writes its
entries in place), inside the checkout, not in the user's cache folder.
"""

import os
from pathlib import Path

_worker = os.environ.get("PYTEST_XDIST_WORKER")  # set in each worker before it reads this file
_cache = Path(__file__).resolve().parent.parent / ".cache"
if _worker:
    os.environ["NUMBA_CACHE_DIR"] = str(_cache / f"numba-{_worker}")
os.environ.setdefault("JAXMUSIC_CACHE_DIR", str(_cache / f"jax-{_worker or 'main'}"))
