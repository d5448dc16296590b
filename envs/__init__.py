"""Task families, installed as ``metarl.envs``; importing it registers each one with Gymnasium.

A family is a Gymnasium env with ``sample_tasks(n, rng) -> list[dict]``, ``set_task(task)`` and a
``task`` attribute; it may also register a ``vector_entry_point`` that steps many tasks at once
(it must then offer ``set_tasks(tasks)``, one task per copy, and ``AutoresetMode.DISABLED``).
The MuJoCo families share ``mujoco_family``: a single env and a batched twin per family.
"""

import gymnasium as gym

# (name, module, max_episode_steps): registered as ``metarl/<name>-v0`` with the entry points
# ``metarl.envs.<module>:<name>Env`` and ``<name>Vector``; the time limit is the paper's horizon.
_FAMILIES = [
    ("Navigation2D", "navigation2d", 100),
    ("NavigationDecoys", "navigation_decoys", 20),  # the circle is >= 4 steps out
    ("HalfCheetahVel", "halfcheetah", 200),
    ("HalfCheetahDir", "halfcheetah", 200),
    ("AntVel", "ant", 200),
    ("AntDir", "ant", 200),
]

for _name, _module, _max_episode_steps in _FAMILIES:
    gym.register(
        id=f"metarl/{_name}-v0",
        entry_point=f"metarl.envs.{_module}:{_name}Env",
        vector_entry_point=f"metarl.envs.{_module}:{_name}Vector",
        max_episode_steps=_max_episode_steps,
    )
