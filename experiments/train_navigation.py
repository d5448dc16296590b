"""Meta-train on 2D navigation from a script, then adapt the policy to a goal of your choice.

Run:  python experiments/train_navigation.py [--iterations 100] [--run-dir runs/nav-api]
"""

from __future__ import annotations

import argparse

import metarl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--run-dir", default="runs/nav-api")
    args = parser.parse_args()

    # The paper's settings from YAML, with overrides given the way `--set` takes them.
    config = metarl.load_config("experiments/navigation2d.yaml", [f"iterations={args.iterations}"])
    run_dir = metarl.train(config, args.run_dir)

    report = metarl.evaluate(run_dir, tasks=40, steps=3)  # also written to evaluation.json
    print("held-out return after 0..3 steps:", report["mean_return"])

    learner = metarl.load_learner(run_dir)
    goal = {"goal": [0.3, -0.2]}
    result = metarl.adapt_to_tasks(learner, [goal], steps=2, episodes=20)
    for k, ret in enumerate(result.returns[:, 0]):
        print(f"goal {goal['goal']}: return {ret:7.2f} after {k} steps")
    adapted = result.params[-1]  # per-task parameter dict, each tensor [1, ...]
    print("adapted log-std:", adapted["log_std"][0].tolist())


if __name__ == "__main__":
    main()
