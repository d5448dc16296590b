import warnings

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from metarl.envs.mujoco_family import PlanarCenterOfMass

import metarl  # noqa: F401  (registers the families)
from metarl.policy import GaussianMLP
from metarl.sampler import Sampler

FAMILIES = [
    "metarl/HalfCheetahVel-v0",
    "metarl/HalfCheetahDir-v0",
    "metarl/AntVel-v2",
    "metarl/AntDir-v2",
]
# The default control step: frame_skip x the model's timestep (HalfCheetah: gymnasium's 5 x 0.01 s;
# Ant: the paper's rllab model, one RK4 step of 0.02 s).
DT = {"Cheetah": 5 * 0.01, "Ant": 1 * 0.02}


def random_actions(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape)


@pytest.mark.parametrize("env_id", FAMILIES)
def test_passes_the_gymnasium_env_checker_without_warnings(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Rendering needs an OpenGL context (MUJOCO_GL=egl or a display), which CI may lack.
        check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", FAMILIES)
def test_tasks_are_seeded_and_in_range(env_id):
    env = gym.make(env_id).unwrapped
    a = env.sample_tasks(100, np.random.default_rng(3))
    assert a == env.sample_tasks(100, np.random.default_rng(3))
    (key,) = a[0]
    values = np.array([t[key] for t in a])
    if key == "velocity":
        high = 2.0 if "Cheetah" in env_id else 3.0
        assert values.min() >= 0 and values.max() <= high and values.std() > 0.3
    else:
        assert set(values) == {-1.0, 1.0} and 30 < (values > 0).sum() < 70


def center_of_mass_velocity(model, data):
    """rllab's ``get_body_comvel("torso")``: the mass-weighted mean of every body's linear velocity
    (``mj_objectVelocity``, world frame), i.e. the velocity of the whole robot's centre of mass."""
    momentum, velocity = np.zeros(3), np.zeros(6)
    for body in range(1, model.nbody):
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, body, velocity, 0)
        momentum += model.body_mass[body] * velocity[3:]
    return momentum / model.body_mass[1:].sum()


def hand_reward(env_id, task, x_before, model, data, action):
    """The paper's reward written out from MjData, independently of the env's code: HalfCheetah's
    forward velocity is the torso's displacement over the step, the Ant's its centre of mass's
    velocity after it (as in rllab)."""
    if "Cheetah" in env_id:
        v = (data.qpos[0] - x_before) / DT["Cheetah"]
    else:
        v = center_of_mass_velocity(model, data)[0]
    forward = -abs(v - task["velocity"]) if "Vel" in env_id else task["direction"] * v
    if "Cheetah" in env_id:
        return forward - 0.05 * np.sum(action**2), {"reward_forward": forward, "x_velocity": v}
    contact = 0.0005 * np.sum(np.clip(data.cfrc_ext, -1, 1) ** 2)
    survive = 1.05 if "Vel" in env_id else 0.05
    terms = {"reward_forward": forward, "reward_contact": -contact, "reward_survive": survive}
    return forward - 0.005 * np.sum(action**2) - contact + survive, terms


@pytest.mark.parametrize("env_id", FAMILIES)
def test_rewards_and_observations_match_a_hand_computation(env_id):
    env = gym.make(env_id).unwrapped
    task = {"velocity": 1.3} if "Vel" in env_id else {"direction": -1.0}
    env.set_task(task)
    env.reset(seed=0)
    data = env.data
    contact_force = 0.0
    for action in random_actions((10, env.action_space.shape[0]), seed=1):
        x_before = data.qpos[0]
        obs, reward, terminated, truncated, info = env.step(action)
        expected, terms = hand_reward(env_id, task, x_before, env.model, data, action)
        assert reward == pytest.approx(expected, rel=1e-12)
        for name, value in terms.items():
            assert info[name] == pytest.approx(value, rel=1e-12)
        assert sum(v for k, v in info.items() if k.startswith("reward_")) == pytest.approx(reward)
        assert not truncated
        if "Cheetah" in env_id:
            expected_obs = np.concatenate([data.qpos[1:], data.qvel, data.subtree_com[1]])
            assert not terminated
        else:
            forces = np.clip(data.cfrc_ext[1:], -1, 1).ravel()
            parts = [data.qpos, data.qvel, forces, data.xmat[1], data.subtree_com[1]]
            expected_obs = np.concatenate(parts)
            assert terminated == (not 0.2 <= data.qpos[2] <= 1.0)
            contact_force += np.abs(data.cfrc_ext).sum()
        np.testing.assert_allclose(obs, expected_obs.astype(np.float32))
    assert "Cheetah" in env_id or contact_force > 0  # the ant stands: contact forces are computed


