"""Evaluation as in the paper: average return on held-out tasks after 0, 1, ..., K gradient steps.

Step ``k`` (1-based) uses ``α`` for ``k = 1`` and ``α/2`` after (Finn et al. 2017, section 5.3;
``eval.first_scale`` and ``eval.later_scale`` set the 1 and the 1/2).
Held-out tasks come from a task stream seeded by ``eval.seed``, separate from training's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from metarl.adaptation import adapt_detached
from metarl.config import ConfigError, override_eval
from metarl.episodes import Episodes, fit_baseline
from metarl.policy import Params
from metarl.tasks import load_task_file, task_to_json
from metarl.trainer import (
    Learner,
    collect,
    for_inner,
    load_learner,
    true_rewards,
    with_advantages,
)


@dataclass
class Adaptation:
    """What ``K`` adaptation steps on some tasks produced (index ``k`` = after ``k`` steps)."""

    tasks: list[dict]
    params: list[Params]  # θ (shared) then θ_1..θ_K ([N, ...] per task)
    episodes: list[Episodes]  # the rollouts of each parameter set
    returns: np.ndarray  # [K + 1, N] mean undiscounted (true) return per task


def adapt_to_tasks(learner: Learner, tasks: list[dict], steps: int, episodes: int) -> Adaptation:
    """Roll out, take a gradient step, roll out again, ``steps`` times; nothing is learned.

    With ``eval.baseline = "rllab"`` step ``k``'s advantages predict the baseline with the
    coefficients fitted on step ``k-1``'s episodes, and with 0 for the first step.
    """
    params = {k: v.detach() for k, v in learner.params.items()}
    result = Adaptation(tasks, [params], [], np.zeros((steps + 1, len(tasks))))
    cfg, returns_cfg, previous_fit = learner.config.eval, learner.config.returns, None
    budget = None if cfg.batch == "episodes" else "per_task"
    for k in range(steps + 1):
        eps = collect(learner, params, tasks, episodes, budget)
        result.episodes.append(eps)
        result.returns[k] = eps.task_returns(true_rewards(learner, eps)).numpy()
        if k < steps:
            inner = for_inner(learner, eps)
            if cfg.baseline == "rllab":
                fit = fit_baseline(inner, returns_cfg.gamma, returns_cfg.baseline_ridge)
                coef = torch.zeros_like(fit) if previous_fit is None else previous_fit
                inner = with_advantages(learner, inner, coef)
                previous_fit = fit
            params = adapt_detached(
                learner.policy,
                params,
                learner.step_sizes,
                [inner],
                scales=[cfg.first_scale if k == 0 else cfg.later_scale],
            )
            result.params.append(params)
    return result


def reseed(learner: Learner, seed: int) -> None:
    """Point the learner's task, episode and action-noise streams at ``seed`` (for evaluation)."""
    learner.rng = np.random.default_rng([seed, 1])
    learner.generator = torch.Generator().manual_seed(seed)


def held_out_adaptation(
    learner: Learner, tasks: int | list[dict], steps: int, episodes: int, seed: int
) -> Adaptation:
    """:func:`adapt_to_tasks` on held-out tasks: ``tasks`` is a number of tasks drawn from the
    stream ``seed`` or the tasks themselves; ``seed`` also seeds their episodes. Closes the
    sampler."""
    reseed(learner, seed)
    if isinstance(tasks, int):
        tasks = learner.family.sample_tasks(tasks, learner.rng)
    result = adapt_to_tasks(learner, tasks, steps, episodes)
    learner.sampler.close()
    return result


def held_out_task_returns(
    learner: Learner, tasks: int | list[dict], steps: int, episodes: int, seed: int
) -> np.ndarray:
    """Per-task mean return after 0..steps gradient steps on held-out tasks: ``[steps + 1, N]``
    (arguments as :func:`held_out_adaptation`)."""
    return held_out_adaptation(learner, tasks, steps, episodes, seed).returns


