"""What the commands share about their outputs: the ``--force`` flag, the paths of the
inputs an output may not overwrite, and the line a rerun prints."""

from __future__ import annotations

from pathlib import Path

__all__ = ["add_force", "input_paths", "trained_line"]


def add_force(p, what: str = "the output") -> None:
    p.add_argument("--force", action="store_true",
                   help=f"write {what} even where a file or folder exists that jaxmusic did not write "
                        "(jaxmusic then replaces only the names it writes and deletes nothing else)")


def input_paths(items) -> list[Path]:
    """The items of a command line that are files or folders (not built-in notes such as
    ``gm8:trumpet``): what no output may overwrite."""
    return [Path(str(i)).expanduser() for i in items
            if i is not None and str(i).split(":")[0] not in ("gm8", "gm8-merlin", "gm8-timgm6mb")]


def trained_line(info: dict, out, *, unit: str = "") -> str:
    """The line a training command prints: what this run did, or that it was already complete."""
    if info.get("steps_run") == 0 and info.get("resumed_from") is not None:
        return (f"already complete: {info['steps_taken']} steps, train loss {info['train_loss']:.4g}{unit}; "
                f"model in {out} (nothing to resume)")
    resumed = (f" (resumed from step {info['resumed_from']}: {info['steps_run']} steps run now)"
               if info.get("resumed_from") is not None else "")
    return (f"trained {info['steps_taken']} steps in {info['seconds']:.0f} s{resumed}: train loss "
            f"{info['train_loss']:.4g}{unit}")
