"""Shared machinery of the MuJoCo task families: a single Gymnasium env and its batched twin.

A family subclasses :class:`MujocoTaskEnv` and supplies only

- ``xml_file``, a model under ``envs/assets`` (or an absolute path), and ``fields``, the
  ``MjData`` arrays it reads;
- ``sample_tasks(n, rng)`` and an initial ``task`` (via ``set_task`` in its ``__init__``);
- ``observation(data)`` and ``reward(qpos_before, data, actions, task)``, vectorised over a leading
  copy axis ``n``,

plus a one-line subclass of :class:`MujocoVectorEnv` that names it. The single env calls the same
two functions on a batch of one, so the task is defined once for both.

The locomotion families are a body (``HalfCheetahEnv``, ``AntEnv``: model, observation, costs)
crossed with a task: :class:`VelocityTask` or :class:`DirectionTask` supplies ``sample_tasks``,
the initial task and the ``forward_reward`` the body's reward adds, as in
``class AntDirEnv(DirectionTask, AntEnv)``.

Physics. The single env steps one ``MjData`` with ``mj_step``. The vector env keeps every copy in a
``mujoco.batch.Batch`` (MuJoCo 4): one C++ call steps them all on a thread pool outside the GIL,
with results bit-identical to a loop of ``mj_step`` over one ``MjData`` per copy. After the
``frame_skip`` substeps of a control step both recompute the forward stages up to the family's
``stage`` at the new state: ``mjSTAGE_POS`` (the default: ``mj_fwdPosition``, so that kinematic
fields such as ``xmat`` and ``subtree_com`` describe the new state), ``mjSTAGE_VEL`` (also the
velocity stage and the position and velocity sensors, as ``mj_step1``: e.g. ``subtree_linvel``,
which the model must ask for with a ``subtreelinvel`` sensor) or ``mjSTAGE_NONE`` (for a family
whose observation and reward read only ``qpos``/``qvel``; the vector env then skips that work,
about 15 % of a HalfCheetah control step, while the single env, where it is cheap, keeps the
position stage). Acceleration-stage fields (``cfrc_ext``) are those computed during the last
substep, as in gymnasium's MuJoCo envs.

Start state. Episodes start at the model's keyframe named ``"init"`` if it has one (its ``qpos``
and ``qvel``), else at ``qpos0`` at rest, plus the reset noise of :class:`MujocoTaskEnv`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from mujoco.batch import Batch

ASSETS = Path(__file__).parent / "assets"

# The observations are unbounded, but gymnasium's checker warns on infinite Box bounds.
_OBS_BOUND = float(np.finfo(np.float32).max)

Data = Mapping[str, np.ndarray]  # MjData field name -> [n, *field shape], read-only


def stack_tasks(tasks: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Task dicts -> ``{key: float64 array [n, ...]}``, the form the vectorised rewards read."""
    return {key: np.array([task[key] for task in tasks], dtype=np.float64) for key in tasks[0]}