def mean_and_stderr(returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``[K, N]`` per-task returns -> their mean over tasks and its standard error, each ``[K]``."""
    n = returns.shape[1]
    stderr = returns.std(1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(returns))
    return returns.mean(1), stderr


def held_out_returns(
    learner: Learner, tasks: int | list[dict], steps: int, episodes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean over held-out tasks of the return after 0..steps gradient steps, and its standard
    error over tasks: two ``[steps + 1]`` arrays (arguments as :func:`held_out_task_returns`)."""
    return mean_and_stderr(held_out_task_returns(learner, tasks, steps, episodes, seed))


def evaluate(
    run_dir: str | Path,
    tasks: int | None = None,
    steps: int | None = None,
    episodes: int | None = None,
    seed: int | None = None,
    checkpoint: str = "latest",
    baseline: str | None = None,
    batch: str | None = None,
    first_scale: float | None = None,
    later_scale: float | None = None,
    out: str | Path | None = None,
    task_file: str | Path | None = None,
) -> dict:
    """Evaluate a run's checkpoint and write the report to ``out`` (default
    ``run_dir/evaluation.json``) and its plot beside it as ``.png``; returns the report.

    Unset arguments take the run's ``eval`` config. The held-out tasks are ``tasks`` drawn from
    the stream ``seed``, or those of ``task_file`` (:func:`metarl.tasks.load_task_file`); the
    report lists them as ``tasks``. ``task_returns[k][n]`` is task ``n``'s mean episode return after
    ``k`` steps, ``mean_return[k]`` its mean over tasks and ``stderr[k]`` the standard error;
    ``task_step_means[key][k][n]`` the mean per env step of the env's scalar ``info[key]`` on
    task ``n`` after ``k`` steps (e.g. a cheetah's ``x_velocity``: how fast it ran).
    """
    if task_file is not None and tasks is not None:
        raise ConfigError("--tasks and --task-file: give one of them")
    path = report_path(run_dir, out)
    if out is not None and (path.suffix != ".json" or not path.parent.is_dir()):
        raise ConfigError(f"--out: must be a .json file in an existing folder, got {out}")
    learner = load_learner(run_dir, checkpoint)
    cfg = learner.config.eval = override_eval(
        learner.config.eval,
        tasks=tasks,
        steps=steps,
        episodes=episodes,
        seed=seed,
        baseline=baseline,
        batch=batch,
        first_scale=first_scale,
        later_scale=later_scale,
    )
    tasks, steps, episodes, seed = cfg.tasks, cfg.steps, cfg.episodes, cfg.seed
    given = {}
    if task_file is not None:
        tasks = load_task_file(task_file, learner.family, learner.config.env)
        given = {"task_file": str(task_file)}
    adaptation = held_out_adaptation(learner, tasks, steps, episodes, seed)
    task_returns = adaptation.returns
    mean, stderr = mean_and_stderr(task_returns)
    step_means = [eps.task_step_means() for eps in adaptation.episodes]
    report = {
        "family": learner.config.env,
        "horizon": learner.sampler.horizon,  # the env's own when the config leaves it unset
        "env_kwargs": learner.config.env_kwargs,
        "steps": list(range(steps + 1)),
        "mean_return": [round(float(x), 4) for x in mean],
        "stderr": [round(float(x), 4) for x in stderr],
        "num_tasks": len(adaptation.tasks),
        "episodes_per_step": episodes,
        "seed": seed,
        "baseline": cfg.baseline,
        "batch": cfg.batch,
        "first_scale": cfg.first_scale,
        "later_scale": cfg.later_scale,
        "checkpoint": checkpoint,
        "iteration": learner.iteration,
        **given,
        # Drawn tasks too, so that per-task results can be split by task (e.g. by direction).
        "tasks": [task_to_json(task) for task in adaptation.tasks],
        "task_returns": [[round(float(x), 2) for x in row] for row in task_returns],
        "task_step_means": {
            key: [[round(float(x), 4) for x in means[key]] for means in step_means]
            for key in step_means[0]
        },
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    # Imported here: matplotlib costs every `import metarl` half a second otherwise.
    from metarl.plots import plot_evaluation

    plot_evaluation(report, path.with_suffix(".png"))
    return report


def report_path(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Where :func:`evaluate` writes its report: ``out``, else ``run_dir/evaluation.json``."""
    return Path(run_dir) / "evaluation.json" if out is None else Path(out)
