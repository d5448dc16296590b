"""MeRL (Agarwal et al. 2019): a meta-learned auxiliary reward that shapes the inner loop.

With an underspecified reward, some trajectories succeed by accident (they reach a decoy, say)
and an inner step that rewards every success learns the accident too. A score ``s_φ(f)`` of
trajectory features ``f`` (supplied by the family in ``info``; they may see a task cue the policy
does not) re-weights what the inner loop learns from:

- ``softmax`` (MeRL's default): a successful trajectory ``j`` of a task gets its rewards scaled by
  ``w_j = n_succ · softmax_{k ∈ succ}(s_k)_j``, so the task's successes keep their total weight;
- ``sigmoid``: successes scaled by ``w_j = 2 σ(s_j)`` (1 at ``s = 0``);
- ``additive`` (dense rewards): ``r̃_t = r_t + λ s_φ(f_t)`` at every step.

Failures keep their rewards. φ is meta-learned: the post-adaptation objective under the task's
true reward depends on φ through ``θ'(θ, φ) = θ - α ∇θ L_in(θ; r̃(φ))``, so its gradient carries
the mixed second-order term ``-α ∂²L_in/∂θ∂φ`` (see ``trainer.aux_step``). A zero score leaves
the rewards unchanged in the softmax and sigmoid weightings, so training starts as plain MAML.

``aux.weight_decay`` = λ pulls φ back toward its initialisation φ_0 (for the linear score
φ_0 = 0: plain MAML) with decoupled weight decay (Loshchilov & Hutter 2019): after each
optimizer step, ``φ ← φ - lr λ (φ - φ_0)`` (of the pre-step φ, as AdamW). With Adam, whose step
is about ``lr`` per coordinate along a consistent meta-gradient and averages out along noise,
whatever the gradient's size, φ - φ_0 settles near (Adam's mean direction)/λ: at most about
``1/λ`` per coordinate, and a spread of about ``sqrt(lr / 2λ)`` around φ_0 where there is no
signal, instead of a random walk. ``aux.optimizer: sgd`` makes the step proportional to the
gradient instead. Both default to off (Adam, λ = 0): on the decoys experiment neither removed
MeRL's shortfall on the no-decoy control without losing its gain with decoys (README).

``aux.gate`` = z (default 3; 0: off) tests each coordinate of φ's meta-gradient against its own
noise before the optimizer sees it: the gradient is the mean of the meta-batch's per-task
gradients, and a coordinate whose mean is within z standard errors (over the tasks) of 0 gets 0
(:func:`significant_mean`). Where there is nothing to learn, φ then stays at φ_0 and MeRL's
inner step is plain MAML's; Adam, which scales a lone gradient up to a step of about ``lr``,
would otherwise turn each noisy step into a move. The test lets a coordinate without signal
through with a small probability, and Adam's momentum then carries it for a while. On the
decoys experiment, z = 3 kept φ at exactly φ_0 in 11 of 12 no-decoy runs (in the twelfth, one
passage moved one coordinate by 0.55) and still learned the score with decoys; z = 2 let
noise through (README).
"""

from __future__ import annotations

import dataclasses

import torch

from metarl.config import AuxConfig
from metarl.episodes import Episodes
from metarl.policy import Params, init_mlp, mlp


def init_score(num_features: int, cfg: AuxConfig, generator: torch.Generator) -> Params:
    """φ of ``s_φ``: a linear map (``score=linear``) or an MLP with ``cfg.hidden`` layers.

    The output layer starts at zero, so that ``s_φ ≡ 0``.
    """
    hidden = tuple(cfg.hidden) if cfg.score == "mlp" else ()
    params = init_mlp((num_features, *hidden, 1), generator)
    params[f"layers.{len(hidden)}.weight"].zero_()
    return params


def decay_toward(aux: Params, init: Params, rate: float) -> Params:
    """The decoupled weight decay's step ``rate (φ - φ_0)`` (``rate = lr λ``), detached."""
    return {k: rate * (v.detach() - init[k]) for k, v in aux.items()}


def task_gradients(losses: torch.Tensor, aux: Params) -> list[torch.Tensor]:
    """The gradient of each task's loss ``losses`` ``[N]`` with respect to φ: ``[N, *shape]``
    per tensor of ``aux`` (one batched backward pass over the tasks)."""
    n = losses.shape[0]
    grads = torch.autograd.grad(
        losses, list(aux.values()), torch.eye(n, dtype=losses.dtype), is_grads_batched=True
    )
    return list(grads)


def significant_mean(per_task: torch.Tensor, z: float) -> torch.Tensor:
    """The mean over tasks of ``per_task`` ``[N, ...]`` where it differs from 0 by more than ``z``
    standard errors over the tasks, and 0 elsewhere: ``[...]``.

    φ's meta-gradient is a mean of ``N`` independent per-task gradients, so its noise is measured
    in the same batch: ``se = std_n(g_n) / sqrt(N)``. A coordinate without signal (no decoys to
    tell apart, say) passes with the two-sided tail probability of ``z`` (t-distribution with
    ``N - 1`` degrees of freedom: about 0.7 % for ``z = 3``, ``N = 20``) and otherwise stays put,
    so φ stays near φ_0 instead of drifting with the noise of each step.
    """
    mean = per_task.mean(0)
    stderr = per_task.std(0, correction=1) / per_task.shape[0] ** 0.5
    return torch.where(mean.abs() > z * stderr, mean, torch.zeros_like(mean))


def score(aux: Params, features: torch.Tensor) -> torch.Tensor:
    """``s_φ(f)``: ``features`` ``[..., F]`` -> ``[...]`` (ReLU between the MLP's layers)."""
    return mlp(features, aux, len(aux) // 2, "relu").squeeze(-1)


def shaped_rewards(episodes: Episodes, aux: Params, cfg: AuxConfig) -> torch.Tensor:
    """The inner loop's rewards ``r̃`` ``[T, B]`` (differentiable in φ = ``aux``)."""
    try:
        features, success = episodes.info[cfg.features], episodes.info[cfg.success]
    except KeyError as e:
        raise KeyError(
            f"aux.enabled needs the family to report info[{e.args[0]!r}] at every step "
            f"(it reported: {sorted(episodes.info)})"
        ) from None
    rewards, mask = episodes.rewards, episodes.mask
    if cfg.weighting == "additive":
        return rewards + cfg.scale * score(aux, features) * mask
    # A trajectory's features and outcome are those of its last step.
    last = (episodes.lengths.long() - 1).clamp(min=0)  # [B]
    columns = torch.arange(rewards.shape[1])
    scores = score(aux, features[last, columns])  # [B]
    succeeded = (success * mask).sum(0) > 0  # [B]
    if cfg.weighting == "sigmoid":
        weights = 2 * torch.sigmoid(scores)
    else:  # softmax over each task's successful trajectories, times their count
        ok = succeeded.reshape(episodes.num_tasks, -1)
        # A finite floor, not -inf: a task without successes must not put NaN in the backward.
        s = scores.reshape(ok.shape).masked_fill(~ok, torch.finfo(scores.dtype).min)
        soft = torch.softmax(s, dim=1)
        weights = (soft * ok.sum(1, keepdim=True)).reshape(-1)
    weights = torch.where(succeeded, weights, torch.ones_like(weights))
    return rewards * weights


def shape(episodes: Episodes, aux: Params, cfg: AuxConfig) -> Episodes:
    """A copy of ``episodes`` with the shaped rewards (advantages still to be computed)."""
    return dataclasses.replace(
        episodes, rewards=shaped_rewards(episodes, aux, cfg), advantages=None
    )