class MujocoTaskEnv(MujocoEnv):
    """Base of a MuJoCo task family (see the module docstring for what a subclass supplies).

    Episodes start at the model's ``"init"`` keyframe (else ``qpos0`` at rest) plus noise drawn
    from ``self.np_random``: Gaussian of standard deviation ``s = reset_noise_scale`` on the
    velocities; on the positions uniform in ``[-s, s]`` with ``reset_noise="gymnasium"``
    (gymnasium's MuJoCo envs) and Gaussian of standard deviation ``s / 10`` with
    ``reset_noise="rllab"`` (the rllab envs of the MAML paper: 0.01 and 0.1 at the default ``s``).
    A control step holds the action as ``ctrl`` for ``frame_skip`` physics steps, so
    ``dt = frame_skip * timestep``.

    Constructor arguments (shared by every family): ``frame_skip=5``, ``reset_noise_scale=0.1``,
    ``reset_noise="gymnasium"``,
    ``render_mode=None`` (``"human"``, ``"rgb_array"`` or ``"depth_array"``), ``width=480``,
    ``height=480``, ``camera_name="track"`` (the model's camera that follows the robot).
    """

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"]}
    xml_file: str
    fields: tuple[str, ...] = ("qpos", "qvel")
    # The forward stages recomputed at the new state after a control step (module docstring).
    stage: mujoco.mjtStage = mujoco.mjtStage.mjSTAGE_POS

    def __init__(
        self,
        frame_skip: int = 5,
        reset_noise_scale: float = 0.1,
        reset_noise: str = "gymnasium",
        render_mode: str | None = None,
        width: int = 480,
        height: int = 480,
        camera_name: str | None = "track",
    ):
        if reset_noise not in ("gymnasium", "rllab"):
            raise ValueError(f"reset_noise must be 'gymnasium' or 'rllab', got {reset_noise!r}")
        self.reset_noise = reset_noise
        super().__init__(
            str(ASSETS / self.xml_file),
            frame_skip,
            observation_space=None,
            render_mode=render_mode,
            width=width,
            height=height,
            camera_name=camera_name,
        )
        # Set after MujocoEnv.__init__, which would otherwise assert it against a frame_skip of 5.
        self.metadata = {**self.metadata, "render_fps": int(np.round(1.0 / self.dt))}
        self.reset_noise_scale = reset_noise_scale
        key = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_KEY, "init")
        if key >= 0:
            self.init_qpos = self.model.key_qpos[key].copy()
            self.init_qvel = self.model.key_qvel[key].copy()
        obs_dim = self.observation(self.data_arrays()).shape[-1]
        self.observation_space = gym.spaces.Box(-_OBS_BOUND, _OBS_BOUND, (obs_dim,), np.float32)

    # --- supplied by a family -------------------------------------------------------------------
    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[dict]:
        """``n`` task dicts drawn from ``rng``."""
        raise NotImplementedError

    def observation(self, data: Data) -> np.ndarray:
        """``[n, obs_dim]`` float32 observations from ``data`` (each field ``[n, ...]``)."""
        raise NotImplementedError

    def reward(
        self,
        qpos_before: np.ndarray,
        data: Data,
        actions: np.ndarray,
        task: Mapping[str, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Rewards ``[n]``, terminated ``[n]`` bool and each reward term ``{name: [n]}``.

        ``qpos_before`` ``[n, nq]`` is the state before the control step, ``data`` the fields after
        it, ``actions`` ``[n, nu]`` and ``task`` the tasks stacked by :func:`stack_tasks`.
        """
        raise NotImplementedError

    # --- the single env ---------------------------------------------------------------------------
    def set_task(self, task: Mapping[str, Any]) -> None:
        self.task = dict(task)
        self._task_arrays = stack_tasks([self.task])

    def initial_state(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random initial ``(qpos [nq], qvel [nv])`` drawn from ``rng`` (the vector env too)."""
        scale = self.reset_noise_scale
        if self.reset_noise == "rllab":
            qpos = self.init_qpos + 0.1 * scale * rng.standard_normal(self.model.nq)
        else:
            qpos = self.init_qpos + rng.uniform(-scale, scale, self.model.nq)
        qvel = self.init_qvel + scale * rng.standard_normal(self.model.nv)
        return qpos, qvel

    def data_arrays(self) -> dict[str, np.ndarray]:
        """This env's ``fields`` as a batch of one: ``{name: [1, ...]}`` views of ``self.data``."""
        return {name: getattr(self.data, name)[None] for name in self.fields}

    def reset_model(self) -> np.ndarray:
        self.set_state(*self.initial_state(self.np_random))
        return self.observation(self.data_arrays())[0]

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, float]]:
        actions = np.asarray(action, dtype=np.float64).reshape(1, self.model.nu)
        qpos_before = self.data.qpos[None].copy()
        self.data.ctrl[:] = actions[0]
        mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
        if self.stage == mujoco.mjtStage.mjSTAGE_VEL:
            mujoco.mj_step1(self.model, self.data)  # position and velocity stages and sensors
        else:
            mujoco.mj_fwdPosition(self.model, self.data)
        data = self.data_arrays()
        rewards, terminated, terms = self.reward(qpos_before, data, actions, self._task_arrays)
        obs = self.observation(data)[0]
        if self.render_mode == "human":
            self.render()
        info = {name: float(value[0]) for name, value in terms.items()}
        return obs, float(rewards[0]), bool(terminated[0]), False, info


