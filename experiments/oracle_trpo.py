"""The paper's oracle: plain TRPO on a task family with the task observed, no adaptation.

Finn et al. (2017, Figure 5) report beside MAML an "oracle": a policy trained by TRPO on an env
that observes the task (their `*_oracle.py` envs; for AntDir, 100 trajectories per iteration,
their checkpoint at iteration 1975). It bounds what a policy can score on the family's physics
and reward. Where our MAML falls far short of the paper, training the oracle here tells
whether this env lets any policy reach the paper's figures at all: if the oracle falls as
short, the gap lies in the environment, not in meta-learning.

The task enters the policy as an input: its numbers ``z`` (the task dict's values, e.g.
AntDir's direction) feed the first layer through a weight ``W_z``, ``h₁ = act(W s + b + W_z z)``.
That is a per-task first-layer bias ``b + W_z z``, so the batched sampler runs the oracle as
per-task parameters. ``W_z`` starts at 0: the policy starts task-blind, as MAML's does.

Each iteration draws ``--tasks`` tasks with ``--episodes`` episodes each (default 10 × 10, the
paper's 100 trajectories), fits the config's baseline and advantages per task, and takes one
TRPO step on the mean surrogate over the tasks (the config's max_kl, CG and line search).

Run:  python experiments/oracle_trpo.py experiments/ant_dir.yaml --iterations 2000 --out DIR
Writes DIR/progress.csv (a row per iteration), DIR/state.pt (every ``--save-every`` iterations,
atomically; running the same command again resumes from it) and, at the end, DIR/oracle.json:
the mean return (± standard error over tasks) on the config's held-out tasks (``eval.tasks``
tasks, ``eval.episodes`` episodes each, the same tasks as ``metarl evaluate``) beside the
paper's oracle, and DIR/oracle.png, the training return by iteration.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

import metarl
from metarl import checkpoint
from metarl.config import to_dict
from metarl.episodes import Episodes
from metarl.evaluate import reseed
from metarl.objectives import surrogate_and_kl
from metarl.plots import paper_results, read_progress
from metarl.policy import Params
from metarl.trainer import Learner, collect, learner_from_state, make_learner
from metarl.trpo import trpo_step

FIELDS = ["iteration", "env_steps", "return", "episode_length", "kl", "step_fraction", "seconds"]


def task_features(tasks: list[dict]) -> torch.Tensor:
    """``[N, Z]``: each task dict's values in key order (numbers or arrays, flattened)."""
    rows = [np.concatenate([np.ravel(task[k]) for k in sorted(task)]) for task in tasks]
    return torch.as_tensor(np.stack(rows), dtype=torch.float32)


def oracle_params(params: Params, w_z: torch.Tensor, z: torch.Tensor) -> Params:
    """θ for each task ``[N, ...]``, the task folded into the first layer's bias."""
    n = z.shape[0]
    per_task = {k: v.expand(n, *v.shape) for k, v in params.items()}
    per_task["layers.0.bias"] = params["layers.0.bias"] + z @ w_z.T
    return per_task


def rollout_tasks(
    learner: Learner, w_z: torch.Tensor, tasks: list[dict], episodes: int
) -> tuple[Episodes, torch.Tensor]:
    """The oracle's episodes on ``tasks`` (``episodes`` each, advantages attached) and ``z``."""
    z = task_features(tasks)
    with torch.no_grad():
        params = oracle_params(learner.params, w_z, z)
    return collect(learner, params, tasks, episodes), z


