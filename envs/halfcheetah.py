"""HalfCheetah velocity and direction tasks (Finn et al. 2017, section 5.3) on official MuJoCo."""

from __future__ import annotations

from collections.abc import Mapping

import mujoco
import numpy as np

from .mujoco_family import (
    Data,
    DirectionTask,
    MujocoTaskEnv,
    MujocoVectorEnv,
    PlanarCenterOfMass,
    VelocityTask,
)


class HalfCheetahEnv(MujocoTaskEnv):
    """The planar cheetah of HalfCheetahVel and HalfCheetahDir: model, observation, control cost.

    The manual of both cheetah tasks, but for the forward reward and the task distribution, which
    :class:`HalfCheetahVelEnv` and :class:`HalfCheetahDirEnv` state. A task adds
    ``forward_reward(x_velocity, task)``, ``sample_tasks`` and the initial task (a mixin of
    ``mujoco_family``).

    Observation (``Box(float32 min, float32 max, (20,))``, as the paper's rllab HalfCheetah)
        =====  ================================================================================
        index  meaning
        =====  ================================================================================
        0      torso height offset ``rootz`` (m; the torso starts at z = 0.7)
        1      torso pitch ``rooty`` (rad)
        2-7    joint angles of bthigh, bshin, bfoot, fthigh, fshin, ffoot (rad)
        8-16   velocities of rootx, rootz, rooty and the six joints (m/s, rad/s)
        17-19  centre of mass of the whole cheetah (the torso's subtree, rllab's
               ``get_body_com("torso")``): world x, y, z (m)
        =====  ================================================================================

        The torso's x position ``qpos[0]`` is left out, but the centre of mass carries it, as in
        rllab. Every entry describes the state after the control step.

    Action (``Box(-1, 1, (6,))``)
        Motor controls of bthigh, bshin, bfoot, fthigh, fshin, ffoot (torque = gear x control,
        gears 120, 90, 60, 120, 60, 30), held for ``frame_skip`` physics steps of 0.01 s
        (``dt = 0.05`` s by default, gymnasium's convention). The paper's rllab cheetah steps
        the physics once per control step: ``frame_skip=1`` (``dt = 0.01`` s, an episode of
        200 steps lasts 2 s), which the paper presets in ``experiments/`` set.

    Reward (each term in ``info``)
        reward = reward_forward + reward_ctrl, where ``reward_forward`` is the task's function of
        the forward velocity ``v_x`` (``info["x_velocity"]``) and
        ``reward_ctrl = -ctrl_cost_weight * ||a||^2`` (paper: 0.05). ``v_x`` is, with
        ``forward_velocity="torso"`` (gymnasium's HalfCheetah), the torso's x displacement over
        the control step divided by ``dt``; with ``"com"`` (the paper's rllab HalfCheetah,
        ``get_body_comvel("torso")``), the x velocity of the whole cheetah's centre of mass at the
        end of the step. The torso rocks on the legs, so the two differ from step to step
        (under random actions by a standard deviation of about 0.3 m/s at ``frame_skip=1``); over
        an episode they add up to the same displacement but for the final offset, so a linear
        reward (HalfCheetahDir) barely changes while ``-|v_x - velocity|`` (HalfCheetahVel) does.

    Episode end
        Never *terminated*; *truncated* by the time limit (registered ``max_episode_steps = 200``,
        the paper's horizon).

    Constructor arguments (of both tasks)
        ``ctrl_cost_weight=0.05``, ``forward_velocity="torso"`` (or ``"com"``), and those of
        :class:`~metarl.envs.mujoco_family.MujocoTaskEnv`: ``frame_skip=5``,
        ``reset_noise_scale=0.1``, ``reset_noise="gymnasium"``, ``render_mode``, ``width``,
        ``height``, ``camera_name``.
    """

    xml_file = "half_cheetah.xml"
    # The vector env skips the position stage: its centre of mass comes from PlanarCenterOfMass.
    stage = mujoco.mjtStage.mjSTAGE_NONE

    def __init__(self, ctrl_cost_weight: float = 0.05, forward_velocity: str = "torso", **kwargs):
        if forward_velocity not in ("torso", "com"):
            raise ValueError(f"forward_velocity must be 'torso' or 'com', got {forward_velocity!r}")
        self.ctrl_cost_weight = ctrl_cost_weight
        self.forward_velocity = forward_velocity
        super().__init__(**kwargs)  # its observation() calls come from the single env
        self._center_of_mass = PlanarCenterOfMass(self.model)

    def forward_reward(self, x_velocity: np.ndarray, task: Mapping[str, np.ndarray]) -> np.ndarray:
        """``[n]`` reward for the torso's forward velocity ``x_velocity`` ``[n]``."""
        raise NotImplementedError

    def data_arrays(self) -> dict[str, np.ndarray]:
        # The single env has MuJoCo's own centre of mass (it runs the position stage anyway).
        return {**super().data_arrays(), "subtree_com": self.data.subtree_com[None]}

    def observation(self, data: Data) -> np.ndarray:
        qpos, qvel = data["qpos"], data["qvel"]
        if "subtree_com" in data:
            com = data["subtree_com"][:, 1]  # body 1 is the torso, its subtree the whole robot
        else:  # the vector env skips the position stage: the same COM from qpos (to 1e-12)
            com = self._center_of_mass(qpos)
        return np.concatenate([qpos[:, 1:], qvel, com], axis=1).astype(np.float32)

    def reward(self, qpos_before, data, actions, task):
        if self.forward_velocity == "com":
            x_velocity = self._center_of_mass.velocity(data["qpos"], data["qvel"])[:, 0]
        else:
            x_velocity = (data["qpos"][:, 0] - qpos_before[:, 0]) / self.dt
        forward = self.forward_reward(x_velocity, task)
        ctrl = -self.ctrl_cost_weight * np.square(actions).sum(axis=1)
        terms = {"reward_forward": forward, "reward_ctrl": ctrl, "x_velocity": x_velocity}
        return forward + ctrl, np.zeros(len(actions), bool), terms


