"""Test-session setup.

librosa compiles its numba kernels (pYIN's ``localmin``, ...) with ``cache=True``, which
writes the cache next to librosa's sources. Two pytest-xdist workers compiling the same
kernel in a fresh environment race on those files, and a worker can load a half-written
cache and crash (seen as a segmentation fault in ``librosa.pyin``). Each worker gets its
own numba cache folder, set before numba is first imported.
"""

import os
from pathlib import Path

_worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ.setdefault("NUMBA_CACHE_DIR",
                      str(Path(__file__).resolve().parent.parent / ".cache" / f"numba-{_worker}"))
