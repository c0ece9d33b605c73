"""Test-session setup.

librosa compiles its numba kernels (pYIN's ``localmin``, ...) with ``cache=True``, which
writes the cache next to librosa's sources. Two pytest-xdist workers compiling the same
kernel in a fresh environment race on those files, and a worker can load a half-written
cache and crash (seen as a segmentation fault in ``librosa.pyin``). Each worker gets its
own numba cache folder (``.cache/numba-gwN``), set before numba is first imported; a
run without workers keeps numba's default.
"""

import os
from pathlib import Path

_worker = os.environ.get("PYTEST_XDIST_WORKER")  # set in each worker before it reads this file
if _worker:
    os.environ["NUMBA_CACHE_DIR"] = str(Path(__file__).resolve().parent.parent / ".cache" / f"numba-{_worker}")
