"""Checkpoints: written atomically, read back without executing code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a file that would run code on load is refused, not run.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import torch

FORMAT = "metarl-checkpoint-1"
REQUIRED = ("format", "config", "iteration", "env_steps", "params", "step_sizes", "rng")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, or not one of ours."""


def save(state: dict, path: str | Path) -> None:
    """Write ``state`` to ``path`` atomically: a temp file in the same folder, fsync, rename.

    A crash at any moment leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> dict:
    """Read a checkpoint with ``weights_only=True``; CheckpointError with one line on any fault."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}{_others_in(path.parent)}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused to load: it is corrupt or holds objects other than tensors and "
            f"plain data ({_unpickling_reason(e)})"
        ) from None
    except Exception as e:  # truncated zip, wrong magic number, ...
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a metarl checkpoint (expected format {FORMAT})")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return state


def _others_in(folder: Path) -> str:
    """``"; the folder holds iter_000420, latest"``: the names a user may ask for instead."""
    names = sorted(p.stem for p in folder.glob("*.pt")) if folder.is_dir() else []
    if not names:
        return ""
    shown = names if len(names) <= 6 else [*names[:2], "...", *names[-3:]]
    return f"; the folder holds {', '.join(shown)}"


def _unpickling_reason(error: Exception) -> str:
    """The specific line of torch's weights-only error (its preamble suggests unsafe loading)."""
    generic = ("Weights only load failed", "Please file an issue", "Check the documentation")
    lines = [line.strip() for line in str(error).splitlines()]
    specific = [line for line in lines if line and not line.startswith(generic)]
    return specific[0] if specific else type(error).__name__


def prune(folder: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` periodic checkpoints ``iter_*.pt`` in ``folder``."""
    periodic = sorted(Path(folder).glob("iter_*.pt"))
    for old in periodic[: max(0, len(periodic) - keep)]:
        old.unlink()
