"""The losses of MAML-RL as pure functions of (policy, parameters, episodes).

All of them work on per-task parameters ``[N, ...]`` and return one scalar per task ``[N]``:
a masked mean over that task's ``T * E`` samples.
"""

from __future__ import annotations

import torch

from metarl.episodes import Episodes
from metarl.policy import Gaussian, GaussianMLP, Params


def _task_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[N, M]`` values and mask -> ``[N]`` masked means."""
    return (x * mask).sum(1) / mask.sum(1).clamp(min=1)


def task_log_probs(policy: GaussianMLP, params: Params, episodes: Episodes) -> torch.Tensor:
    """``log π_θn(a|s)`` for each task's samples with that task's parameters: ``[N, T * E]``."""
    return policy.log_prob(
        episodes.by_task(episodes.obs), episodes.by_task(episodes.actions), params
    )


def pg_loss(policy: GaussianMLP, params: Params, episodes: Episodes) -> torch.Tensor:
    """Inner-loop REINFORCE loss per task: ``L_n = -mean_t log π(a_t|s_t) A_t``, ``[N]``."""
    log_probs = task_log_probs(policy, params, episodes)
    adv, mask = episodes.by_task(episodes.advantages), episodes.by_task(episodes.mask)
    return -_task_mean(log_probs * adv, mask)


def surrogate_and_kl(
    policy: GaussianMLP, params: Params, episodes: Episodes, old_dist: Gaussian
) -> tuple[torch.Tensor, torch.Tensor]:
    """TRPO's loss and constraint per task, from one forward pass; each ``[N]``.

    ``loss_n = -mean_t exp(log π_θ(a_t|s_t) - log π_old(a_t|s_t)) A_t`` (importance-sampled
    policy gradient) and ``kl_n = mean_t KL(π_old(·|s_t) || π_θ(·|s_t))``; ``old_dist`` is the
    sampling policy on ``episodes.by_task(obs)`` (batch shape ``[N, T * E]``).
    """
    obs, actions = episodes.by_task(episodes.obs), episodes.by_task(episodes.actions)
    adv, mask = episodes.by_task(episodes.advantages), episodes.by_task(episodes.mask)
    new_dist = policy.distribution(obs, params)
    ratio = torch.exp(new_dist.log_prob(actions) - old_dist.log_prob(actions))
    return -_task_mean(ratio * adv, mask), _task_mean(old_dist.kl(new_dist), mask)
