"""Evaluate a run's periodic checkpoints and pick one the honest way: on validation tasks.

The paper keeps "the best iteration". Choosing it by the test score would flatter the result,
so each checkpoint is scored on validation tasks (``--validation-seed``) and only the chosen one
(best mean return after ``--select-steps`` gradient steps) is reported on the test tasks
(``--test-seed``, the run's ``eval.seed`` by default, as `metarl evaluate` uses).

Run:  python experiments/evaluate_checkpoints.py RUN_DIR [--every 50] [--select-steps 1]
Prints a table (validation return after 0..K steps per checkpoint), the choice and its test
evaluation, and writes RUN_DIR/checkpoint_selection.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import metarl
from metarl.config import BATCHES, EVAL_BASELINES, override_eval
from metarl.evaluate import held_out_returns


def score(run_dir: Path, name: str, seed: int, ev: metarl.config.EvalConfig):
    """Mean and standard error over ``ev.tasks`` held-out tasks after 0..steps gradient steps."""
    learner = metarl.load_learner(run_dir, name)
    learner.config.eval = ev  # the steps' baseline, batch and later_scale
    return held_out_returns(learner, ev.tasks, ev.steps, ev.episodes, seed)


def row(mean: np.ndarray, se: np.ndarray) -> str:
    return "  ".join(f"{m:7.2f} ± {s:4.2f}" for m, s in zip(mean, se, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--every", type=int, default=50, help="evaluate iter_N.pt for N %% every == 0"
    )
    parser.add_argument("--select-steps", type=int, default=1, help="steps whose return selects")
    parser.add_argument("--validation-seed", type=int, default=2)
    parser.add_argument("--test-seed", type=int, help="default: the run's eval.seed")
    parser.add_argument(
        "--baseline", choices=EVAL_BASELINES, help="the steps' baseline (default: eval.baseline)"
    )
    parser.add_argument("--batch", choices=BATCHES, help="each step's batch (default: eval.batch)")
    parser.add_argument(
        "--first-scale", type=float, help="first step's size / α (default: eval.first_scale)"
    )
    parser.add_argument(
        "--later-scale", type=float, help="later steps' size / α (default: eval.later_scale)"
    )
    parser.add_argument("--output", default="checkpoint_selection.json", help="in RUN_DIR")
    args = parser.parse_args()

    try:
        config = override_eval(
            metarl.load_config(args.run_dir / "config.yaml").eval,
            baseline=args.baseline,
            batch=args.batch,
            first_scale=args.first_scale,
            later_scale=args.later_scale,
        )
    except metarl.ConfigError as e:
        parser.error(str(e))
    test_seed = config.seed if args.test_seed is None else args.test_seed
    for flag, seed in (("--validation-seed", args.validation_seed), ("--test-seed", test_seed)):
        if seed < 0:
            parser.error(f"{flag}: must be >= 0, got {seed}")
    if test_seed == args.validation_seed:
        parser.error("--validation-seed must differ from the test seed")
    checkpoints = sorted((args.run_dir / "checkpoints").glob("iter_*.pt"))
    names = [p.stem for p in checkpoints if int(p.stem.split("_")[1]) % args.every == 0]
    rows = {}
    print(f"validation (seed {args.validation_seed}), mean return after 0..{config.steps} steps")
    for name in names:
        mean, se = score(args.run_dir, name, args.validation_seed, config)
        rows[name] = {"mean_return": mean.round(3).tolist(), "stderr": se.round(3).tolist()}
        print(f"  {name}: {row(mean, se)}")
    best = max(rows, key=lambda n: rows[n]["mean_return"][args.select_steps])
    mean, se = score(args.run_dir, best, test_seed, config)
    print(f"chosen on validation: {best}; test (seed {test_seed}): {row(mean, se)}")
    report = {
        "validation_seed": args.validation_seed,
        "baseline": config.baseline,
        "batch": config.batch,
        "first_scale": config.first_scale,
        "later_scale": config.later_scale,
        "select_steps": args.select_steps,
        "validation": rows,
        "chosen": best,
        "test": {
            "seed": test_seed,
            "mean_return": mean.round(3).tolist(),
            "stderr": se.round(3).tolist(),
            "num_tasks": config.tasks,
        },
    }
    (args.run_dir / args.output).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