def test_ant_model_has_the_physics_and_start_of_the_papers_rllab_ant():
    # rllab's vendor/mujoco_models/ant.xml: <option timestep="0.02" integrator="RK4"/>, geoms
    # (the floor too) with solref=".02 1" solimp=".8 .8 .01"; rllab stepped it once per control
    # step, and its MujocoEnv started from the model's init_qpos numeric with N(0, 0.01²) noise.
    env = gym.make("metarl/AntVel-v2").unwrapped
    model = env.model
    assert model.opt.timestep == 0.02 and model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    assert env.frame_skip == 1 and env.dt == pytest.approx(0.02)
    np.testing.assert_allclose(model.geom_solimp[:, :3], [[0.8, 0.8, 0.01]] * model.ngeom)
    np.testing.assert_allclose(model.geom_solref, [[0.02, 1.0]] * model.ngeom)
    rllab_init_qpos = [0, 0, 0.55, 1, 0, 0, 0, 0, 1, 0, -1, 0, -1, 0, 1]
    np.testing.assert_array_equal(env.init_qpos, rllab_init_qpos)
    np.testing.assert_array_equal(env.init_qvel, np.zeros(model.nv))
    assert env.reset_noise == "rllab"
    # The start pose is inside every joint's range (qpos0, gymnasium's start, is not).
    hinges = model.jnt_qposadr[1:]
    lo, hi = model.jnt_range[1:].T
    assert ((env.init_qpos[hinges] > lo) & (env.init_qpos[hinges] < hi)).all()


def test_ant_terminates_when_the_torso_leaves_the_healthy_range():
    env = gym.make("metarl/AntDir-v2", healthy_z_range=(0.2, 0.5)).unwrapped
    env.reset(seed=0)  # the torso starts at z = 0.55 +- 0.01 N(0, 1)
    *_, terminated, truncated, _ = env.step(np.zeros(8))
    assert terminated and not truncated


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [(env_id, {}) for env_id in FAMILIES]
    + [("metarl/HalfCheetahVel-v0", {"forward_velocity": "com", "frame_skip": 1})],
)
def test_vector_env_matches_a_loop_over_single_envs(env_id, kwargs):
    n, seeds = 3, [10, 11, 10]
    singles = [gym.make(env_id, **kwargs).unwrapped for _ in range(n)]
    tasks = singles[0].sample_tasks(n, np.random.default_rng(0))
    vec = gym.make_vec(env_id, n, **kwargs)
    vec.unwrapped.set_tasks(tasks)
    for env, task in zip(singles, tasks, strict=True):
        env.set_task(task)

    def compare(vec_out, single_outs):
        obs, rewards, terminated, truncated, info = vec_out
        np.testing.assert_allclose(obs, np.stack([o[0] for o in single_outs]), rtol=1e-6)
        np.testing.assert_allclose(rewards, [o[1] for o in single_outs], rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(terminated, [o[2] for o in single_outs])
        assert not truncated.any()
        for name, values in info.items():
            expected = [o[4][name] for o in single_outs]
            np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-12)

    first_obs, _ = vec.reset(seed=seeds)
    single_obs = [env.reset(seed=s)[0] for env, s in zip(singles, seeds, strict=True)]
    np.testing.assert_allclose(first_obs, np.stack(single_obs), rtol=1e-6)
    for actions in random_actions((5, *vec.action_space.shape), seed=2):
        compare(vec.step(actions), [env.step(a) for env, a in zip(singles, actions, strict=True)])

    # Copies 0 and 2 restart without a seed: each continues its own generator, as a single env.
    mask = np.array([True, False, True])
    obs, _ = vec.reset(options={"reset_mask": mask})
    for i in np.flatnonzero(mask):
        np.testing.assert_allclose(obs[i], singles[i].reset()[0], rtol=1e-6)
    assert not np.allclose(obs[0], first_obs[0])  # the generator moved on
    np.testing.assert_array_equal(obs[2], obs[0])  # two copies seeded alike stay alike
    for actions in random_actions((3, *vec.action_space.shape), seed=3):
        compare(vec.step(actions), [env.step(a) for env, a in zip(singles, actions, strict=True)])


