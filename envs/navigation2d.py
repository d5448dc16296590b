"""2D navigation to an unobserved goal: the single env and its numpy vector twin."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space


def _sample_goals(n: int, rng: np.random.Generator, goal_range: float) -> list[dict]:
    goals = rng.uniform(-goal_range, goal_range, size=(n, 2))
    return [{"goal": goal} for goal in goals]


def move(position, action, max_action: float, bound: float):
    """The point mass's step, shared with other 2D families; arrays are [..., 2]."""
    return np.clip(position + max_action * np.clip(action, -1.0, 1.0), -bound, bound)


def _step(position, goal, action, max_action, bound, goal_tolerance):
    """The dynamics shared by the single and the vector env; arrays are [..., 2]."""
    position = move(position, action, max_action, bound)
    offset = position - goal
    distance = np.sqrt((offset**2).sum(-1))
    terminated = (np.abs(offset) < goal_tolerance).all(-1)
    return position, -distance, terminated


class Navigation2DEnv(gym.Env):
    """2D navigation: a point mass must find an unobserved goal (Finn et al. 2017, section 5.3).

    Observation (``Box(-bound, bound, (2,))``)
        =====  ==========================
        index  meaning
        =====  ==========================
        0      x position of the agent
        1      y position of the agent
        =====  ==========================

    Action (``Box(-1, 1, (2,))``)
        A displacement in units of ``max_action``: clipped to ``[-1, 1]`` per coordinate, scaled
        and added to the position, ``x_{t+1} = clip(x_t + max_action * clip(a_t, -1, 1), ±bound)``.
        The paper's code acts the same way (rllab's ``normalize`` wrapper maps the policy's
        ``[-1, 1]`` to the env's ``[-0.1, 0.1]``), which matters for learning: the policy's
        initial standard deviation of 1 is then 0.1 in the world, one maximal step.

    Reward
        ``distance``: ``-||x_{t+1} - goal||_2``, the only term (``info["distance"]`` is its
        negation).

    Task distribution
        ``{"goal": (gx, gy)}`` with each coordinate uniform in ``[-goal_range, goal_range]``
        (paper: ``goal_range = 0.5``). The goal is not part of the observation.

    Episode end
        *terminated* when ``|x - goal| < goal_tolerance`` in both coordinates (paper: 0.01);
        *truncated* by the time limit (registered ``max_episode_steps = 100``, the paper's horizon).
        Every episode starts at the origin; ``reset(seed=...)`` is deterministic.

    Constructor arguments
        ``goal_range=0.5``, ``max_action=0.1``, ``goal_tolerance=0.01``, ``bound=10.0`` (the arena
        half-width: the position is clipped to it, which the paper's 100 steps of at most 0.1 never
        reach).

    ``Navigation2DVector`` advances many copies at once with numpy (one task per copy); it is the
    ``vector_entry_point`` that ``gymnasium.make_vec`` and the metarl sampler use.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        goal_range: float = 0.5,
        max_action: float = 0.1,
        goal_tolerance: float = 0.01,
        bound: float = 10.0,
    ):
        self.goal_range = goal_range
        self.max_action = max_action
        self.goal_tolerance = goal_tolerance
        self.bound = bound
        self.observation_space = gym.spaces.Box(-bound, bound, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.task = {"goal": np.zeros(2)}
        self._position = np.zeros(2)

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[dict]:
        """``n`` tasks ``{"goal": array (2,)}`` drawn from ``rng``."""
        return _sample_goals(n, rng, self.goal_range)

    def set_task(self, task: dict) -> None:
        self.task = {"goal": np.asarray(task["goal"], dtype=np.float64).reshape(2)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._position = np.zeros(2)
        return self._position.astype(np.float32), {}

    def step(self, action):
        self._position, reward, terminated = _step(
            self._position,
            self.task["goal"],
            np.asarray(action, dtype=np.float64),
            self.max_action,
            self.bound,
            self.goal_tolerance,
        )
        info = {"distance": float(-reward)}
        return self._position.astype(np.float32), float(reward), bool(terminated), False, info


class PointVectorEnv(VectorEnv):
    """Base of the batched point-mass families: ``num_envs`` positions ``[num_envs, 2]``
    stepped as numpy arrays, each episode starting at the origin.

    A subclass names its single env (``env_class``: spaces, constants, ``task``) and supplies
    ``set_tasks`` and ``step``; ``_advance`` gives ``step`` the observation and the time-limit
    truncation. Autoreset is disabled: reset finished copies with
    ``reset(options={"reset_mask": mask})``.
    """

    metadata = {"autoreset_mode": AutoresetMode.DISABLED}
    env_class: type[gym.Env]

    def __init__(self, num_envs: int, max_episode_steps: int | None = None, **kwargs: Any):
        self.single = self.env_class(**kwargs)
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = self.single.observation_space
        self.single_action_space = self.single.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._positions = np.zeros((num_envs, 2))
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self.set_tasks([self.single.task] * num_envs)

    def set_tasks(self, tasks: list[dict]) -> None:
        raise NotImplementedError

    def reset(self, *, seed=None, options: dict | None = None):
        # Episodes start at the origin: a seed changes nothing, but is accepted as the API says.
        mask = None if options is None else options.get("reset_mask")
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        self._positions[mask] = 0.0
        self._steps[mask] = 0
        return self._positions.astype(np.float32), {}

    def _advance(self, positions: np.ndarray, terminated: np.ndarray):
        """Store the new ``positions``; the observations and ``truncated`` of this step."""
        self._positions = positions
        self._steps += 1
        truncated = np.zeros(self.num_envs, bool)
        if self.max_episode_steps is not None:
            truncated = (self._steps >= self.max_episode_steps) & ~terminated
        return self._positions.astype(np.float32), truncated


class Navigation2DVector(PointVectorEnv):
    """``num_envs`` copies of :class:`Navigation2DEnv` stepped as one numpy array operation.

    Same spaces, dynamics and rewards as the single env; one task per copy, set with
    ``set_tasks``.
    """

    env_class = Navigation2DEnv

    def set_tasks(self, tasks: list[dict]) -> None:
        """One task per copy: ``len(tasks) == num_envs``."""
        if len(tasks) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} tasks, got {len(tasks)}")
        self.goals = np.stack([np.asarray(t["goal"], dtype=np.float64) for t in tasks])

    def step(self, actions):
        positions, rewards, terminated = _step(
            self._positions,
            self.goals,
            np.asarray(actions, dtype=np.float64),
            self.single.max_action,
            self.single.bound,
            self.single.goal_tolerance,
        )
        obs, truncated = self._advance(positions, terminated)
        return obs, rewards, terminated, truncated, {"distance": -rewards}
