"""Wall time of one MAML-TRPO meta-iteration on pytorch-maml-rl's 2D-navigation configuration.

The configuration (pytorch-maml-rl, configs/maml/2d-navigation.yaml): 20 tasks x 20 episodes x
horizon 100, a 64-64 tanh Gaussian policy, one second-order inner step (α = 0.1), TRPO with
10 CG iterations (damping 1e-5), max KL 0.01, line search 15 x 0.8.

Run:  python experiments/benchmark_meta_iteration.py [--iterations 5] [--warmup 1] [--only TEXT]
Prints one row per variant (sampling / adaptation / meta-step seconds) and, last, one JSON line.

The peer's own times are not re-measured here: it needs old gym and is not installable on this
machine's registries. PEER_SECONDS are the figures measured for it on this 2-core machine and
recorded in issue 2 (5.7 s per meta-iteration with one thread per process and 2 sampler
workers, 20.9 s with its default threading).
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch
from cpu_steal import cpu_times, steal_fraction

import metarl

PEER_SECONDS = {"one_thread_per_process": 5.7, "default_threading": 20.9}

PEER_CONFIG = [
    "meta_batch=20",
    "episodes=20",
    "horizon=100",
    "policy.hidden=[64, 64]",
    "policy.activation=tanh",
    "inner.lr=0.1",
    "trpo.cg_iters=10",
]

VARIANTS = {
    "exact, double backward, 2 threads": ["threads=2", "trpo.hvp=double_backward"],
    "exact, factored JᵀFJ, 2 threads": ["threads=2"],
    "exact, factored JᵀFJ, 1 thread": ["threads=1"],
    "exact, factored, chunks of 5 tasks, 2 threads": ["threads=2", "trpo.task_chunk=5"],
    "curvature on 1/4 of the tasks, factored, 2 threads": [
        "threads=2",
        "trpo.curvature_tasks=0.25",
    ],
    "curvature on 1/4 of the tasks, factored, 1 thread": [
        "threads=1",
        "trpo.curvature_tasks=0.25",
    ],
}


def time_variants(
    variants: dict[str, list[str]], iterations: int, warmup: int
) -> dict[str, dict[str, float]]:
    """Median seconds per phase of each variant's meta-iterations.

    The variants run in interleaved rounds (one meta-iteration of each per round), because this
    machine's speed drifts by up to a third within minutes: one after the other, a variant
    would be timed in a different phase of the drift than the next.
    """
    learners = {
        name: metarl.make_learner(metarl.load_config(None, PEER_CONFIG + overrides))
        for name, overrides in variants.items()
    }
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for round_ in range(warmup + iterations):
        for name, learner in learners.items():
            torch.set_num_threads(learner.config.threads)
            row = metarl.meta_iteration(learner)
            if round_ >= warmup:
                rows[name].append(row)
    for learner in learners.values():
        learner.sampler.close()
    return {
        name: {
            phase: statistics.median(r[f"time_{phase}"] for r in rows[name])
            for phase in ("sample", "adapt", "meta", "iteration")
        }
        for name in variants
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5, help="timed meta-iterations")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--only", default="", help="time only the variants whose name contains this text"
    )
    args = parser.parse_args()

    results = {}
    print(
        f"{'variant':52s} {'sample':>7s} {'adapt':>7s} {'meta':>7s} {'total':>7s} {'peer/ours':>9s}"
    )
    start = cpu_times()
    timed = time_variants(
        {name: o for name, o in VARIANTS.items() if args.only in name}, args.iterations, args.warmup
    )
    steal = steal_fraction(start, cpu_times())
    for name, t in timed.items():
        ratio = PEER_SECONDS["one_thread_per_process"] / t["iteration"]
        results[name] = {
            **{f"seconds_{k}": round(v, 3) for k, v in t.items()},
            "speedup_vs_peer": round(ratio, 2),
        }
        print(
            f"{name:52s} {t['sample']:7.3f} {t['adapt']:7.3f} {t['meta']:7.3f} "
            f"{t['iteration']:7.3f} {ratio:8.1f}x"
        )
    if steal is not None:
        print(f"CPU time taken by the hypervisor (steal) during the run: {steal:.0%}")
    print(json.dumps({"peer_seconds": PEER_SECONDS, "variants": results, "cpu_steal": steal}))


if __name__ == "__main__":
    main()
