"""How good a TRPO meta-step is with CG curvature from a subsample of the tasks, on the same data.

The locomotion presets take the curvature (the Hessian of the post-adaptation KL) from a quarter
of the meta-batch's tasks, which makes the meta-step about 4x cheaper. This script measures what
it costs per step, and what the MAML authors' finite-difference products change: from a run's
checkpoint it samples meta-batches as training does and, on each, takes the meta-step once per
variant from the same parameters and data, reporting the surrogate's improvement
(``surrogate_before - surrogate_after``), the KL of the accepted step, the accepted step fraction
and the time.

Run:  python experiments/curvature_step_quality.py RUN_DIR --checkpoint iter_000200 --batches 4
Prints a line per batch and variant, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from metarl.adaptation import adapt_detached
from metarl.trainer import collect, for_inner, for_meta, load_learner, meta_step

# (name, trpo overrides): the presets' subsample, the same with more damping, every task, and
# every task by the MAML authors' finite differences (trpo.finite_difference_product).
VARIANTS = {
    "1/4 of the tasks": {"curvature_tasks": 0.25, "hvp": "factored"},
    "1/4 of the tasks, damping 0.1": {
        "curvature_tasks": 0.25,
        "hvp": "factored",
        "cg_damping": 0.1,
    },
    "every task": {"curvature_tasks": 1.0, "hvp": "factored"},
    "every task, finite differences": {"curvature_tasks": 1.0, "hvp": "finite_difference"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--checkpoint", default="latest")
    parser.add_argument("--batches", type=int, default=4, help="meta-batches to compare on")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    base = load_learner(args.run_dir, args.checkpoint)
    cfg = base.config
    rows = []
    for batch in range(args.batches):
        tasks = base.family.sample_tasks(cfg.meta_batch, base.rng)
        theta = {k: v.detach() for k, v in base.params.items()}
        train = [for_inner(base, collect(base, theta, tasks, cfg.episodes))]
        adapted = adapt_detached(base.policy, theta, base.step_sizes, train)
        valid = for_meta(base, collect(base, adapted, tasks, cfg.episodes))
        for name, overrides in VARIANTS.items():
            learner = copy.copy(base)  # shares the data; gets its own θ, config and task subset
            learner.params = {k: v.clone().requires_grad_() for k, v in theta.items()}
            learner.config = dataclasses.replace(
                cfg, trpo=dataclasses.replace(cfg.trpo, **overrides)
            )
            learner.rng = np.random.default_rng([batch, 7])  # the same subset for each variant
            start = time.perf_counter()
            stats = meta_step(learner, train, valid, adapted)
            row = {
                "batch": batch,
                "variant": name,
                "gain": stats.loss_before - stats.loss_after,
                "kl": stats.kl,
                "step_fraction": stats.step_fraction,
                "seconds": time.perf_counter() - start,
            }
            rows.append(row)
            print(
                f"batch {batch}  {name:30s} gain {row['gain']:.5f}  kl {row['kl']:.4f}  "
                f"fraction {row['step_fraction']:.3f}  {row['seconds']:5.1f} s",
                flush=True,
            )
    means = {
        name: {
            key: statistics.fmean(r[key] for r in rows if r["variant"] == name)
            for key in ("gain", "kl", "step_fraction", "seconds")
        }
        for name in VARIANTS
    }
    for name, m in means.items():
        print(f"mean  {name:30s} gain {m['gain']:.5f}  kl {m['kl']:.4f}  "
              f"fraction {m['step_fraction']:.3f}  {m['seconds']:5.1f} s")  # fmt: skip
    print(json.dumps({"run": str(args.run_dir), "checkpoint": args.checkpoint, "rows": rows,
                      "means": means}))  # fmt: skip


if __name__ == "__main__":
    main()
