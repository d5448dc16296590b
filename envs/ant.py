"""Ant velocity and direction tasks (Finn et al. 2017, section 5.3) on official MuJoCo."""

from __future__ import annotations

from collections.abc import Mapping

import mujoco
import numpy as np

from .mujoco_family import Data, DirectionTask, MujocoTaskEnv, MujocoVectorEnv, VelocityTask

_TORSO = 1  # body id of "torso" in ant.xml (body 0 is the world)


class AntEnv(MujocoTaskEnv):
    """The quadruped of AntVel and AntDir: model, observation, costs and termination.

    The manual of both ant tasks, but for the forward reward and the task distribution, which
    :class:`AntVelEnv` and :class:`AntDirEnv` state. A task adds ``forward_reward(x_velocity,
    task)``, ``sample_tasks`` and the initial task (a mixin of ``mujoco_family``).

    Observation (``Box(float32 min, float32 max, (119,))``, as the paper's rllab Ant)
        =======  ==============================================================================
        index    meaning
        =======  ==============================================================================
        0-2      torso position x, y, z (m)
        3-6      torso orientation quaternion (w, x, y, z)
        7-14     hinge angles: hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3, hip_4, ankle_4
        15-20    torso linear (m/s) and angular (rad/s) velocity
        21-28    hinge velocities, same order (rad/s)
        29-106   external (contact) force and torque on each of the 13 bodies (MuJoCo's
                 ``cfrc_ext``, 6 values each, clipped to ``contact_force_range``)
        107-115  torso rotation matrix, row-major
        116-118  centre of mass of the whole ant (the torso's subtree, rllab's
                 ``get_body_com("torso")``): world x, y, z (m)
        =======  ==============================================================================

        rllab also observed the world body's ``cfrc_ext`` row, which is always zero; it is left
        out here. The contact forces are those of the last physics substep (MuJoCo computes them
        with the accelerations); everything else describes the state after the control step.

    Action (``Box(-1, 1, (8,))``)
        Motor controls of hip_4, ankle_4, hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3 (torque
        = 150 x control), held for ``frame_skip`` RK4 physics steps of 0.02 s. The model's physics
        are those of the paper's rllab ant (timestep, integrator, contact softness), which took
        one physics step per control step, so the default ``frame_skip=1`` gives its
        ``dt = 0.02`` s (gymnasium's Ant, a different model, has 0.05 s).

    Start state
        rllab's start pose (the model's keyframe ``"init"``: torso at z = 0.55, level, hips at 0,
        ankles bent by 1 rad so that the feet stand on the ground) plus rllab's noise by default:
        ``N(0, 0.01²)`` on each ``qpos`` entry and ``N(0, 0.1²)`` on each ``qvel`` entry
        (``reset_noise="rllab"``; ``"gymnasium"`` gives ``U(-0.1, 0.1)`` on ``qpos``).

    Reward (each term in ``info``)
        reward = reward_forward + reward_ctrl + reward_contact + reward_survive, where
        ``reward_forward`` is the task's function of ``v_x``, the x velocity of the whole ant's
        centre of mass at the end of the control step (``info["x_velocity"]``; MuJoCo's
        ``subtree_linvel`` of the torso, rllab's ``get_body_comvel("torso")``: the legs are
        two thirds of the mass, so this is not the torso's velocity);
        ``reward_ctrl = -ctrl_cost_weight * ||a||^2`` (paper code: 0.5e-2);
        ``reward_contact = -contact_cost_weight * ||clip(cfrc_ext)||^2`` over the 13 bodies
        (paper code: 0.5e-3);
        ``reward_survive = survive_reward``, every step.

    Episode end
        *terminated* when the torso height leaves ``healthy_z_range`` (default ``[0.2, 1.0]``) or
        the state is not finite (unless ``terminate_when_unhealthy=False``); *truncated* by the
        time limit (registered ``max_episode_steps = 200``, the paper's horizon).

    Constructor arguments (of both tasks)
        ``ctrl_cost_weight=0.005``, ``contact_cost_weight=0.0005``,
        ``contact_force_range=(-1.0, 1.0)``, ``survive_reward=0.05``,
        ``healthy_z_range=(0.2, 1.0)``, ``terminate_when_unhealthy=True``, and those of
        :class:`~metarl.envs.mujoco_family.MujocoTaskEnv` (but ``frame_skip=1`` and
        ``reset_noise="rllab"``): ``reset_noise_scale=0.1``, ``render_mode``, ``width``,
        ``height``, ``camera_name``.
    """

    xml_file = "ant.xml"
    fields = ("qpos", "qvel", "cfrc_ext", "xmat", "subtree_com", "subtree_linvel")
    stage = mujoco.mjtStage.mjSTAGE_VEL  # subtree_linvel at the new state

    def __init__(
        self,
        ctrl_cost_weight: float = 0.005,
        contact_cost_weight: float = 0.0005,
        contact_force_range: tuple[float, float] = (-1.0, 1.0),
        survive_reward: float = 0.05,
        healthy_z_range: tuple[float, float] = (0.2, 1.0),
        terminate_when_unhealthy: bool = True,
        frame_skip: int = 1,
        reset_noise: str = "rllab",
        **kwargs,
    ):
        self.ctrl_cost_weight = ctrl_cost_weight
        self.contact_cost_weight = contact_cost_weight
        self.contact_force_range = contact_force_range
        self.survive_reward = survive_reward
        self.healthy_z_range = healthy_z_range
        self.terminate_when_unhealthy = terminate_when_unhealthy
        super().__init__(frame_skip=frame_skip, reset_noise=reset_noise, **kwargs)

    def forward_reward(self, x_velocity: np.ndarray, task: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[n]`` reward for the forward velocity ``x_velocity`` ``[n]``."""
        raise NotImplementedError

    def contact_forces(self, data: Data) -> np.ndarray:
        """``[n, 13, 6]`` clipped external forces of the bodies; the world's (always 0) left out."""
        return np.clip(data["cfrc_ext"][:, 1:], *self.contact_force_range)

    def observation(self, data: Data) -> np.ndarray:
        n = len(data["qpos"])
        parts = [
            data["qpos"],
            data["qvel"],
            self.contact_forces(data).reshape(n, -1),
            data["xmat"][:, _TORSO],
            data["subtree_com"][:, _TORSO],
        ]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def reward(self, qpos_before, data, actions, task):
        qpos, qvel = data["qpos"], data["qvel"]
        # A copy: info must not alias the batch's live (read-only) arrays.
        x_velocity = data["subtree_linvel"][:, _TORSO, 0].copy()
        forward = self.forward_reward(x_velocity, task)
        ctrl = -self.ctrl_cost_weight * np.square(actions).sum(axis=1)
        contact = -self.contact_cost_weight * np.square(self.contact_forces(data)).sum(axis=(1, 2))
        survive = np.full(len(actions), self.survive_reward)
        low, high = self.healthy_z_range
        finite = np.isfinite(qpos).all(axis=1) & np.isfinite(qvel).all(axis=1)
        healthy = finite & (qpos[:, 2] >= low) & (qpos[:, 2] <= high)
        terminated = ~healthy & self.terminate_when_unhealthy
        terms = {
            "reward_forward": forward,
            "reward_ctrl": ctrl,
            "reward_contact": contact,
            "reward_survive": survive,
            "x_velocity": x_velocity,
        }
        return forward + ctrl + contact + survive, terminated, terms


class AntVelEnv(VelocityTask, AntEnv):
    """AntVel: walk forward at a target velocity (Finn et al. 2017, section 5.3).

    Observation ``Box(float32 min, float32 max, (119,))`` (the table is in :class:`AntEnv`),
    action ``Box(-1, 1, (8,))``, control and contact costs, episode end (terminated when
    unhealthy, truncated after 200 steps) and the other constructor arguments: see
    :class:`AntEnv`.

    Reward (each term in ``info``)
        ``reward_forward = -|v_x - velocity|``, with ``v_x`` the forward velocity of the ant's
        centre of mass (``info["x_velocity"]``);
        ``reward_survive = survive_reward`` (default 1.05 here), every step (the paper's code
        wrote the forward term as ``-|v_x - velocity| + 1`` and added a survive bonus of 0.05; the
        constant 1 is moved here so that ``reward_forward`` is the tracking error alone; the sum
        is the same);
        reward = reward_forward + reward_ctrl + reward_contact + reward_survive.

    Task distribution
        ``{"velocity": v}`` with ``v`` uniform in ``[low, high]`` (paper: ``[0, 3]``); not observed.
        The initial task is ``{"velocity": (low + high) / 2}``.

    Constructor arguments
        ``low=0.0``, ``high=3.0``, ``survive_reward=1.05``, and those of :class:`AntEnv`.
    """

    def __init__(self, low: float = 0.0, high: float = 3.0, survive_reward: float = 1.05, **kwargs):
        super().__init__(low=low, high=high, survive_reward=survive_reward, **kwargs)


class AntDirEnv(DirectionTask, AntEnv):
    """AntDir: walk forward or backward along x (Finn et al. 2017, section 5.3).

    Observation ``Box(float32 min, float32 max, (119,))`` (the table is in :class:`AntEnv`),
    action ``Box(-1, 1, (8,))``, control and contact costs, episode end (terminated when
    unhealthy, truncated after 200 steps) and the constructor arguments: see :class:`AntEnv`.

    Reward (each term in ``info``)
        ``reward_forward = direction * v_x``, with ``v_x`` the forward velocity of the ant's
        centre of mass (``info["x_velocity"]``);
        ``reward_survive = survive_reward`` (default 0.05, as the paper's code), every step;
        reward = reward_forward + reward_ctrl + reward_contact + reward_survive.

    Task distribution
        ``{"direction": d}`` with ``d = +1.0`` or ``-1.0``, each with probability 1/2; not
        observed. The initial task is ``{"direction": 1.0}``.

    Constructor arguments
        Those of :class:`AntEnv`, with its defaults.
    """


class AntVelVector(MujocoVectorEnv):
    """:class:`AntVelEnv` copies stepped together (see ``MujocoVectorEnv``)."""

    env_class = AntVelEnv


class AntDirVector(MujocoVectorEnv):
    """:class:`AntDirEnv` copies stepped together (see ``MujocoVectorEnv``)."""

    env_class = AntDirEnv
