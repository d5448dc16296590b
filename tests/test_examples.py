"""The example scripts in experiments/ run as documented (with few iterations)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(script, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "experiments" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def test_custom_family_example_trains_and_evaluates(tmp_path):
    out = run("custom_family.py", "--iterations", "2", "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "after 2 gradient steps" in out.stdout
    assert (tmp_path / "r" / "evaluation.json").exists()


def test_navigation_api_example(tmp_path):
    out = run("train_navigation.py", "--iterations", "1", "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "goal [0.3, -0.2]: return" in out.stdout and "after 2 steps" in out.stdout
