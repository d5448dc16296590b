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


INNER_LOSSES = ("reinforce", "lvc")


def pg_loss(
    policy: GaussianMLP, params: Params, episodes: Episodes, form: str = "reinforce"
) -> torch.Tensor:
    """Inner-loop policy-gradient loss per task, ``[N]``, in one of two forms (``INNER_LOSSES``).

    ``reinforce`` (the paper's): ``L_n = -mean_t log π_θ(a_t|s_t) A_t``.
    ``lvc``, the low-variance curvature form of ProMP (Rothfuss et al. 2019):
    ``L_n = -mean_t (π_θ / ⊥π_θ)(a_t|s_t) A_t``, ``⊥`` stopping the gradient. Both have the
    same gradient at every ``θ``, ``-mean_t ∇log π_θ A_t`` (so the inner step is the same);
    their Hessians differ by ``-mean_t ∇log π_θ ∇log π_θᵀ A_t``, the curvature that comes from
    the samples' distribution depending on ``θ``. With it, ``∇²L`` estimates the Hessian of the
    expected inner loss (without the cross terms between time steps), so the meta-gradient
    ``(I - α∇²L)ᵀ ∇J'`` credits ``θ`` for the pre-update episodes it collects; the REINFORCE
    form's ``∇²L`` treats them as fixed. ``lvc``'s value is ``-mean_t A_t``: only its
    derivatives mean anything.
    """
    if form not in INNER_LOSSES:
        raise ValueError(f"form must be one of {INNER_LOSSES}, got {form!r}")
    log_probs = task_log_probs(policy, params, episodes)
    weights = log_probs if form == "reinforce" else torch.exp(log_probs - log_probs.detach())
    adv, mask = episodes.by_task(episodes.advantages), episodes.by_task(episodes.mask)
    return -_task_mean(weights * adv, mask)


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