class HalfCheetahVelEnv(VelocityTask, HalfCheetahEnv):
    """HalfCheetahVel: run at a target forward velocity (Finn et al. 2017, section 5.3).

    Observation ``Box(float32 min, float32 max, (20,))`` (the table is in
    :class:`HalfCheetahEnv`), action ``Box(-1, 1, (6,))``, control cost, episode end (never
    terminated, truncated after 200 steps) and the other constructor arguments: see
    :class:`HalfCheetahEnv`.

    Reward (each term in ``info``)
        ``reward_forward = -|v_x - velocity|``, with ``v_x`` the forward velocity
        (``info["x_velocity"]``; the torso's or the centre of mass's, see :class:`HalfCheetahEnv`);
        reward = reward_forward + reward_ctrl.

    Task distribution
        ``{"velocity": v}`` with ``v`` uniform in ``[low, high]`` (paper: ``[0, 2]``); not observed.
        The initial task is ``{"velocity": (low + high) / 2}``.

    Constructor arguments
        ``low=0.0``, ``high=2.0``, and those of :class:`HalfCheetahEnv`.
    """

    def __init__(self, low: float = 0.0, high: float = 2.0, **kwargs):
        super().__init__(low=low, high=high, **kwargs)


class HalfCheetahDirEnv(DirectionTask, HalfCheetahEnv):
    """HalfCheetahDir: run forward or backward (Finn et al. 2017, section 5.3).

    Observation ``Box(float32 min, float32 max, (20,))`` (the table is in
    :class:`HalfCheetahEnv`), action ``Box(-1, 1, (6,))``, control cost, episode end (never
    terminated, truncated after 200 steps) and the constructor arguments: see
    :class:`HalfCheetahEnv`.

    Reward (each term in ``info``)
        ``reward_forward = direction * v_x``, with ``v_x`` the forward velocity
        (``info["x_velocity"]``; the torso's or the centre of mass's, see :class:`HalfCheetahEnv`);
        reward = reward_forward + reward_ctrl.

    Task distribution
        ``{"direction": d}`` with ``d = +1.0`` or ``-1.0``, each with probability 1/2; not
        observed. The initial task is ``{"direction": 1.0}``.

    Constructor arguments
        Those of :class:`HalfCheetahEnv`, with its defaults.
    """


class HalfCheetahVelVector(MujocoVectorEnv):
    """:class:`HalfCheetahVelEnv` copies stepped together (see ``MujocoVectorEnv``)."""

    env_class = HalfCheetahVelEnv


class HalfCheetahDirVector(MujocoVectorEnv):
    """:class:`HalfCheetahDirEnv` copies stepped together (see ``MujocoVectorEnv``)."""

    env_class = HalfCheetahDirEnv