def iteration(learner: Learner, w_z: torch.Tensor, tasks: list[dict], episodes: int) -> dict:
    """Roll out, then one TRPO step on ``θ`` and ``W_z`` (in place); the batch's figures."""
    eps, z = rollout_tasks(learner, w_z, tasks, episodes)
    obs = eps.by_task(eps.obs)
    with torch.no_grad():
        old = learner.policy.distribution(obs, oracle_params(learner.params, w_z, z))
    leaves = [*learner.params.values(), w_z]
    trpo = learner.config.trpo

    def objective(create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.set_grad_enabled(create_graph):
            params = oracle_params(learner.params, w_z, z)
            loss, kl = surrogate_and_kl(learner.policy, params, eps, old)
            return loss.mean(), kl.mean()

    stats = trpo_step(
        leaves, objective, trpo.max_kl, trpo.cg_iters, trpo.cg_damping, trpo.ls_steps,
        trpo.ls_backtrack,
    )  # fmt: skip
    return {
        "return": mean_episode_return(eps),
        "episode_length": float(eps.lengths[eps.lengths > 0].mean()),
        "kl": stats.kl,
        "step_fraction": stats.step_fraction,
    }


def mean_episode_return(eps: Episodes) -> float:
    """The mean undiscounted return over the batch's episodes (rllab's ``AverageReturn``)."""
    return float(eps.returns[eps.lengths > 0].mean())


def plot(out: Path, paper: float | None) -> Path:
    """``out/oracle.png``: the batch's mean episode return by iteration, the paper's oracle."""
    from matplotlib.figure import Figure

    progress = read_progress(out)
    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(progress["iteration"], progress["return"], color="tab:blue", lw=0.8, label="ours")
    if paper is not None:
        ax.axhline(paper, color="black", ls="--", lw=1, label="paper's oracle (test)")
    ax.set_xlabel("TRPO iteration")
    ax.set_ylabel("mean episode return (training batch)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(out / "oracle.png")
    return out / "oracle.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="a preset, e.g. experiments/ant_dir.yaml")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=10, help="tasks per iteration")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per task")
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    for name in ("iterations", "tasks", "episodes", "save_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")

    config = metarl.load_config(args.config, args.set)
    state_path, progress_path = args.out / "state.pt", args.out / "progress.csv"
    state = checkpoint.load(state_path) if state_path.exists() else None
    if state is not None and (
        state["config"] != to_dict(config) or state["tasks"] != [args.tasks, args.episodes]
    ):
        raise SystemExit(f"{state_path} was trained with other settings: use another --out")
    learner = make_learner(config) if state is None else learner_from_state(state, config)
    z_dim = task_features(learner.family.sample_tasks(1, np.random.default_rng(0))).shape[1]
    w_z = torch.zeros(config.policy.hidden[0], z_dim, requires_grad=True)
    start, seconds = 0, 0.0
    if state is not None:
        with torch.no_grad():
            w_z.copy_(state["w_z"])
        start, seconds = learner.iteration, state["seconds"]
        keep = [r for r in csv.DictReader(progress_path.open()) if int(r["iteration"]) <= start]
        print(f"resuming from iteration {start}", flush=True)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        keep = []
    with progress_path.open("w", newline="") as f:  # rows after the saved state are redone
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(keep)

    for it in range(start + 1, args.iterations + 1):
        t0 = time.perf_counter()
        tasks = learner.family.sample_tasks(args.tasks, learner.rng)
        row = iteration(learner, w_z, tasks, args.episodes)
        seconds += time.perf_counter() - t0
        row = {"iteration": it, "env_steps": learner.env_steps, **row, "seconds": round(seconds)}
        with progress_path.open("a", newline="") as f:
            csv.DictWriter(f, FIELDS).writerow(row)
        if it % 10 == 0:
            print(f"{it:5d}  return {row['return']:8.2f}  length {row['episode_length']:6.1f}"
                  f"  kl {row['kl']:.4f}  {seconds:6.0f} s", flush=True)  # fmt: skip
        learner.iteration = it
        if it % args.save_every == 0 or it == args.iterations:
            extra = {"tasks": [args.tasks, args.episodes], "seconds": seconds, "w_z": w_z.detach()}
            checkpoint.save({**learner.state(), **extra}, state_path)

    ev = config.eval
    reseed(learner, ev.seed)
    test_tasks = learner.family.sample_tasks(ev.tasks, learner.rng)
    eps, _ = rollout_tasks(learner, w_z, test_tasks, ev.episodes)
    per_task = eps.task_returns().numpy()
    mean, se = float(per_task.mean()), float(per_task.std(ddof=1) / np.sqrt(len(per_task)))
    family = paper_results(config.env)
    paper = None if family is None else family.get("oracle")
    print(f"oracle, {args.iterations} iterations: {mean:.2f} ± {se:.2f} (paper: {paper})")
    result = {
        "config": str(args.config), "set": args.set, "iterations": args.iterations,
        "tasks_per_iteration": args.tasks, "episodes_per_task": args.episodes,
        "env_steps": learner.env_steps, "train_seconds": round(seconds),
        "test_tasks": ev.tasks, "test_episodes": ev.episodes, "test_seed": ev.seed,
        "mean_return": mean, "stderr": se, "per_task": per_task.tolist(), "paper_oracle": paper,
    }  # fmt: skip
    (args.out / "oracle.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(args.out, paper)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