def test_vector_env_truncates_at_the_time_limit():
    vec = gym.make_vec("metarl/HalfCheetahDir-v0", 2, max_episode_steps=3)
    vec.reset(seed=0)
    truncated = [vec.step(np.zeros((2, 6)))[3] for _ in range(3)]
    assert not truncated[0].any() and not truncated[1].any() and truncated[2].all()


def test_vector_env_does_not_simulate_a_finished_copy_until_it_is_reset():
    vec = gym.make_vec("metarl/HalfCheetahDir-v0", 2, max_episode_steps=3)
    vec.reset(seed=0)
    actions = random_actions((5, 2, 6), seed=5)
    for a in actions[:3]:
        obs, *_ = vec.step(a)
    # Both copies ended at the time limit: another step leaves them where they were.
    again, rewards, _, truncated, info = vec.step(actions[3])
    np.testing.assert_array_equal(again, obs)
    assert (rewards == 0).all() and truncated.all()
    assert all((value == 0).all() for value in info.values())
    restarted, _ = vec.reset(options={"reset_mask": np.array([True, False])})
    moved, rewards, _, truncated, _ = vec.step(actions[4])
    assert not np.allclose(moved[0], restarted[0]) and rewards[0] != 0 and not truncated[0]
    np.testing.assert_array_equal(moved[1], obs[1])
    assert rewards[1] == 0


@pytest.mark.parametrize("env_id", FAMILIES)
def test_set_task_changes_only_the_reward(env_id):
    env = gym.make(env_id).unwrapped
    tasks = (
        [{"velocity": 0.2}, {"velocity": 1.7}]
        if "Vel" in env_id
        else [{"direction": 1.0}, {"direction": -1.0}]
    )
    actions = random_actions((4, env.action_space.shape[0]), seed=4)
    runs = []
    for task in tasks:
        env.set_task(task)
        assert env.task == task
        env.reset(seed=7)
        runs.append([env.step(a) for a in actions])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a[0], b[0])  # same observation
        assert a[4]["x_velocity"] == b[4]["x_velocity"]
        assert a[4]["reward_ctrl"] == b[4]["reward_ctrl"]
        assert a[4]["reward_forward"] != b[4]["reward_forward"]


