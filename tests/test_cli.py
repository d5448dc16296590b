"""The real command line, end to end, in subprocesses."""

import json
import signal
import subprocess
import sys
import time
from importlib.metadata import version

import numpy as np
import pytest
import yaml

from metarl.cli import main
from metarl.plots import differs_from_paper

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


def refused(capsys, *args: str) -> str:
    """Bad input to the CLI, run in process (a subprocess costs seconds): exit code 2 and one
    line on stderr, which is returned. test_bad_input_is_one_line_nonzero_exit_and_no_run checks
    the same through real processes."""
    assert main(list(args)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_version_names_the_packages_behind_the_numbers(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"metarl {version('metarl')} (torch {version('torch')}, ")
    assert f"mujoco {version('mujoco')})" in out


def test_train_then_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    out = metarl("train", "--iterations", "2", "--run-dir", str(run), *FAST)
    assert out.returncode == 0, out.stderr
    assert (run / "checkpoints" / "latest.pt").exists()
    assert len((run / "progress.csv").read_text().splitlines()) == 3

    out = metarl("evaluate", str(run), "--tasks", "3", "--steps", "2", "--episodes", "2")
    assert out.returncode == 0, out.stderr
    report = json.loads((run / "evaluation.json").read_text())
    after_one = f"after 1 step: {report['mean_return'][1]:10.2f} ± {report['stderr'][1]:.2f}"
    assert after_one in out.stdout and f"written to {run / 'evaluation.json'}" in out.stdout
    assert report["family"] == "metarl/Navigation2D-v0"
    # The config leaves the horizon to the env (100, the paper's), so the plot shows the paper.
    assert report["horizon"] == 100 and differs_from_paper(report) == ""
    assert report["steps"] == [0, 1, 2] and report["num_tasks"] == 3
    assert len(report["mean_return"]) == len(report["stderr"]) == 3
    assert all(-200 < r < 0 for r in report["mean_return"])
    per_task = np.array(report["task_returns"])  # [steps + 1, tasks], rounded to 0.01
    assert per_task.shape == (3, 3)
    np.testing.assert_allclose(per_task.mean(1), report["mean_return"], atol=0.01)
    np.testing.assert_allclose(per_task.std(1, ddof=1) / 3**0.5, report["stderr"], atol=0.01)
    # Navigation's reward is minus info["distance"], so a task's return is minus its mean
    # distance per step times its episodes' length, the horizon unless they reach the goal.
    distance = np.array(report["task_step_means"]["distance"])  # [steps + 1, tasks]
    assert distance.shape == (3, 3) and (distance > 0).all()
    assert (per_task >= -distance * report["horizon"] - 0.01).all()
    assert report["first_scale"] == 1.0 and report["later_scale"] == 0.5  # the paper's α, α/2
    for flag, allowed in [("--first-scale", ">= 0, got -1.0"), ("--later-scale", ">= 0, got -1.0"),
                          ("--seed", ">= 0, got -1"), ("--episodes", ">= 1, got -1")]:  # fmt: skip
        assert f"{flag}: must be {allowed}" in refused(capsys, "evaluate", str(run), flag, "-1")
    assert json.loads((run / "evaluation.json").read_text()) == report  # nothing overwritten
    out = metarl("evaluate", str(run), "--tasks", "4", "--first-scale", "2",
                 "--out", str(tmp_path / "wide.json"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    wide = json.loads((tmp_path / "wide.json").read_text())
    assert wide["num_tasks"] == 4 and wide["first_scale"] == 2.0
    assert wide["tasks"][:3] == report["tasks"]  # the same stream, drawn one task after another
    assert "task_file" not in wide
    assert (tmp_path / "wide.png").is_file()
    out = refused(capsys, "evaluate", str(run), "--out", str(tmp_path / "missing" / "wide.json"))
    assert "--out: must be a .json file in an existing folder" in out
    assert json.loads((run / "evaluation.json").read_text()) == report
    goals = tmp_path / "goals.json"
    goals.write_text(json.dumps({"tasks": [{"goal": [0.1, -0.3]}, {"goal": [-0.4, 0.2]}]}))
    fixed = tmp_path / "fixed.json"
    out = metarl(
        "evaluate", str(run), "--task-file", str(goals), "--steps", "1", "--out", str(fixed)
    )
    assert out.returncode == 0, out.stderr
    given = json.loads(fixed.read_text())
    assert given["num_tasks"] == 2 and given["task_file"] == str(goals)
    assert given["tasks"] == [{"goal": [0.1, -0.3]}, {"goal": [-0.4, 0.2]}]
    out = metarl("evaluate", str(run), "--task-file", str(tmp_path / "wide.json"), "--steps", "1",
                 "--out", str(fixed))  # fmt: skip
    assert out.returncode == 0, out.stderr  # a report is a task file: the same tasks again
    assert json.loads(fixed.read_text())["tasks"] == wide["tasks"]
    out = refused(capsys, "evaluate", str(run), "--task-file", str(goals), "--tasks", "3")
    assert "--tasks and --task-file: give one of them" in out
    goals.write_text('[{"goal": [0.1]}]')
    out = refused(capsys, "evaluate", str(run), "--task-file", str(goals))
    assert "task 0 goal: metarl/Navigation2D-v0 expects" in out
    assert json.loads((run / "evaluation.json").read_text()) == report

    out = metarl("train", "--resume", str(run), "--iterations", "3", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert len((run / "progress.csv").read_text().splitlines()) == 4

    # How a run runs may change on resume (and is saved); what it learns may not.
    out = metarl("train", "--resume", str(run), "--iterations", "4", "--set", "threads=2",
                 "--set", "checkpoint_every=2", "--set", "trpo.curvature_tasks=0.5",
                 "--no-progress")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (run / "checkpoints" / "iter_000004.pt").exists()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["threads"] == 2 and saved["trpo"]["curvature_tasks"] == 0.5
    for bad in (["--set", "inner.lr=0.5"], ["--seed", "3"]):
        out = refused(capsys, "train", "--resume", str(run), "--iterations", "5", *bad)
        assert "keep_checkpoints, trpo.curvature_tasks only" in out
    assert len((run / "progress.csv").read_text().splitlines()) == 5


def test_bad_input_is_one_line_nonzero_exit_and_no_run(tmp_path):
    run = tmp_path / "run"
    for args, message in [
        (["--set", "trpo.max_kl=-1"], "trpo.max_kl: must be > 0"),
        (["--set", "inner.lr"], "expected key=value"),
        ([str(tmp_path / "nope.yaml")], "does not exist"),
        (["--set", "env_kwargs.nope=1"], "env_kwargs of metarl/Navigation2D-v0: "),
    ]:
        out = metarl("train", *args, "--run-dir", str(run), "--no-progress")
        assert out.returncode == 2
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], out.stderr
        assert not run.exists()
    out = metarl("evaluate", str(tmp_path / "missing"))
    assert out.returncode == 2 and "no checkpoint at" in out.stderr


def progress_metrics(run):
    """progress.csv without the wall times; [] while it does not exist or is empty."""
    path = run / "progress.csv"
    rows = path.read_text().splitlines() if path.exists() else []
    if not rows:
        return []
    header = rows[0].split(",")
    keep = [i for i, name in enumerate(header) if not name.startswith("time_")]
    return [[row.split(",")[i] for i in keep] for row in rows[1:]]


def start_training(run, *args, **popen_kwargs):
    """``metarl train`` of 1000 iterations in the background."""
    command = [sys.executable, "-m", "metarl.cli", "train", "--iterations", "1000"]
    return subprocess.Popen([*command, "--run-dir", str(run), *args, *FAST], **popen_kwargs)


def wait_until(condition, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline and not condition():
        time.sleep(0.02)
    assert condition(), "timed out"


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    straight = tmp_path / "straight"
    out = metarl("train", "--iterations", "12", "--run-dir", str(straight), *FAST)
    assert out.returncode == 0, out.stderr

    run = tmp_path / "killed"
    proc = start_training(run, "--set", "checkpoint_every=1", stderr=subprocess.DEVNULL)
    wait_until(lambda: (run / "checkpoints" / "iter_000003.pt").exists())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= len(progress_metrics(run)) < 12, "the kill should land mid-run"

    out = metarl("train", "--resume", str(run), "--iterations", "12", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert progress_metrics(run) == progress_metrics(straight)


def test_ctrl_c_saves_the_last_iteration(tmp_path):
    run = tmp_path / "run"
    proc = start_training(run, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: len(progress_metrics(run)) >= 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted: saved iteration" in err
    from metarl.checkpoint import load

    saved = load(run / "checkpoints" / "latest.pt")["iteration"]
    assert saved >= 2 and saved == len(progress_metrics(run))


def test_a_checkpoint_that_would_run_code_is_refused_by_the_cli(tmp_path):
    run = tmp_path / "run"
    assert metarl("train", "--iterations", "1", "--run-dir", str(run), *FAST).returncode == 0
    marker = tmp_path / "pwned"
    payload = (
        "import os, torch\n"
        "class E:\n"
        f"    def __reduce__(self): return (os.system, ('touch {marker}',))\n"
        "torch.save({'format': 'metarl-checkpoint-1', 'x': E()}, "
        f"'{run}/checkpoints/latest.pt')\n"
    )
    subprocess.run([sys.executable, "-c", payload], check=True)
    for args in (["evaluate", str(run)], ["train", "--resume", str(run)]):
        out = metarl(*args)
        assert out.returncode == 2
        assert len(out.stderr.strip().splitlines()) == 1 and "refused to load" in out.stderr
    assert not marker.exists()


def test_resume_refuses_a_checkpoint_of_another_architecture(tmp_path):
    run = tmp_path / "run"
    assert metarl("train", "--iterations", "1", "--run-dir", str(run), *FAST).returncode == 0
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("- 16", "- 32"))
    out = metarl("train", "--resume", str(run), "--iterations", "2")
    assert out.returncode == 2 and "but the run's config asks for" in out.stderr
