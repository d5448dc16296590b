"""The batched sampler against a plain step-by-step loop over single envs."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from metarl.policy import GaussianMLP
from metarl.sampler import Sampler

KWARGS = {"goal_tolerance": 0.15}  # large, so that some episodes terminate early
TASKS = [{"goal": np.array([0.1, 0.05])}, {"goal": np.array([-0.4, 0.3])}]


def _sample(env_id, seed=0, params=None):
    policy = GaussianMLP(obs_dim=2, act_dim=2, hidden=(8,), init_std=0.05)
    params = params or policy.init_params(torch.Generator().manual_seed(seed))
    sampler = Sampler(env_id, horizon=15, env_kwargs=KWARGS)
    seeds = np.arange(6) + 100
    eps = sampler.sample(policy, params, TASKS, 3, seeds, torch.Generator().manual_seed(seed))
    sampler.close()
    return eps, seeds


def test_batched_path_equals_a_loop_over_single_envs():
    eps, seeds = _sample("metarl/Navigation2D-v0")
    assert eps.obs.shape == (15, 6, 2) and eps.rewards.shape == (15, 6)
    assert eps.terminated.any() and not eps.terminated.all()
    for b in range(6):
        env = gym.make("metarl/Navigation2D-v0", max_episode_steps=15, **KWARGS)
        env.unwrapped.set_task(TASKS[b // 3])
        obs, _ = env.reset(seed=int(seeds[b]))
        for t in range(15):
            assert eps.mask[t, b] == 1
            np.testing.assert_allclose(eps.obs[t, b].numpy(), obs, rtol=1e-6)
            obs, reward, terminated, truncated, _ = env.step(eps.actions[t, b].numpy())
            assert eps.rewards[t, b].item() == pytest.approx(reward, rel=1e-6)
            if terminated or truncated:
                break
        assert eps.lengths[b].item() == t + 1
        assert (eps.mask[t + 1 :, b] == 0).all() and (eps.rewards[t + 1 :, b] == 0).all()
        assert bool(eps.terminated[b]) == terminated
        np.testing.assert_allclose(eps.last_obs[b].numpy(), obs, rtol=1e-6)


def test_generic_vector_api_path_gives_the_same_episodes():
    gym.register(
        id="metarl-test/Navigation2DNoVector-v0",
        entry_point="metarl.envs.navigation2d:Navigation2DEnv",
        max_episode_steps=100,
    )
    batched, _ = _sample("metarl/Navigation2D-v0")
    generic, _ = _sample("metarl-test/Navigation2DNoVector-v0")
    for field in ("obs", "actions", "rewards", "mask", "last_obs", "terminated"):
        torch.testing.assert_close(getattr(generic, field), getattr(batched, field))


def test_each_task_is_rolled_out_with_its_own_parameters():
    policy = GaussianMLP(obs_dim=2, act_dim=2, hidden=(8,), init_std=1e-6)
    shared = policy.init_params(torch.Generator().manual_seed(0))
    per_task = {k: torch.stack([v, v + 0.3]) for k, v in shared.items()}
    eps, _ = _sample("metarl/Navigation2D-v0", params=per_task)
    for n in range(2):
        one = {k: v[n] for k, v in per_task.items()}
        mean = policy.distribution(eps.obs[0, 3 * n : 3 * n + 3], one).mean
        torch.testing.assert_close(eps.actions[0, 3 * n : 3 * n + 3], mean, atol=1e-4, rtol=0)


class UnstableNavigation(gym.Wrapper):
    """Navigation2D whose 'simulation' blows up at step 5 on tasks with a positive goal x."""

    def __init__(self, **kwargs):
        super().__init__(gym.make("metarl/Navigation2D-v0", **kwargs).unwrapped)
        self.t = 0

    def reset(self, **kwargs):
        self.t = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.t += 1
        if self.t == 5 and self.env.unwrapped.task["goal"][0] > 0:
            obs = obs * np.nan
        return obs, reward, terminated, truncated, info


gym.register(id="metarl-test/Unstable-v0", entry_point=UnstableNavigation, max_episode_steps=100)


def test_nonfinite_observations_cut_the_episode_and_never_leak():
    policy = GaussianMLP(obs_dim=2, act_dim=2, hidden=(8,))
    params = policy.init_params(torch.Generator().manual_seed(0))
    tasks = [{"goal": np.array([0.3, 0.0])}, {"goal": np.array([-0.3, 0.0])}]
    eps = Sampler("metarl-test/Unstable-v0", horizon=10).sample(
        policy, params, tasks, 2, np.arange(4), torch.Generator().manual_seed(0)
    )
    assert eps.nonfinite.tolist() == [True, True, False, False]
    assert eps.lengths.tolist() == [4, 4, 10, 10]  # the 5th transition is cut, not kept
    assert not eps.terminated.any()  # cut episodes count as truncated: bootstrapped
    for field in (eps.obs, eps.actions, eps.rewards, eps.last_obs):
        assert torch.isfinite(field).all()
    for b in range(2):  # last_obs is s_4, where it was cut
        env = gym.make("metarl/Navigation2D-v0")
        obs, _ = env.reset(seed=b)
        for t in range(4):
            obs, *_ = env.step(eps.actions[t, b].numpy())
        np.testing.assert_allclose(eps.last_obs[b].numpy(), obs, rtol=1e-6)
