"""The linear feature baseline recovers a target that is linear in its features."""

import subprocess
import sys

import torch

from metarl import baseline


def test_fit_recovers_a_linear_target_per_task():
    g = torch.Generator().manual_seed(0)
    N, M, obs_dim = 3, 50, 2
    obs = torch.randn(N, M, obs_dim, generator=g)
    t = torch.arange(M, dtype=torch.float32).expand(N, M)
    phi = baseline.features(obs, t)
    assert phi.shape == (N, M, 2 * obs_dim + 4)
    true_coef = torch.randn(N, phi.shape[-1], generator=g)
    targets = baseline.predict(true_coef, phi)
    weights = torch.ones(N, M)
    weights[:, 40:] = 0
    targets[:, 40:] = 1e6  # masked rows must not influence the fit
    coef = baseline.fit(phi, targets, weights, ridge=1e-8)
    torch.testing.assert_close(
        baseline.predict(coef, phi)[:, :40], targets[:, :40], rtol=1e-3, atol=1e-3
    )


def test_features_clip_observations():
    phi = baseline.features(torch.tensor([[100.0]]), torch.tensor([50.0]))
    torch.testing.assert_close(phi, torch.tensor([[10.0, 100.0, 0.5, 0.25, 0.125, 1.0]]))


def test_fit_does_not_hang_at_ant_size_with_two_threads():
    # torch's batched LU solve hangs in MKL at >= 2 threads for matrices this large
    # (pytorch/pytorch#142815); the Ant families' baseline has F = 2 * 119 + 4 = 242 features.
    code = (
        "import torch; from metarl import baseline; torch.set_num_threads(2)\n"
        "g = torch.Generator().manual_seed(0)\n"
        "phi = torch.randn(4, 400, 242, generator=g)\n"
        "coef = baseline.fit(phi, phi[..., 0], torch.ones(4, 400), ridge=1e-5)\n"
        "torch.testing.assert_close(coef[:, 0], torch.ones(4), rtol=1e-4, atol=1e-4)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
