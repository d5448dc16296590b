"""Task families, installed as ``metarl.envs``; importing it registers each one with Gymnasium.

A family is a Gymnasium env with ``sample_tasks(n, rng) -> list[dict]``, ``set_task(task)`` and a
``task`` attribute; it may also register a ``vector_entry_point`` that steps many tasks at once
(it must then offer ``set_tasks(tasks)``, one task per copy, and ``AutoresetMode.DISABLED``).
The MuJoCo families share ``mujoco_family``: a single env and a batched twin per family.
"""

import gymnasium as gym

# (name, module, max_episode_steps, version): registered as ``metarl/<name>-v<version>`` with the
# entry points ``metarl.envs.<module>:<name>Env`` and ``<name>Vector``; the time limit is the
# paper's horizon. As in Gymnasium, a change of dynamics is a new version: the Ant families were
# v1 when their model took the paper's rllab physics (v0 had gymnasium's, 0.01 s steps) and are
# v2 since they also start from rllab's pose and reward the centre of mass's velocity.
_FAMILIES = [
    ("Navigation2D", "navigation2d", 100, 0),
    ("NavigationDecoys", "navigation_decoys", 20, 0),  # the circle is >= 4 steps out
    ("HalfCheetahVel", "halfcheetah", 200, 0),
    ("HalfCheetahDir", "halfcheetah", 200, 0),
    ("AntVel", "ant", 200, 2),
    ("AntDir", "ant", 200, 2),
]

for _name, _module, _max_episode_steps, _version in _FAMILIES:
    gym.register(
        id=f"metarl/{_name}-v{_version}",
        entry_point=f"metarl.envs.{_module}:{_name}Env",
        vector_entry_point=f"metarl.envs.{_module}:{_name}Vector",
        max_episode_steps=_max_episode_steps,
    )
