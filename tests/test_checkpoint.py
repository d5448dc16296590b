"""Checkpoints are atomic and load without running code."""

import os

import pytest
import torch

from metarl import checkpoint
from metarl.checkpoint import CheckpointError

STATE = {
    "config": {},
    "iteration": 3,
    "env_steps": 10,
    "params": {"w": torch.ones(2)},
    "step_sizes": {},
    "rng": {"numpy": {"state": 2**100}, "torch": torch.zeros(4)},
}


def test_round_trip(tmp_path):
    checkpoint.save(STATE, tmp_path / "c.pt")
    loaded = checkpoint.load(tmp_path / "c.pt")
    assert loaded["iteration"] == 3 and loaded["rng"]["numpy"]["state"] == 2**100
    assert os.listdir(tmp_path) == ["c.pt"]  # no temp file left behind


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    checkpoint.save(STATE, path)

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save({**STATE, "iteration": 4}, path)
    monkeypatch.undo()
    assert checkpoint.load(path)["iteration"] == 3
    assert os.listdir(tmp_path) == ["c.pt"]


class RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_not_run(tmp_path):
    evil = RunsCode()
    evil.marker = tmp_path / "pwned"
    torch.save({**STATE, "format": checkpoint.FORMAT, "payload": evil}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused to load.*GLOBAL posix.system") as e:
        checkpoint.load(tmp_path / "evil.pt")
    assert "\n" not in str(e.value)
    assert not evil.marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a readable checkpoint"),
        (b"\x00garbage" * 10, "refused to load: it is corrupt .*Unsupported operand"),
    ],
)
def test_corrupt_files_give_one_line(tmp_path, content, message):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as e:
        checkpoint.load(tmp_path / "bad.pt")
    assert "\n" not in str(e.value)


def test_truncated_and_foreign_files(tmp_path):
    checkpoint.save(STATE, tmp_path / "c.pt")
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        checkpoint.load(tmp_path / "c.pt")
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a metarl checkpoint"):
        checkpoint.load(tmp_path / "other.pt")
    missing = r"no checkpoint at .*missing.pt; the folder holds c, other$"
    with pytest.raises(CheckpointError, match=missing):
        checkpoint.load(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*latest.pt$"):
        checkpoint.load(tmp_path / "empty" / "latest.pt")


def test_missing_checkpoint_names_what_the_folder_holds(tmp_path):
    for i in range(10, 90, 10):
        checkpoint.save(STATE, tmp_path / f"iter_{i:06d}.pt")
    with pytest.raises(CheckpointError) as e:
        checkpoint.load(tmp_path / "latest.pt")
    assert str(e.value).endswith(
        "the folder holds iter_000010, iter_000020, ..., iter_000060, iter_000070, iter_000080"
    )


def test_prune_keeps_the_newest(tmp_path):
    for i in (10, 20, 30):
        checkpoint.save(STATE, tmp_path / f"iter_{i:06d}.pt")
    checkpoint.save(STATE, tmp_path / "latest.pt")
    checkpoint.prune(tmp_path, keep=2)
    assert sorted(os.listdir(tmp_path)) == ["iter_000020.pt", "iter_000030.pt", "latest.pt"]
