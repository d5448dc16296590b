"""The published results under experiments/results: every checkpoint shipped there belongs to the
run folder it sits in, and a navigation evaluation.json is what its shipped checkpoint scores."""

import json
from pathlib import Path

import numpy as np
import pytest

from metarl.config import load_config
from metarl.evaluate import held_out_returns
from metarl.tasks import check_task
from metarl.trainer import load_learner

RESULTS = Path(__file__).parents[1] / "experiments" / "results"
CHECKPOINTS = sorted(RESULTS.glob("**/checkpoints/*.pt"))


# 2D navigation only: its 40 tasks x 4 steps x 40 episodes take seconds; a MuJoCo family's minutes.
NAVIGATION_REPORTS = {
    path: report
    for path in sorted(RESULTS.glob("**/evaluation*.json"))  # evaluation_samples.json too
    if (report := json.loads(path.read_text()))["family"] == "metarl/Navigation2D-v0"
    and (path.parent / "checkpoints" / f"{report['checkpoint']}.pt").is_file()
}


def _name(path: Path) -> str:
    return str(path.relative_to(RESULTS))


def _costly_kind(report: dict) -> str | None:
    """The kind of a report whose re-evaluation takes half a minute or more, else None."""
    if report["num_tasks"] > 40:
        return "many tasks"
    if report.get("batch") == "samples":  # the authors' sample-budget batches: more episodes
        return "sample-budget batches"
    return None


def _cases(reports: dict[Path, dict]) -> list:
    """Every report; of each costly kind all but the first marked ``slow``, so that the default
    run checks every kind and stays a few minutes long."""
    seen, cases = set(), []
    for path, report in reports.items():
        kind = _costly_kind(report)
        cases.append(pytest.param(path, marks=pytest.mark.slow) if kind in seen else path)
        if kind is not None:
            seen.add(kind)
    return cases


@pytest.mark.parametrize("path", CHECKPOINTS, ids=_name)
def test_shipped_checkpoint_resumes_its_run(path):
    """What `metarl train --resume` and `metarl evaluate` need: the checkpoint loads into the
    folder's config (same family and policy) and carries the iteration its name says."""
    run = path.parent.parent
    learner = load_learner(run, path.stem)
    config = load_config(run / "config.yaml")
    assert (learner.config.env, learner.config.policy) == (config.env, config.policy)
    if path.stem.startswith("iter_"):
        assert learner.iteration == int(path.stem.removeprefix("iter_"))
    assert learner.env_steps > 0


@pytest.mark.parametrize("report_path", _cases(NAVIGATION_REPORTS), ids=_name)
def test_navigation_evaluation_is_what_its_checkpoint_scores(report_path):
    """Re-evaluate the shipped checkpoint with the report's own settings: the published table
    comes from the published policy (to 0.01 of return; thread counts may change the last bits)."""
    report = NAVIGATION_REPORTS[report_path]
    learner = load_learner(report_path.parent, report["checkpoint"])
    assert learner.iteration == report["iteration"]
    cfg = learner.config.eval
    # Older reports lack some of these keys: the config's defaults, which they were taken with.
    for key in ("baseline", "batch", "first_scale", "later_scale"):
        setattr(cfg, key, report.get(key, getattr(cfg, key)))
    tasks = report["num_tasks"]
    if "task_file" in report:  # evaluated on given tasks (drawn ones are listed too)
        tasks = [check_task(task, learner.family, report["family"]) for task in report["tasks"]]
    mean, stderr = held_out_returns(
        learner,
        tasks,
        report["steps"][-1],
        report["episodes_per_step"],
        report["seed"],
    )
    np.testing.assert_allclose(mean, report["mean_return"], atol=0.01)
    np.testing.assert_allclose(stderr, report["stderr"], atol=0.01)