@pytest.mark.parametrize("env_id", ["metarl/HalfCheetahVel-v0", "metarl/AntDir-v2"])
def test_sampler_collects_episodes_that_replay_in_the_single_env(env_id):
    torch.manual_seed(0)
    env = gym.make(env_id).unwrapped
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    policy = GaussianMLP(obs_dim, act_dim, hidden=(8,))
    params = policy.init_params(torch.Generator().manual_seed(0))
    tasks = env.sample_tasks(2, np.random.default_rng(0))
    seeds = np.array([3, 4, 5, 6])
    sampler = Sampler(env_id, horizon=20)
    episodes = sampler.sample(
        policy, params, tasks, episodes=2, seeds=seeds, generator=torch.Generator().manual_seed(1)
    )
    sampler.close()
    assert episodes.obs.shape == (20, 4, obs_dim) and episodes.actions.shape == (20, 4, act_dim)
    assert torch.isfinite(episodes.rewards).all() and episodes.rewards.abs().sum() > 0

    # Column b is task b // 2 from seed seeds[b]; its clipped actions replay in the single env.
    b = 3
    env.set_task(tasks[b // 2])
    obs, _ = env.reset(seed=int(seeds[b]))
    np.testing.assert_allclose(episodes.obs[0, b].numpy(), obs, rtol=1e-6)
    for t in range(int(episodes.mask[:, b].sum())):
        action = episodes.actions[t, b].clamp(-1, 1).numpy()
        obs, reward, *_ = env.step(action)
        assert episodes.rewards[t, b].item() == pytest.approx(reward, rel=1e-5, abs=1e-6)


def test_planar_center_of_mass_equals_mujocos_subtree_com():
    env = gym.make("metarl/HalfCheetahVel-v0").unwrapped
    model, data = env.model, mujoco.MjData(env.model)
    rng = np.random.default_rng(0)
    qpos = model.qpos0 + rng.uniform(-3, 3, (20, model.nq))  # far outside the usual poses
    expected = []
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_fwdPosition(model, data)
        expected.append(data.subtree_com[1].copy())
    np.testing.assert_allclose(PlanarCenterOfMass(model)(qpos), expected, rtol=0, atol=1e-12)

    qvel = rng.normal(0, 3, (20, model.nv))
    expected = []
    for q, v in zip(qpos, qvel, strict=True):
        data.qpos[:], data.qvel[:] = q, v
        mujoco.mj_forward(model, data)
        mujoco.mj_subtreeVel(model, data)
        expected.append(data.subtree_linvel[1].copy())
    velocity = PlanarCenterOfMass(model).velocity(qpos, qvel)
    np.testing.assert_allclose(velocity, expected, rtol=0, atol=1e-12)

    ant = gym.make("metarl/AntVel-v2").unwrapped
    with pytest.raises(ValueError, match="x-z plane|unrotated"):
        PlanarCenterOfMass(ant.model)


@pytest.mark.parametrize("env_id", ["metarl/HalfCheetahVel-v0", "metarl/HalfCheetahDir-v0"])
def test_cheetah_forward_velocity_com_rewards_the_centre_of_mass_as_rllab(env_id):
    # The vector env under the same option: test_vector_env_matches_a_loop_over_single_envs.
    env = gym.make(env_id, forward_velocity="com", frame_skip=1).unwrapped
    env.set_task(env.sample_tasks(1, np.random.default_rng(0))[0])
    env.reset(seed=3)
    probe = mujoco.MjData(env.model)
    com_minus_torso = []
    for action in random_actions((50, 6), seed=4):
        x_before = env.data.qpos[0]
        _, _, _, _, info = env.step(action)
        probe.qpos[:], probe.qvel[:] = env.data.qpos, env.data.qvel
        mujoco.mj_forward(env.model, probe)
        mujoco.mj_subtreeVel(env.model, probe)  # rllab's get_body_comvel("torso")
        assert info["x_velocity"] == pytest.approx(probe.subtree_linvel[1, 0], abs=1e-10)
        com_minus_torso.append(info["x_velocity"] - (env.data.qpos[0] - x_before) / env.dt)
    assert np.std(com_minus_torso) > 0.05  # the torso rocks: not the same reward as "torso"
    assert gym.make(env_id).unwrapped.forward_velocity == "torso"
    with pytest.raises(ValueError, match="forward_velocity must be 'torso' or 'com', got 'x'"):
        gym.make(env_id, forward_velocity="x")


@pytest.mark.parametrize("env_id", FAMILIES)
def test_reset_noise_follows_gymnasium_or_rllab(env_id):
    def starts(**kwargs):
        env = gym.make(env_id, **kwargs).unwrapped
        rng = np.random.default_rng(0)
        states = [env.initial_state(rng) for _ in range(2000)]
        qpos = np.stack([q for q, _ in states]) - env.init_qpos
        qvel = np.stack([v for _, v in states]) - env.init_qvel
        return qpos, qvel

    qpos, qvel = starts(reset_noise="gymnasium")  # qpos + U(-0.1, 0.1), qvel + 0.1 N(0, 1)
    assert np.abs(qpos).max() <= 0.1 and np.abs(qpos).max() > 0.099
    assert qpos.std() == pytest.approx(0.1 / np.sqrt(3), rel=0.05)
    assert qvel.std() == pytest.approx(0.1, rel=0.05)
    # rllab's MujocoEnv: 0.01 N(0, 1) and 0.1 N(0, 1), the Ant's default.
    default = "gymnasium" if "Cheetah" in env_id else "rllab"
    assert gym.make(env_id).unwrapped.reset_noise == default
    qpos, qvel = starts(reset_noise="rllab")
    assert qpos.std() == pytest.approx(0.01, rel=0.05) and np.abs(qpos).max() > 0.03
    assert qvel.std() == pytest.approx(0.1, rel=0.05)
    with pytest.raises(ValueError, match="reset_noise must be 'gymnasium' or 'rllab', got 'x'"):
        gym.make(env_id, reset_noise="x")
