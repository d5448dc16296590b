"""2D navigation with decoys and an underspecified reward (MeRL, Agarwal et al. 2019)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .navigation2d import PointVectorEnv, move

# The "unknown transform" from the goal direction to the cue: well conditioned but not
# orthogonal, so the cue is not simply a rotated goal direction.
CUE_TRANSFORM = np.array([[0.6, -1.1], [0.9, 0.4]])
AUX_FEATURES = 9
REWARDS = ("any", "goal")
CUES = ("informative", "uninformative")


def _step(env: NavigationDecoysEnv, position, action, goal_angle, cue):
    """Dynamics, reward and info shared by the single and the vector env; arrays are [..., 2]."""
    position = move(position, action, env.max_action, env.bound)
    norm = np.sqrt((position**2).sum(-1))
    terminated = np.asarray(norm >= env.radius)
    # Target k sits at goal_angle + 2πk/(K+1); k = 0 is the goal, the others are decoys.
    targets = np.asarray(goal_angle)[..., None] + env.target_offsets
    heading = np.arctan2(position[..., 1], position[..., 0])
    gap = np.abs((heading[..., None] - targets + np.pi) % (2 * np.pi) - np.pi)
    hits = (gap < env.half_width) & terminated[..., None]
    hit_goal, hit_decoy = hits[..., 0], hits[..., 1:].any(-1)
    reward = (hit_goal | hit_decoy) if env.reward == "any" else hit_goal
    safe = np.where(norm > 0, norm, 1.0)[..., None]
    u = np.where(norm[..., None] > 0, position / safe, 0.0)
    aux = np.concatenate(
        [
            (u[..., :, None] * cue[..., None, :]).reshape(*u.shape[:-1], 4),
            u,
            cue,
            np.ones((*u.shape[:-1], 1)),
        ],
        -1,
    )
    info = {
        "true_reward": hit_goal.astype(np.float64),
        "hit_goal": hit_goal.astype(np.float64),
        "hit_decoy": hit_decoy.astype(np.float64),
        "success": reward.astype(np.float64),
        "aux_features": aux.astype(np.float32),
    }
    return position, reward.astype(np.float64), terminated, info


class NavigationDecoysEnv(gym.Env):
    """2D navigation to one of several look-alike targets, for meta-learning from
    underspecified rewards (MeRL, Agarwal et al. 2019).

    Observation (``Box(-bound, bound, (2,))``, float32)
        The agent's ``(x, y)`` position. Neither the goal nor the cue is observed.

    Action (``Box(-1, 1, (2,))``)
        As in Navigation2D: ``x_{t+1} = clip(x_t + max_action * clip(a_t, -1, 1), ±bound)``.

    Targets
        ``decoys + 1`` targets on the circle of radius ``radius``, at the angles
        ``goal_angle + 2πk/(decoys + 1)``; ``k = 0`` is the goal, the others are decoys. They are
        evenly spaced on purpose: from hits alone the goal cannot be told from a decoy. Target
        ``k`` is hit when the point crosses the circle less than ``half_width`` radians (wrapped
        angular distance of ``atan2(y, x)``) from it.

    Reward
        0 except at the crossing step: with ``reward="any"`` (the underspecified reward) 1 if any
        target is hit; with ``reward="goal"`` (the oracle) 1 only if the goal is hit.

    Episode end
        *terminated* at the first step with ``|x| >= radius``; *truncated* by the time limit
        (registered ``max_episode_steps = 20``). Every episode starts exactly at the origin.

    Task distribution
        ``{"goal_angle": θ, "cue": [c0, c1]}`` with ``θ`` uniform in ``[0, 2π)``. With
        ``cue="informative"``, ``c = W [cos θ, sin θ] + cue_noise ε``, ``ε ~ N(0, I)`` and ``W`` the
        fixed ``CUE_TRANSFORM``; with ``cue="uninformative"`` the same formula with an independent
        uniform angle in place of ``θ``: the same distribution, but no information about the goal.
        The same ``rng`` gives the same goal angles for both settings.

    Info (every step)
        ``true_reward``: 1 when the goal is hit (whatever ``reward`` is); ``hit_goal``,
        ``hit_decoy``: 1 when that kind of target is hit; ``success``: 1 when this step's reward is
        positive; ``aux_features`` (float32, ``AUX_FEATURES = 9``), for a learned auxiliary reward,
        with ``u = x/|x|`` (zeros at the origin) and ``c`` the cue:

        =====  ===========  =====  ======
        index  value        index  value
        =====  ===========  =====  ======
        0      ``u0 * c0``  5      ``u1``
        1      ``u0 * c1``  6      ``c0``
        2      ``u1 * c0``  7      ``c1``
        3      ``u1 * c1``  8      ``1.0``
        4      ``u0``
        =====  ===========  =====  ======

        The products let a linear score express "the crossing direction agrees with the cue
        through an unknown transform".

    Constructor arguments
        ``decoys=3``, ``radius=0.5``, ``half_width=0.4`` (at most ``π/(decoys + 1)``, so that
        target windows do not overlap), ``reward="any"`` or ``"goal"``, ``cue="informative"`` or
        ``"uninformative"``, ``cue_noise=0.3``, ``max_action=0.1``, ``bound=10.0`` (the arena
        half-width, as in Navigation2D; must exceed ``radius``).

    ``NavigationDecoysVector`` advances many copies at once with numpy (one task per copy); it is
    the ``vector_entry_point`` that ``gymnasium.make_vec`` and the metarl sampler use.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        decoys: int = 3,
        radius: float = 0.5,
        half_width: float = 0.4,
        reward: str = "any",
        cue: str = "informative",
        cue_noise: float = 0.3,
        max_action: float = 0.1,
        bound: float = 10.0,
    ):
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if cue not in CUES:
            raise ValueError(f"cue must be one of {CUES}, got {cue!r}")
        if not isinstance(decoys, (int, np.integer)) or decoys < 0:
            raise ValueError(f"decoys must be an integer >= 0, got {decoys!r}")
        if not 0 < radius < bound:
            raise ValueError(f"radius must be in (0, bound={bound}), got {radius}")
        if not 0 < half_width <= np.pi / (decoys + 1):
            raise ValueError(
                f"half_width must be in (0, pi/(decoys+1)] = (0, {np.pi / (decoys + 1):.4f}] so "
                f"that target windows do not overlap, got {half_width}"
            )
        if cue_noise < 0:
            raise ValueError(f"cue_noise must be >= 0, got {cue_noise}")
        if max_action <= 0:
            raise ValueError(f"max_action must be > 0, got {max_action}")
        self.decoys = int(decoys)
        self.radius = radius
        self.half_width = half_width
        self.reward = reward
        self.cue = cue
        self.cue_noise = cue_noise
        self.max_action = max_action
        self.bound = bound
        self.target_offsets = 2 * np.pi * np.arange(self.decoys + 1) / (self.decoys + 1)
        self.observation_space = gym.spaces.Box(-bound, bound, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.task = {"goal_angle": 0.0, "cue": np.zeros(2)}
        self._position = np.zeros(2)

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[dict]:
        """``n`` tasks ``{"goal_angle": float, "cue": [float, float]}`` drawn from ``rng``."""
        angles = rng.uniform(0.0, 2 * np.pi, n)
        noise = rng.standard_normal((n, 2))
        # Drawn after the goals and the noise, so both cue settings share them for a given rng.
        cue_angles = angles if self.cue == "informative" else rng.uniform(0.0, 2 * np.pi, n)
        directions = np.stack([np.cos(cue_angles), np.sin(cue_angles)], -1)
        cues = directions @ CUE_TRANSFORM.T + self.cue_noise * noise
        return [
            {"goal_angle": float(a), "cue": [float(c[0]), float(c[1])]}
            for a, c in zip(angles, cues, strict=True)
        ]

    def set_task(self, task: dict) -> None:
        cue = np.asarray(task["cue"], dtype=np.float64).reshape(2)
        self.task = {"goal_angle": float(task["goal_angle"]), "cue": cue}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._position = np.zeros(2)
        return self._position.astype(np.float32), {}

    def step(self, action):
        self._position, reward, terminated, info = _step(
            self,
            self._position,
            np.asarray(action, dtype=np.float64),
            self.task["goal_angle"],
            self.task["cue"],
        )
        info = {k: v if k == "aux_features" else float(v) for k, v in info.items()}
        return self._position.astype(np.float32), float(reward), bool(terminated), False, info


class NavigationDecoysVector(PointVectorEnv):
    """``num_envs`` copies of :class:`NavigationDecoysEnv` stepped as one numpy array operation.

    Same spaces, dynamics, rewards and ``info`` (as ``[num_envs]`` arrays, ``aux_features``
    ``[num_envs, AUX_FEATURES]``) as the single env; one task per copy, set with ``set_tasks``.
    """

    env_class = NavigationDecoysEnv

    def set_tasks(self, tasks: list[dict]) -> None:
        """One task per copy: ``len(tasks) == num_envs``."""
        if len(tasks) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} tasks, got {len(tasks)}")
        self.goal_angles = np.array([float(t["goal_angle"]) for t in tasks])
        self.cues = np.stack([np.asarray(t["cue"], dtype=np.float64).reshape(2) for t in tasks])

    def step(self, actions):
        positions, rewards, terminated, info = _step(
            self.single,
            self._positions,
            np.asarray(actions, dtype=np.float64),
            self.goal_angles,
            self.cues,
        )
        obs, truncated = self._advance(positions, terminated)
        return obs, rewards, terminated, truncated, info
