"""The real command line, end to end, in subprocesses."""

import json
import subprocess
import sys

FAST = [
    "--set",
    "meta_batch=3",
    "--set",
    "episodes=3",
    "--set",
    "policy.hidden=[16]",
    "--set",
    "threads=1",
    "--no-progress",
]


def metarl(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "metarl.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_train_then_evaluate(tmp_path):
    run = tmp_path / "run"
    out = metarl("train", "--iterations", "2", "--run-dir", str(run), *FAST)
    assert out.returncode == 0, out.stderr
    assert (run / "checkpoints" / "latest.pt").exists()
    assert len((run / "progress.csv").read_text().splitlines()) == 3

    out = metarl("evaluate", str(run), "--tasks", "3", "--steps", "2", "--episodes", "2")
    assert out.returncode == 0, out.stderr
    report = json.loads((run / "evaluation.json").read_text())
    assert report["family"] == "metarl/Navigation2D-v0"
    assert report["steps"] == [0, 1, 2] and report["num_tasks"] == 3
    assert len(report["mean_return"]) == len(report["stderr"]) == 3
    assert all(-200 < r < 0 for r in report["mean_return"])

    out = metarl("train", "--resume", str(run), "--iterations", "3", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert len((run / "progress.csv").read_text().splitlines()) == 4


def test_bad_input_is_one_line_nonzero_exit_and_no_run(tmp_path):
    run = tmp_path / "run"
    for args, message in [
        (["--set", "trpo.max_kl=-1"], "trpo.max_kl: must be > 0"),
        (["--set", "inner.lr"], "expected key=value"),
        ([str(tmp_path / "nope.yaml")], "does not exist"),
    ]:
        out = metarl("train", *args, "--run-dir", str(run), "--no-progress")
        assert out.returncode == 2
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], out.stderr
        assert not run.exists()
    out = metarl("evaluate", str(tmp_path / "missing"))
    assert out.returncode == 2 and "no checkpoint at" in out.stderr