class MujocoVectorEnv(VectorEnv):
    """``num_envs`` copies of ``env_class`` stepped together in a ``mujoco.batch.Batch``.

    Same spaces, dynamics, observations, rewards and ``info`` terms (as ``[num_envs]`` arrays) as
    the single env; one task per copy, set with ``set_tasks``. Copy ``i`` reset with seed ``s``
    starts exactly where the single env reset with seed ``s`` does, and a copy reset without a
    seed continues its own generator, as the single env does. Autoreset is disabled: reset finished
    copies with ``reset(options={"reset_mask": mask})``. ``truncated`` is set after
    ``max_episode_steps`` steps. A copy whose episode has ended (terminated, truncated, or a
    non-finite observation) is not simulated again until it is reset: ``step`` leaves its state as
    it is and gives it reward 0 (and 0 in every ``info`` term), so that a batch whose episodes end
    early (a falling ant) spends no physics on the finished ones. ``nthread`` is the batch's thread
    count (0: all cores); every other keyword goes to ``env_class``.
    """

    metadata = {"autoreset_mode": AutoresetMode.DISABLED}
    env_class: type[MujocoTaskEnv]

    def __init__(
        self,
        num_envs: int,
        max_episode_steps: int | None = None,
        nthread: int = 0,
        **kwargs: Any,
    ):
        # The single env holds the model, the spaces and the family's reward and observation.
        self.single = self.env_class(**kwargs)
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = self.single.observation_space
        self.single_action_space = self.single.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.batch = Batch(self.single.model, num_envs, nthread)
        self._ctrl = self.batch.bind("ctrl")
        self._data = {name: self.batch.bind(name) for name in self.single.fields}
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._ended = np.zeros(num_envs, bool)
        self.set_tasks([self.single.task] * num_envs)

    def set_tasks(self, tasks: Sequence[Mapping[str, Any]]) -> None:
        """One task per copy: ``len(tasks) == num_envs``."""
        if len(tasks) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} tasks, got {len(tasks)}")
        self.tasks = [dict(task) for task in tasks]
        self._task_arrays = stack_tasks(self.tasks)

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, int | np.integer):
            return [int(seed) + i for i in range(self.num_envs)]
        if len(seed) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds, got {len(seed)}")
        return list(seed)

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict | None = None,
    ) -> tuple[np.ndarray, dict]:
        """Reset the copies in ``options["reset_mask"]`` (default: all); ``seed`` int or list."""
        mask = None if options is None else options.get("reset_mask")
        mask = np.ones(self.num_envs, bool) if mask is None else np.asarray(mask, bool)
        ids = np.flatnonzero(mask)
        seeds = self._seeds(seed)
        qpos = np.empty((len(ids), self.single.model.nq))
        qvel = np.empty((len(ids), self.single.model.nv))
        # Per copy and in Python: one generator each is what makes copy i match a single env.
        for k, i in enumerate(ids):
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i], _ = seeding.np_random(seeds[i])
            qpos[k], qvel[k] = self.single.initial_state(self._rngs[i])
        self.batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
        self._data["qpos"][ids] = qpos
        self._data["qvel"][ids] = qvel
        self.batch.forward(ids)  # mj_forward, as the single env's set_state
        self._steps[ids] = 0
        self._ended[ids] = False
        return self.single.observation(self._data), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``actions`` ``[num_envs, nu]`` -> obs, rewards, terminated, truncated, info terms."""
        actions = np.asarray(actions, dtype=np.float64)
        ended = self._ended
        live = np.flatnonzero(~ended)
        qpos_before = self._data["qpos"].copy()
        self._ctrl[:] = actions
        self.batch.step(live, nstep=self.single.frame_skip, stage=self.single.stage)
        rewards, terminated, terms = self.single.reward(
            qpos_before, self._data, actions, self._task_arrays
        )
        obs = self.single.observation(self._data)
        self._steps[live] += 1
        truncated = np.zeros(self.num_envs, bool)
        if self.max_episode_steps is not None:
            truncated = (self._steps >= self.max_episode_steps) & ~terminated
        if ended.any():
            rewards = np.where(ended, 0.0, rewards)
            terms = {name: np.where(ended, 0.0, value) for name, value in terms.items()}
        self._ended = ended | terminated | truncated | ~np.isfinite(obs).all(axis=1)
        return obs, rewards, terminated, truncated, terms

    def close_extras(self, **kwargs: Any) -> None:
        self.single.close()


# A family lists its task mixin before its body, ``class AntDirEnv(DirectionTask, AntEnv)``: so the
# mixin's sample_tasks and forward_reward come before the body's placeholders in the MRO, and its
# __init__ takes the task's own arguments and passes the rest on to the body.


class PlanarCenterOfMass:
    """The centre of mass of a planar robot's bodies from ``qpos``, vectorised over copies.

    For a model moving in the x-z plane (body frames unrotated at ``qpos0``, joints at the body
    origins, in each body slides along x or z before hinges about y), this is what
    ``subtree_com[1]`` holds after ``mj_fwdPosition``, from a few array operations instead of
    that whole stage (which also detects contacts and builds the inertia matrix). With ``θ_b``
    the angle of body ``b`` (the sum of the hinge angles from the root to it), ``R(θ)`` the
    rotation about y, ``w_b`` the mass fraction of ``b``'s subtree and ``μ_b`` of ``b`` itself:

        com = Σ_b w_b R(θ_parent(b)) (pos_b + Σ_slides d_s axis_s) + Σ_b μ_b R(θ_b) ipos_b.
    """

    def __init__(self, model: mujoco.MjModel):
        if not (np.allclose(model.body_quat[1:], [1, 0, 0, 0]) and np.allclose(model.jnt_pos, 0)):
            raise ValueError("a planar model needs unrotated body frames and joints at origins")
        nbody, hinge = model.nbody, mujoco.mjtJoint.mjJNT_HINGE
        self.angle_of = np.zeros((model.nq, nbody))  # θ = (qpos - qpos0) @ angle_of: [n, nbody]
        slides = []  # (qpos address, body, (x, z) axis)
        for b in range(1, nbody):
            self.angle_of[:, b] = self.angle_of[:, model.body_parentid[b]]
            seen_hinge = False
            for j in range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]):
                axis, adr = model.jnt_axis[j], model.jnt_qposadr[j]
                if model.jnt_type[j] == hinge and np.allclose(axis, [0, 1, 0]):
                    self.angle_of[adr, b] = 1.0
                    seen_hinge = True
                elif model.jnt_type[j] == mujoco.mjtJoint.mjJNT_SLIDE and abs(axis[1]) < 1e-12:
                    if seen_hinge:
                        raise ValueError(f"joint {j}: a slide after a hinge in its body")
                    slides.append((adr, b, axis[[0, 2]]))
                else:
                    raise ValueError(f"joint {j} does not move in the x-z plane")
        mass = model.body_mass.copy()
        mass[0] = 0.0
        subtree = mass.copy()
        for b in range(nbody - 1, 0, -1):  # children have larger ids than their parents
            subtree[model.body_parentid[b]] += subtree[b]
        self.parent = model.body_parentid.copy()
        self.qpos0 = model.qpos0.copy()
        # Per-body (x, z) vectors, weighted by mass fractions.
        self.offset = (subtree / mass.sum())[:, None] * model.body_pos[:, [0, 2]]
        self.inertial = (mass / mass.sum())[:, None] * model.body_ipos[:, [0, 2]]
        self.slide_adr = np.array([adr for adr, _, _ in slides], dtype=int)
        self.slide_body = np.array([b for _, b, _ in slides], dtype=int)
        self.slide_axis = np.array(
            [subtree[b] / mass.sum() * axis for _, b, axis in slides]
        ).reshape(-1, 2)

    def __call__(self, qpos: np.ndarray) -> np.ndarray:
        """``qpos`` ``[n, nq]`` -> centre of mass ``[n, 3]`` (world x, y = 0, z)."""
        delta = qpos - self.qpos0
        theta = delta @ self.angle_of  # [n, nbody]
        c, s = np.cos(theta), np.sin(theta)
        cp, sp = c[:, self.parent], s[:, self.parent]
        xo, zo = _rotated_sum(cp, sp, self.offset)
        xi, zi = _rotated_sum(c, s, self.inertial)
        x, z = xo + xi, zo + zi
        # Slides move their body's subtree along the axis as rotated by the parent.
        d = delta[:, self.slide_adr]  # [n, slides]
        cs, ss = cp[:, self.slide_body], sp[:, self.slide_body]
        ax, az = self.slide_axis[:, 0], self.slide_axis[:, 1]
        x = x + (d * (cs * ax + ss * az)).sum(1)
        z = z + (d * (cs * az - ss * ax)).sum(1)
        return np.stack([x, np.zeros(len(qpos)), z], axis=1)

    def velocity(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """``qpos``, ``qvel`` ``[n, nq]`` -> velocity of the centre of mass ``[n, 3]``: MuJoCo's
        ``subtree_linvel[1]`` at that state.

        Hinges and slides only, so ``d qpos / dt = qvel`` and the velocity is the derivative of
        ``self(qpos)`` along ``qvel``, here by a complex step, exact to rounding:
        ``Im f(q + i h v) / h = f'(q) v + O(h^2)`` with no difference of nearby values to cancel.
        """
        h = 1e-20
        return self(qpos + 1j * h * qvel).imag / h


def _rotated_sum(c: np.ndarray, s: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Σ_b R(θ_b) v_b`` for per-body ``(x, z)`` vectors ``v`` ``[nbody, 2]``, given
    ``cos θ`` and ``sin θ`` ``[n, nbody]``: the ``x`` and ``z`` sums, each ``[n]``."""
    return c @ v[:, 0] + s @ v[:, 1], c @ v[:, 1] - s @ v[:, 0]


