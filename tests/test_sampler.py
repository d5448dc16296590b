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
