import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import metarl  # noqa: F401  (registers the families)


def test_passes_the_gymnasium_env_checker_without_warnings():
    env = gym.make("metarl/Navigation2D-v0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_dynamics_reward_and_termination_are_the_papers():
    env = gym.make("metarl/Navigation2D-v0").unwrapped
    env.set_task({"goal": [0.3, -0.2]})
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0, 0])
    # Actions are in [-1, 1] (x clipped here) and scaled by max_action = 0.1.
    obs, reward, terminated, truncated, info = env.step(np.array([5.0, -0.5]))
    np.testing.assert_allclose(obs, [0.1, -0.05], rtol=1e-6)
    assert reward == pytest.approx(-np.hypot(0.2, 0.15))
    assert info["distance"] == -reward and not terminated and not truncated
    env.step(np.array([1.0, -1.0]))
    obs, reward, terminated, *_ = env.step(np.array([0.95, -0.52]))
    np.testing.assert_allclose(obs, [0.295, -0.202], rtol=1e-5)
    assert terminated and abs(reward) < 0.01 * np.sqrt(2)


def test_tasks_are_seeded_and_in_range():
    env = gym.make("metarl/Navigation2D-v0").unwrapped
    a = env.sample_tasks(50, np.random.default_rng(3))
    b = env.sample_tasks(50, np.random.default_rng(3))
    goals = np.stack([t["goal"] for t in a])
    np.testing.assert_array_equal(goals, np.stack([t["goal"] for t in b]))
    assert goals.shape == (50, 2) and np.abs(goals).max() <= 0.5


def test_time_limit_is_the_papers_horizon():
    env = gym.make("metarl/Navigation2D-v0")
    env.unwrapped.set_task({"goal": [0.5, 0.5]})
    env.reset(seed=0)
    for _ in range(99):
        *_, terminated, truncated, _ = env.step(np.array([-0.1, -0.1]))
        assert not (terminated or truncated)
    *_, terminated, truncated, _ = env.step(np.array([-0.1, -0.1]))
    assert truncated and not terminated
