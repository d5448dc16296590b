"""A tiny deterministic MAML problem in float64, shared by the derivative tests."""

import pytest
import torch

from metarl.episodes import Episodes
from metarl.policy import GaussianMLP


def random_episodes(num_tasks, episodes, horizon, obs_dim, act_dim, seed):
    g = torch.Generator().manual_seed(seed)
    B = num_tasks * episodes
    mask = torch.ones(horizon, B, dtype=torch.float64)
    mask[horizon - 1 :, 0] = 0  # one shorter episode, so masks matter
    return Episodes(
        obs=torch.randn(horizon, B, obs_dim, generator=g, dtype=torch.float64),
        actions=torch.randn(horizon, B, act_dim, generator=g, dtype=torch.float64),
        rewards=torch.randn(horizon, B, generator=g, dtype=torch.float64) * mask,
        mask=mask,
        last_obs=torch.randn(B, obs_dim, generator=g, dtype=torch.float64),
        terminated=torch.zeros(B, dtype=torch.bool),
        num_tasks=num_tasks,
        advantages=torch.randn(horizon, B, generator=g, dtype=torch.float64) * mask,
    )


@pytest.fixture
def tiny():
    """policy, θ (float64 leaves), train and validation episodes for 3 tasks."""
    policy = GaussianMLP(obs_dim=3, act_dim=2, hidden=(5,), activation="tanh", init_std=0.8)
    params = policy.init_params(torch.Generator().manual_seed(0))
    params = {
        k: (
            v.double()
            + 0.1
            * torch.randn(v.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        ).requires_grad_()
        for k, v in params.items()
    }
    train = random_episodes(3, 2, 4, 3, 2, seed=2)
    valid = random_episodes(3, 2, 4, 3, 2, seed=3)
    return policy, params, train, valid