class VelocityTask:
    """Task mixin: move forward at a target velocity (HalfCheetahVel, AntVel).

    Task ``{"velocity": v}``, ``v`` uniform in ``[low, high]``, not observed; the initial task is
    the middle of the range. ``forward_reward = -|v_x - velocity|`` (``[n]``, for the forward
    velocity ``v_x`` ``[n]``): the speed-tracking error.
    """

    def __init__(self, low: float, high: float, **kwargs: Any):
        self.low, self.high = low, high
        super().__init__(**kwargs)
        self.set_task({"velocity": (low + high) / 2})

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[dict]:
        """``n`` tasks ``{"velocity": float}`` drawn from ``rng``."""
        return [{"velocity": float(v)} for v in rng.uniform(self.low, self.high, n)]

    def forward_reward(self, x_velocity: np.ndarray, task: Mapping[str, np.ndarray]) -> np.ndarray:
        """``-|x_velocity - task["velocity"]|``, ``[n]``."""
        return -np.abs(x_velocity - task["velocity"])


class DirectionTask:
    """Task mixin: move forward or backward along x (HalfCheetahDir, AntDir).

    Task ``{"direction": d}``, ``d = +1.0`` or ``-1.0`` each with probability 1/2, not observed;
    the initial task is ``{"direction": 1.0}``. ``forward_reward = direction * v_x`` (``[n]``, for
    the forward velocity ``v_x`` ``[n]``).
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.set_task({"direction": 1.0})

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[dict]:
        """``n`` tasks ``{"direction": +1.0 or -1.0}`` drawn from ``rng``."""
        return [{"direction": float(d)} for d in rng.choice([-1.0, 1.0], n)]

    def forward_reward(self, x_velocity: np.ndarray, task: Mapping[str, np.ndarray]) -> np.ndarray:
        """``task["direction"] * x_velocity``, ``[n]``."""
        return task["direction"] * x_velocity
