"""MeRL against plain MAML and an oracle on 2D navigation with decoys (issue 5).

Each task has a goal and decoys on a circle; the inner loop's reward pays for reaching any of
them, the true reward (the meta-objective, and what is reported) only for the goal. A task cue,
the goal direction through an unknown transform plus noise, reaches MeRL's score features but
not the policy. Conditions, each trained on ``--seeds`` seeds from experiments/merl_decoys.yaml:

    maml                    the underspecified reward in the inner loop
    merl                    the same, shaped by MeRL's meta-learned score
    oracle                  the true reward in the inner loop (env_kwargs.reward=goal)
    maml_no_decoys          control: no decoys, so the inner reward is the true one
    merl_no_decoys          control: MeRL must not hurt there
    merl_uninformative_cue  control: a cue independent of the goal, so MeRL cannot help

Every run is evaluated on the same held-out tasks (the config's eval.tasks, eval.seed) after one
gradient step: true success rate (goal reached) and decoy-hit rate, per episode. The fraction of
the oracle gap MeRL closes is ``(merl - maml) / (oracle - maml)`` of the mean true success. MeRL
runs also report ``true_success_phi0``: the same evaluation at the run's own θ with φ reset to φ_0
(plain MAML's inner step), which separates what the learned score does to the inner step from how
it changed θ's training.

The held-out tasks of eval.seed are the *test* tasks that the reported table uses. Settings (aux.lr,
aux.weight_decay, ...) are chosen on *validation* tasks: another task stream, ``--eval-seed``
(e.g. 1001; training streams are seeded by the run's seed, evaluation streams by ``[seed, 1]``, so
any seed other than eval.seed gives tasks disjoint in practice from both), with ``--eval-tasks``
to average over more of them. ``--label`` keeps runs and results of different settings apart.

Run:  python experiments/merl_decoys.py                       # 3 seeds x 60 iterations
      python experiments/merl_decoys.py --seeds 1 --iterations 20 --out /tmp/merl
      python experiments/merl_decoys.py --conditions merl merl_no_decoys \
          --set aux.weight_decay=0.01 --eval-seed 1001 --eval-tasks 100 --out /tmp/val
Runs go to RUNS/<condition>/seed<k> (default runs/merl_decoys; a finished run is reused, a
stopped one resumed); OUT/results.json (default experiments/results/merl) holds every figure; a
Markdown table is printed last.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

import metarl
from metarl import checkpoint
from metarl.evaluate import adapt_to_tasks, reseed

CONFIG = Path(__file__).with_name("merl_decoys.yaml")
CONDITIONS = {
    "maml": [],
    "merl": ["aux.enabled=true"],
    "oracle": ["env_kwargs.reward=goal"],
    "maml_no_decoys": ["env_kwargs.decoys=0"],
    "merl_no_decoys": ["env_kwargs.decoys=0", "aux.enabled=true"],
    "merl_uninformative_cue": ["env_kwargs.cue=uninformative", "aux.enabled=true"],
}


def train(run_dir: Path, overrides: list[str]) -> None:
    """Train (or finish) the run in ``run_dir``; a run already at its iterations is kept."""
    config = metarl.load_config(CONFIG, overrides)
    latest = run_dir / "checkpoints" / "latest.pt"
    if latest.exists():
        if checkpoint.load(latest)["iteration"] >= config.iterations:
            return
        metarl.train(config, run_dir, resume=True, progress=False)
    else:
        metarl.train(config, run_dir, progress=False)


def outcomes(
    run_dir: Path, seed: int | None = None, num_tasks: int | None = None, reset_phi: bool = False
) -> dict:
    """Per-episode rates on the held-out tasks (stream ``seed``, ``num_tasks`` of them; default:
    the config's eval.seed and eval.tasks, the test tasks) before and after one gradient step.

    ``reset_phi``: with MeRL's φ put back to its initialisation (s_φ ≡ 0, plain MAML's inner
    step) at the run's own θ, on the same tasks and episode seeds.
    """
    learner = metarl.load_learner(run_dir)
    if reset_phi:
        with torch.no_grad():
            for k, v in learner.aux.items():
                v.copy_(learner.aux_init[k])
    cfg = learner.config.eval
    reseed(learner, cfg.seed if seed is None else seed)
    tasks = learner.family.sample_tasks(cfg.tasks if num_tasks is None else num_tasks, learner.rng)
    result = adapt_to_tasks(learner, tasks, steps=1, episodes=cfg.episodes)
    learner.sampler.close()
    pre, post = result.episodes

    def rate(episodes, key):
        return round(float(episodes.info[key].sum(0).mean()), 4)

    return {
        "true_success": rate(post, "hit_goal"),
        "decoy_hit": rate(post, "hit_decoy"),
        "true_success_pre": rate(pre, "hit_goal"),
        "decoy_hit_pre": rate(pre, "hit_decoy"),
    }


def summary(values: list[float]) -> dict[str, float]:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 4), "std": round(spread, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per condition")
    parser.add_argument("--iterations", type=int, help="meta-iterations (default: the config's)")
    parser.add_argument(
        "--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS)
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every condition, e.g. aux.lr=0.05 (repeatable)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "merl", help="results dir"
    )
    parser.add_argument(
        "--runs", type=Path, default=Path("runs/merl_decoys"), help="where the runs are trained"
    )
    parser.add_argument(
        "--eval-seed",
        type=int,
        help="task stream of the evaluation (default: the config's eval.seed, the test tasks); "
        "another seed gives validation tasks, on which to choose settings",
    )
    parser.add_argument(
        "--eval-tasks", type=int, help="evaluation tasks (default: the config's eval.tasks)"
    )
    parser.add_argument(
        "--label", default="", help="suffix of the run directories, e.g. wd0.01 (default: none)"
    )
    args = parser.parse_args()
    extra = args.set + ([] if args.iterations is None else [f"iterations={args.iterations}"])
    if args.seeds < 1 or (args.iterations is not None and args.iterations < 1):
        parser.error("--seeds and --iterations must be >= 1")
    if args.eval_tasks is not None and args.eval_tasks < 1:
        parser.error("--eval-tasks must be >= 1")
    suffix = f"-{args.label}" if args.label else ""

    results: dict[str, list[dict]] = {}
    for name in args.conditions:
        for seed in range(args.seeds):
            run_dir = args.runs / f"{name}{suffix}" / f"seed{seed}"
            start = time.perf_counter()
            train(run_dir, [*CONDITIONS[name], f"seed={seed}", *extra])
            row = {"seed": seed, **outcomes(run_dir, args.eval_seed, args.eval_tasks)}
            if "aux.enabled=true" in CONDITIONS[name]:  # what the learned score does at this θ
                reset = outcomes(run_dir, args.eval_seed, args.eval_tasks, reset_phi=True)
                row["true_success_phi0"] = reset["true_success"]
            results.setdefault(name, []).append(row)
            print(
                f"{name:24s} seed {seed}: true success {row['true_success']:.3f}, "
                f"decoy hits {row['decoy_hit']:.3f} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )

    table = {
        name: {key: summary([r[key] for r in rows]) for key in rows[0] if key != "seed"}
        for name, rows in results.items()
    }
    config = metarl.load_config(CONFIG)
    report = {
        "command": " ".join(["python", *sys.argv]),
        "config": str(CONFIG.name),
        "eval_tasks": {
            "seed": config.eval.seed if args.eval_seed is None else args.eval_seed,
            "tasks": config.eval.tasks if args.eval_tasks is None else args.eval_tasks,
            "split": "test" if args.eval_seed in (None, config.eval.seed) else "validation",
        },
        "overrides": {name: CONDITIONS[name] + extra for name in results},
        "per_seed": results,
        "summary": table,
    }
    if {"maml", "merl", "oracle"} <= set(table):
        maml, merl, oracle = (table[k]["true_success"]["mean"] for k in ("maml", "merl", "oracle"))
        report["gap_closed"] = round((merl - maml) / (oracle - maml), 3) if oracle != maml else None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")

    print("\n| condition | true success after 1 step | decoy hits | before | φ reset |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, stats in table.items():
        ts, dh, pre = stats["true_success"], stats["decoy_hit"], stats["true_success_pre"]
        reset = stats.get("true_success_phi0")
        print(
            f"| {name} | {ts['mean']:.3f} ± {ts['std']:.3f} | {dh['mean']:.3f} ± {dh['std']:.3f} "
            f"| {pre['mean']:.3f} | {'–' if reset is None else format(reset['mean'], '.3f')} |"
        )
    if report.get("gap_closed") is not None:
        print(f"\nMeRL closes {report['gap_closed']:.0%} of the gap between MAML and the oracle.")


if __name__ == "__main__":
    main()
