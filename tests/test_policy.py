import torch
from torch.distributions import Independent, Normal, kl_divergence

from metarl.policy import Gaussian, GaussianMLP


def reference(dist: Gaussian) -> Independent:
    return Independent(Normal(dist.mean, dist.std), 1)


def test_gaussian_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    p = Gaussian(
        torch.randn(3, 5, 4, generator=g).double(), torch.randn(3, 1, 4, generator=g).double()
    )
    q = Gaussian(
        torch.randn(3, 5, 4, generator=g).double(), torch.randn(3, 1, 4, generator=g).double()
    )
    actions = torch.randn(3, 5, 4, generator=g).double()
    torch.testing.assert_close(p.log_prob(actions), reference(p).log_prob(actions))
    torch.testing.assert_close(p.kl(q), kl_divergence(reference(p), reference(q)))
    assert p.log_prob(actions).shape == (3, 5)
    torch.testing.assert_close(p.kl(p), torch.zeros(3, 5, dtype=torch.float64))


def test_per_task_parameters_give_each_task_its_own_policy():
    policy = GaussianMLP(obs_dim=3, act_dim=2, hidden=(8,), activation="tanh")
    g = torch.Generator().manual_seed(1)
    a, b = policy.init_params(g), policy.init_params(g)
    stacked = {k: torch.stack([a[k], b[k]]) for k in a}
    obs = torch.randn(2, 6, 3, generator=g)
    dist = policy.distribution(obs, stacked)
    for n, params in enumerate((a, b)):
        one = policy.distribution(obs[n], params)
        torch.testing.assert_close(dist.mean[n], one.mean)
        torch.testing.assert_close(dist.std[n], one.std)
