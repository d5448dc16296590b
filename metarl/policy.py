"""Gaussian MLP policy evaluated with an explicit parameter dict.

The parameters live outside the module so that the inner loop can differentiate through
``θ' = θ - α ∇θ L`` and the sampler can run one forward pass for many tasks at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Independent, Normal

Params = dict[str, torch.Tensor]

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


def init_mlp(sizes: tuple[int, ...], generator: torch.Generator) -> Params:
    """``layers.{i}.weight`` ``[out, in]`` Xavier-uniform and ``layers.{i}.bias`` zero."""
    params: Params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        bound = math.sqrt(6.0 / (n_in + n_out))
        params[f"layers.{i}.weight"] = (
            torch.rand(n_out, n_in, generator=generator) * 2 - 1
        ) * bound
        params[f"layers.{i}.bias"] = torch.zeros(n_out)
    return params


def mlp(x: torch.Tensor, params: Params, num_layers: int, activation: str) -> torch.Tensor:
    """``x`` ``[..., in]`` through ``num_layers`` affine layers, ``activation`` between them.

    Parameters may carry a leading task axis ``[N, ...]`` with ``x`` ``[N, M, in]``.
    """
    h = x
    for i in range(num_layers):
        weight, bias = params[f"layers.{i}.weight"], params[f"layers.{i}.bias"]
        # [..., in] @ [(N,) in, out] + [(N,) 1, out]: one line for shared and per-task θ.
        h = h @ weight.transpose(-1, -2) + bias.unsqueeze(-2)
        if i < num_layers - 1:
            h = ACTIVATIONS[activation](h)
    return h


@dataclass(frozen=True)
class GaussianMLP:
    """``π(a|s) = N(μ_θ(s), diag(exp(log_std)²))``, μ an MLP, ``log_std`` state-independent.

    Parameter names: ``layers.{i}.weight`` ``[out, in]``, ``layers.{i}.bias`` ``[out]`` (the last
    layer outputs the mean) and ``log_std`` ``[act_dim]``. Any parameter may carry a leading task
    dimension ``[N, ...]``; the observations then have shape ``[N, M, obs_dim]`` and task ``n``
    is evaluated with its own parameters (one batched matmul for all tasks).
    """

    obs_dim: int
    act_dim: int
    hidden: tuple[int, ...] = (100, 100)
    activation: str = "relu"
    init_std: float = 1.0

    def init_params(self, generator: torch.Generator) -> Params:
        """Xavier-uniform weights, zero biases, ``log_std = log(init_std)``."""
        params = init_mlp((self.obs_dim, *self.hidden, self.act_dim), generator)
        params["log_std"] = torch.full((self.act_dim,), math.log(self.init_std))
        return params

    def distribution(self, obs: torch.Tensor, params: Params) -> Independent:
        """The action distribution at ``obs`` ``[..., obs_dim]``, batch shape ``obs.shape[:-1]``."""
        mean = mlp(obs, params, len(self.hidden) + 1, self.activation)
        std = params["log_std"].unsqueeze(-2).exp().expand_as(mean)
        return Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)

    def log_prob(self, obs: torch.Tensor, actions: torch.Tensor, params: Params) -> torch.Tensor:
        """``log π(a|s)`` summed over action dimensions: shape ``obs.shape[:-1]``."""
        return self.distribution(obs, params).log_prob(actions)
