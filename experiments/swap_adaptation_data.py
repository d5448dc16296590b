"""Where a run's return after adaptation went: swap two checkpoints' pre-update episodes.

MAML's meta-gradient follows θ through the inner step θ' = θ - α∇θ L(θ; D) with the
pre-update episodes D held fixed; it does not see that D is collected by θ. When a run falls
after its peak, this tells the two apart. For checkpoints a and b, each collects its own
pre-update batch D_a, D_b (the same tasks, reset seeds and action noise), and each takes the
training's inner step from each batch; the post-update episodes are collected under common
seeds as well. The result is a table J(θ_p | D_s) of the mean return after one step, p the
parameters that adapt, s the checkpoint that collected D:

- J(θ_b | D_a) - J(θ_a | D_a): what changed in the adaptation, the data held fixed;
- J(θ_b | D_b) - J(θ_b | D_a): what changed in the data, the adapting parameters held fixed;
the two orders of swapping are averaged (``split``). With more than two checkpoints each
consecutive pair is a window, and the terms are summed over the windows: a decline over many
iterations split where the swapped batches stay nearly on-policy.

Each repeat has its own seeds; per task the repeats are averaged and standard errors are over
tasks, of paired differences (of sums over windows, per task). Also printed: the mean
KL(π_a || π_b) of the pre-update policies on each batch's states (how far off-policy a swapped
batch is).

Run:  python experiments/swap_adaptation_data.py RUN_DIR --checkpoints iter_000140 latest \\
          --task-file experiments/halfcheetah_dir_paper_test_goals.json --repeats 5
Prints a line per window and the sums, then one JSON line with every per-task return.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from metarl.adaptation import adapt_detached
from metarl.checkpoint import CheckpointError
from metarl.config import ConfigError
from metarl.evaluate import mean_and_stderr, reseed
from metarl.tasks import load_task_file, task_to_json
from metarl.trainer import Learner, collect, for_inner, load_learner, rollout, true_rewards


def swap_returns(pair: tuple[Learner, Learner], tasks: list[dict], repeats: int, seed: int) -> dict:
    """``returns[r, s, p, n]``: repeat ``r``, pre-update episodes collected by ``pair[s]``,
    adapted by ``pair[p]``, task ``n``; ``pre[r, s, n]`` the pre-update returns; ``kl[r, s]``
    the mean KL(π_0 || π_1) of the two pre-update policies on the states of D_s."""
    learner = pair[0]  # samples for both: the checkpoints of one run share the config
    thetas = [{k: v.detach() for k, v in lrn.params.items()} for lrn in pair]
    episodes = learner.config.episodes
    returns = np.zeros((repeats, 2, 2, len(tasks)))
    pre = np.zeros((repeats, 2, len(tasks)))
    kl = np.zeros((repeats, 2))
    for r in range(repeats):
        for s, theta_s in enumerate(thetas):
            reseed(learner, seed + 1000 * (r + 1))  # the same pre-update seeds for both
            data = collect(learner, theta_s, tasks, episodes)
            pre[r, s] = data.task_returns(true_rewards(learner, data)).numpy()
            inner = for_inner(learner, data)
            dists = [learner.policy.distribution(data.obs, theta) for theta in thetas]
            kl[r, s] = float((dists[0].kl(dists[1]) * data.mask).sum() / data.mask.sum())
            for p, lrn in enumerate(pair):
                adapted = adapt_detached(lrn.policy, thetas[p], lrn.step_sizes, [inner])
                reseed(learner, seed + 1000 * (r + 1) + 1)  # common post-update seeds
                post = rollout(learner, adapted, tasks, episodes)
                returns[r, s, p] = post.task_returns(true_rewards(learner, post)).numpy()
    return {"returns": returns, "pre": pre, "kl": kl}


def paired(x: np.ndarray) -> tuple[float, float]:
    """Mean of per-task values ``[N]`` and its standard error over tasks."""
    mean, stderr = mean_and_stderr(x[None])
    return float(mean[0]), float(stderr[0])


def split(j: np.ndarray) -> dict[str, np.ndarray]:
    """A window's per-task decline and its symmetric split, from ``j[s, p, n]`` = J(θ_p | D_s)
    (0 = a, 1 = b): each of the two orders of swapping counted half, so that what a swapped
    batch's being off-policy costs cancels to first order; ``adaptation + data = decline``."""
    return {
        "decline": j[1, 1] - j[0, 0],
        "adaptation": 0.5 * ((j[0, 1] - j[0, 0]) + (j[1, 1] - j[1, 0])),
        "data": 0.5 * ((j[1, 0] - j[0, 0]) + (j[1, 1] - j[0, 1])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--checkpoints",
        nargs="+",
        default=["iter_000140", "latest"],
        help="two or more; each consecutive pair is a window",
    )
    parser.add_argument("--task-file", type=Path, help="tasks (default: --tasks drawn by --seed)")
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    if len(args.checkpoints) < 2:
        parser.error("--checkpoints: give two or more checkpoint names")
    torch.set_num_threads(args.threads)
    try:  # every input checked before any episode is collected
        learners = {name: load_learner(args.run_dir, name) for name in args.checkpoints}
        first = learners[args.checkpoints[0]]
        if args.task_file:
            tasks = load_task_file(args.task_file, first.family, first.config.env)
        else:
            reseed(first, args.seed)
            tasks = first.family.sample_tasks(args.tasks, first.rng)
    except (CheckpointError, ConfigError) as e:
        parser.error(str(e))
    windows, sums = [], {}
    print(
        "window a -> b: J(a|D_a) J(b|D_a) J(a|D_b) J(b|D_b) after one step (θ | who collected "
        "the pre-update episodes); decline = adaptation + data; KL(π_a || π_b) on D_a and D_b"
    )
    for a, b in itertools.pairwise(args.checkpoints):
        out = swap_returns((learners[a], learners[b]), tasks, args.repeats, args.seed)
        learners[a].sampler.close()  # its envs (one per episode of the batch) are not needed again
        j = out["returns"].mean(0)  # [s, p, N], repeats averaged per task
        terms = split(j)
        for name, x in terms.items():
            sums[name] = sums.get(name, 0.0) + x
        summary = {name: paired(x) for name, x in terms.items()}
        kl = out["kl"].mean(0)
        cells = " ".join(f"{c.mean():7.1f}" for c in (j[0, 0], j[0, 1], j[1, 0], j[1, 1]))
        split_text = "  ".join(f"{k} {m:6.1f} ± {e:4.1f}" for k, (m, e) in summary.items())
        print(f"{a} -> {b}: {cells}  {split_text}  KL {kl[0]:.4f} {kl[1]:.4f}", flush=True)
        window = {"a": a, "b": b, "kl": kl.tolist(), "summary": summary}
        windows.append(window | {"returns": out["returns"].tolist(), "pre": out["pre"].tolist()})
    summed = {name: paired(x) for name, x in sums.items()}
    sum_text = "  ".join(f"{k} {m:.1f} ± {e:.1f}" for k, (m, e) in summed.items())
    print(f"sum over the {len(windows)} windows, mean ± SE over tasks: {sum_text}")
    report = {"run": str(args.run_dir), "checkpoints": args.checkpoints, "seed": args.seed}
    report |= {"repeats": args.repeats, "tasks": [task_to_json(t) for t in tasks]}
    report |= {"sums": summed}
    print(json.dumps(report | {"windows": windows}))


if __name__ == "__main__":
    main()
