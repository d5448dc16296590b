"""Plug in a MuJoCo task family of your own: HopperVel, Gymnasium's hopper at a target velocity.

A MuJoCo family subclasses ``MujocoTaskEnv`` and supplies its model, its observation and its
reward, each vectorised over a leading copy axis; a task mixin (``VelocityTask`` here, or
``DirectionTask``, or your own ``sample_tasks`` and ``set_task``) supplies the tasks. Its batched
twin, which the sampler steps with every copy in one ``mujoco.batch.Batch``, is one line. The
single env (``gym.make``) and the vector env run the same two functions, so the task is written
once; ``check_env`` below checks the single env as Gymnasium would.

Run:  python experiments/custom_mujoco_family.py [--iterations 50] [--run-dir runs/hopper_vel]
      [--horizon 200]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.utils.env_checker import check_env
from metarl.envs.mujoco_family import MujocoTaskEnv, MujocoVectorEnv, VelocityTask

import metarl

# Any MJCF file: a path relative to metarl's own envs/assets, or an absolute one as here.
HOPPER_XML = Path(gym.__file__).parent / "envs" / "mujoco" / "assets" / "hopper.xml"


class HopperVelEnv(VelocityTask, MujocoTaskEnv):
    """The planar one-legged hopper must move forward at a hidden target velocity.

    Observation ``[n, 11]``: ``qpos[1:]`` (height, torso angle, 3 joint angles) and ``qvel``
    clipped to ±10, as Gymnasium's Hopper. Action ``Box(-1, 1, (3,))``: the thigh, leg and foot
    motors. Reward ``-|v_x - velocity| + 1 - 0.001 ||a||²``, with ``v_x`` the torso's x
    displacement over the control step divided by ``dt`` and 1 for staying up. Terminated when the
    torso falls below 0.7 m or tilts more than 0.2 rad. Task ``{"velocity": v}``, ``v ~ U[0, 1.5]``.
    """

    xml_file = str(HOPPER_XML)
    # The observation and reward read only qpos and qvel, so the vector env skips the forward
    # stages after each control step (the default, mjSTAGE_POS, recomputes kinematics).
    stage = mujoco.mjtStage.mjSTAGE_NONE

    def __init__(self, low: float = 0.0, high: float = 1.5, frame_skip: int = 4, **kwargs):
        super().__init__(low=low, high=high, frame_skip=frame_skip, **kwargs)

    def observation(self, data):
        qpos, qvel = data["qpos"], data["qvel"]
        return np.concatenate([qpos[:, 1:], np.clip(qvel, -10, 10)], axis=1).astype(np.float32)

    def reward(self, qpos_before, data, actions, task):
        qpos = data["qpos"]
        x_velocity = (qpos[:, 0] - qpos_before[:, 0]) / self.dt
        forward = self.forward_reward(x_velocity, task)  # VelocityTask's -|v_x - velocity|
        ctrl = -1e-3 * np.square(actions).sum(axis=1)
        fallen = (qpos[:, 1] < 0.7) | (np.abs(qpos[:, 2]) > 0.2)
        terms = {"reward_forward": forward, "reward_ctrl": ctrl, "x_velocity": x_velocity}
        return forward + 1.0 + ctrl, fallen, terms


class HopperVelVector(MujocoVectorEnv):
    env_class = HopperVelEnv


gym.register(
    id="example/HopperVel-v0",
    entry_point=HopperVelEnv,
    vector_entry_point=HopperVelVector,
    max_episode_steps=200,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--run-dir", default="runs/hopper_vel")
    parser.add_argument("--horizon", type=int, default=200, help="control steps per episode")
    args = parser.parse_args()

    check_env(gym.make("example/HopperVel-v0").unwrapped, skip_render_check=True)
    config = metarl.load_config(
        None,
        [
            "env=example/HopperVel-v0",
            f"iterations={args.iterations}",
            "meta_batch=10",
            "episodes=10",
            f"horizon={args.horizon}",
            "policy.hidden=[64, 64]",
            "inner.lr=0.1",
            "eval.tasks=10",
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
