"""Small file helpers shared by the loop, the experiments and feature extraction."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["write_json"]


def write_json(path, obj, *, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (a temporary file, then a rename),
    creating the folder: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=indent))
    os.replace(tmp, path)
    return path
