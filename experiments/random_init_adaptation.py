"""The paper's "random initialisation" baseline: adapt an untrained policy to held-out tasks.

Finn et al. (2017, Figure 5) report, beside MAML, a randomly initialised policy adapted with the
same test protocol (their `maml_examples/test_maml_*.py`: 20 episodes per step, vanilla policy
gradient steps of α then α/2; the committed scripts use α = 0.5 for HalfCheetahDir's random
row and 0.1 for HalfCheetahVel's). Nothing is meta-learned, so the figure depends only on the
environment (physics, reward, observation), the policy's initialisation and the policy-gradient
step: comparing ours with the paper's isolates those from meta-training when our MAML falls
short.

Each initialisation is adapted to every task. The paper's scripts differ in how initialisations
meet tasks: HalfCheetahDir's seeds each task's run with its index (one initialisation per task),
HalfCheetahVel's seeds every run with 2 (one initialisation for all 40). So besides the mean
over initialisations, the script prints the spread of one (initialisation, task) pair's gain
and the standard error a mean over ``N`` such pairs carries (``SD / sqrt(N)``): the noise of
the paper's one-initialisation-per-task rows.

Run:  python experiments/random_init_adaptation.py experiments/halfcheetah_dir.yaml --lr 0.5
      [--seeds 40] [--task-file experiments/halfcheetah_dir_paper_test_goals.json]
Prints the mean return (± standard error over tasks) after 0..steps gradient steps per
initialisation, then over all of them with the gains, beside the paper's random-initialisation
and MAML rows, and a last line of JSON with every (initialisation, task) return.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import metarl
from metarl.config import ConfigError
from metarl.evaluate import held_out_task_returns, mean_and_stderr
from metarl.plots import paper_results
from metarl.tasks import load_task_file
from metarl.trainer import make_learner


def _row(label: str, values) -> str:
    return f"{label:<34}" + "".join(f"{x:10.2f}" for x in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="a preset, e.g. experiments/halfcheetah_dir.yaml")
    parser.add_argument("--lr", type=float, default=0.5, help="α of the first step (α/2 after)")
    parser.add_argument("--seeds", type=int, default=1, help="policy initialisations (0, 1, ...)")
    parser.add_argument("--task-file", type=Path, help="the tasks (default: eval.tasks drawn)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")

    runs, rows, tasks = [], [], None
    for seed in range(args.seeds):
        overrides = [f"inner.lr={args.lr}", f"seed={seed}", *args.set]
        config = metarl.load_config(args.config, overrides)
        ev, learner = config.eval, make_learner(config)
        if tasks is None:  # the same for every seed; a task file is checked before any episode
            tasks = ev.tasks
            if args.task_file is not None:
                try:
                    tasks = load_task_file(args.task_file, learner.family, config.env)
                except ConfigError as err:
                    parser.error(str(err))
        returns = held_out_task_returns(learner, tasks, ev.steps, ev.episodes, ev.seed)
        runs.append(returns)
        mean, se = mean_and_stderr(returns)
        rows.append(
            {"seed": seed, "mean_return": mean.tolist(), "task_returns": returns.round(2).tolist()}
        )
        cells = "  ".join(f"{m:8.2f} ± {s:5.2f}" for m, s in zip(mean, se, strict=True))
        print(f"random init, seed {seed}, α = {args.lr}:  {cells}", flush=True)

    returns = np.stack(runs)  # [seeds, steps + 1, tasks]
    gains = returns[:, 1:] - returns[:, :1]
    pair_sd = gains.transpose(1, 0, 2).reshape(gains.shape[1], -1).std(1, ddof=1)
    n = returns.shape[2]
    print(_row(f"mean of {args.seeds} initialisations:", returns.mean((0, 2))))
    print(_row("gain after 1.. steps:", gains.mean((0, 2))))
    if args.seeds > 1:
        per_init = gains.mean(2)  # [seeds, steps]
        se_inits = per_init.std(0, ddof=1) / np.sqrt(args.seeds)
        print(_row("  its standard error (over inits):", se_inits))
    print(_row("SD of one (init, task) pair's gain:", pair_sd))
    print(_row(f"  standard error over {n} pairs:", pair_sd / np.sqrt(n)))
    family = paper_results(config.env)
    if family is not None:
        for name in ("random_init", "maml"):
            print(_row(f"paper {name}:", family[name]))
    task_file = None if args.task_file is None else str(args.task_file)
    print(json.dumps({"config": str(args.config), "lr": args.lr, "set": args.set,
                      "task_file": task_file, "runs": rows}))  # fmt: skip


if __name__ == "__main__":
    main()
