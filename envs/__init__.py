"""Task families, installed as ``metarl.envs``; importing it registers each one with Gymnasium.

A family is a Gymnasium env with ``sample_tasks(n, rng) -> list[dict]``, ``set_task(task)`` and a
``task`` attribute; it may also register a ``vector_entry_point`` that steps many tasks at once
(it must then offer ``set_tasks(tasks)``, one task per copy, and ``AutoresetMode.DISABLED``).
The MuJoCo families share ``mujoco_family``: a single env and a batched twin per family.
"""

import gymnasium as gym

gym.register(
    id="metarl/Navigation2D-v0",
    entry_point="metarl.envs.navigation2d:Navigation2DEnv",
    vector_entry_point="metarl.envs.navigation2d:Navigation2DVector",
    max_episode_steps=100,
)

gym.register(
    id="metarl/HalfCheetahVel-v0",
    entry_point="metarl.envs.halfcheetah:HalfCheetahVelEnv",
    vector_entry_point="metarl.envs.halfcheetah:HalfCheetahVelVector",
    max_episode_steps=200,
)

gym.register(
    id="metarl/HalfCheetahDir-v0",
    entry_point="metarl.envs.halfcheetah:HalfCheetahDirEnv",
    vector_entry_point="metarl.envs.halfcheetah:HalfCheetahDirVector",
    max_episode_steps=200,
)

gym.register(
    id="metarl/AntVel-v0",
    entry_point="metarl.envs.ant:AntVelEnv",
    vector_entry_point="metarl.envs.ant:AntVelVector",
    max_episode_steps=200,
)

gym.register(
    id="metarl/AntDir-v0",
    entry_point="metarl.envs.ant:AntDirEnv",
    vector_entry_point="metarl.envs.ant:AntDirVector",
    max_episode_steps=200,
)
