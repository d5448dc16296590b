"""Plug in your own task family: a worked example that meta-trains on it.

A family is an ordinary Gymnasium env plus three things: ``sample_tasks(n, rng)``, ``set_task``
and a ``task`` attribute. Register it, and metarl's sampler, trainer and evaluation take it as
it is (stepped through ``gymnasium.vector.SyncVectorEnv``; register a ``vector_entry_point``
too if you write a batched version, see ``envs/navigation2d.py``).

Run:  python experiments/custom_family.py [--iterations 30] [--run-dir runs/reach1d]
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import metarl


class Reach1DEnv(gym.Env):
    """A point on a line must find a hidden target.

    Observation ``Box(-5, 5, (1,))``: the position ``x`` (starts at 0). Action ``Box(-0.2, 0.2,
    (1,))``: added to ``x``. Reward: ``-|x - target|``. Task: ``{"target": t}``, ``t ~ U[-1, 1]``.
    Never terminates; truncated after 30 steps by the registered time limit.
    """

    def __init__(self, target_range: float = 1.0, max_action: float = 0.2):
        self.target_range, self.max_action = target_range, max_action
        self.observation_space = gym.spaces.Box(-5.0, 5.0, (1,), np.float32)
        self.action_space = gym.spaces.Box(-max_action, max_action, (1,), np.float32)
        self.task = {"target": 0.0}
        self._x = 0.0

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[dict]:
        return [{"target": float(t)} for t in rng.uniform(-self.target_range, self.target_range, n)]

    def set_task(self, task: dict) -> None:
        self.task = {"target": float(task["target"])}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._x = 0.0
        return np.array([self._x], np.float32), {}

    def step(self, action):
        dx = float(np.clip(action, -self.max_action, self.max_action)[0])
        self._x = float(np.clip(self._x + dx, -5.0, 5.0))
        reward = -abs(self._x - self.task["target"])
        return np.array([self._x], np.float32), reward, False, False, {"distance": -reward}


gym.register(id="example/Reach1D-v0", entry_point=Reach1DEnv, max_episode_steps=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--run-dir", default="runs/reach1d")
    args = parser.parse_args()

    config = metarl.load_config(
        None,
        [
            "env=example/Reach1D-v0",
            f"iterations={args.iterations}",
            "meta_batch=10",
            "episodes=10",
            "policy.hidden=[32, 32]",
            "eval.tasks=20",
            "eval.episodes=10",
            "eval.steps=2",
        ],
    )
    run_dir = metarl.train(config, args.run_dir)
    report = metarl.evaluate(run_dir)
    for k, (mean, se) in enumerate(zip(report["mean_return"], report["stderr"], strict=True)):
        print(f"after {k} gradient steps: {mean:8.2f} ± {se:.2f}")


if __name__ == "__main__":
    main()
