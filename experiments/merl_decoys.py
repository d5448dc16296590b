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
the oracle gap MeRL closes is ``(merl - maml) / (oracle - maml)`` of the mean true success.

Run:  python experiments/merl_decoys.py                       # 3 seeds x 60 iterations
      python experiments/merl_decoys.py --seeds 1 --iterations 20 --out /tmp/merl
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


def outcomes(run_dir: Path) -> dict[str, float]:
    """Per-episode rates on the held-out tasks before and after one gradient step."""
    learner = metarl.load_learner(run_dir)
    cfg = learner.config.eval
    reseed(learner, cfg.seed)
    tasks = learner.family.sample_tasks(cfg.tasks, learner.rng)
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
    args = parser.parse_args()
    extra = args.set + ([] if args.iterations is None else [f"iterations={args.iterations}"])
    if args.seeds < 1 or (args.iterations is not None and args.iterations < 1):
        parser.error("--seeds and --iterations must be >= 1")

    results: dict[str, list[dict]] = {}
    for name in args.conditions:
        for seed in range(args.seeds):
            run_dir = args.runs / name / f"seed{seed}"
            start = time.perf_counter()
            train(run_dir, [*CONDITIONS[name], f"seed={seed}", *extra])
            row = {"seed": seed, **outcomes(run_dir)}
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
    report = {
        "command": " ".join(["python", *sys.argv]),
        "config": str(CONFIG.name),
        "overrides": {name: CONDITIONS[name] + extra for name in results},
        "per_seed": results,
        "summary": table,
    }
    if {"maml", "merl", "oracle"} <= set(table):
        maml, merl, oracle = (table[k]["true_success"]["mean"] for k in ("maml", "merl", "oracle"))
        report["gap_closed"] = round((merl - maml) / (oracle - maml), 3) if oracle != maml else None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2) + "\n")

    print("\n| condition | true success after 1 step | decoy hits after 1 step | before |")
    print("| --- | ---: | ---: | ---: |")
    for name, stats in table.items():
        ts, dh, pre = stats["true_success"], stats["decoy_hit"], stats["true_success_pre"]
        print(
            f"| {name} | {ts['mean']:.3f} ± {ts['std']:.3f} | {dh['mean']:.3f} ± {dh['std']:.3f} "
            f"| {pre['mean']:.3f} |"
        )
    if report.get("gap_closed") is not None:
        print(f"\nMeRL closes {report['gap_closed']:.0%} of the gap between MAML and the oracle.")


if __name__ == "__main__":
    main()
