"""Task families, installed as ``metarl.envs``; importing it registers each one with Gymnasium.

A family is a Gymnasium env with ``sample_tasks(n, rng) -> list[dict]``, ``set_task(task)`` and a
``task`` attribute; it may also register a ``vector_entry_point`` that steps many tasks at once
(it must then offer ``set_tasks(tasks)``, one task per copy, and ``AutoresetMode.DISABLED``).
"""

import gymnasium as gym

gym.register(
    id="metarl/Navigation2D-v0",
    entry_point="metarl.envs.navigation2d:Navigation2DEnv",
    vector_entry_point="metarl.envs.navigation2d:Navigation2DVector",
    max_episode_steps=100,
)
