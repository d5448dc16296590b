"""The inner loop: policy-gradient steps ``θ'_n = θ - α ∇θ L_n(θ)``, one set of parameters per task.

Step sizes ``α`` are a dict of tensors: ``{"*": α}`` for one shared scalar, or one entry per
parameter name, a scalar (per layer, as MAML++) or a tensor of the parameter's shape (per
parameter, as Meta-SGD). When ``α`` is meta-learned these tensors are meta-parameters too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from metarl.episodes import Episodes
from metarl.objectives import pg_loss
from metarl.policy import GaussianMLP, Params

LEARN_LR = ("none", "scalar", "layer", "param")


def init_step_sizes(params: Params, lr: float, learn_lr: str) -> Params:
    """Initial ``α`` (all entries equal to ``lr``) for a ``learn_lr`` mode in ``LEARN_LR``."""
    if learn_lr in ("none", "scalar"):
        return {"*": torch.tensor(float(lr))}
    if learn_lr == "layer":
        return {name: torch.tensor(float(lr)) for name in params}
    if learn_lr == "param":
        return {name: torch.full_like(p, float(lr)) for name, p in params.items()}
    raise ValueError(f"learn_lr must be one of {LEARN_LR}, got {learn_lr!r}")


def step_size(step_sizes: Params, name: str) -> torch.Tensor:
    return step_sizes[name] if name in step_sizes else step_sizes["*"]


def per_task(params: Params, num_tasks: int) -> Params:
    """Shared parameters ``[...]`` viewed as ``[N, ...]``; per-task ones are returned unchanged.

    The view keeps the graph to the shared tensors, so ``∇`` of a sum of per-task losses with
    respect to the view is each task's own gradient, and the adapted parameters still depend
    on ``θ`` (the MAML meta-gradient flows through them).
    """
    if params["log_std"].dim() == 2:
        return params
    return {k: v.expand(num_tasks, *v.shape) for k, v in params.items()}


def adapt(
    policy: GaussianMLP,
    params: Params,
    step_sizes: Params,
    episodes: Sequence[Episodes],
    first_order: bool = False,
    create_graph: bool = True,
    scales: Sequence[float] | None = None,
    inner_loss: str = "reinforce",
) -> Params:
    """One gradient step per entry of ``episodes`` (the rollouts collected before that step).

    ``θ_{k+1} = θ_k - scales[k] · α ⊙ ∇ L(θ_k; episodes[k])``, per task; returns ``[N, ...]``
    parameters. With ``create_graph`` the result is differentiable to second order in ``θ``
    (exact MAML); ``first_order`` drops the ``∇²L`` term (FOMAML): the gradient is treated as a
    constant in ``θ``, so ``∂θ'/∂θ = I``, while ``∂θ'/∂α = -∇L`` and the gradient's dependence on
    advantages that require grad (MeRL's ``∂θ'/∂φ``) are kept. ``inner_loss`` is the form of
    ``L`` (``objectives.pg_loss``): it changes no value, only ``∇²L`` and so the meta-gradient.
    """
    params = per_task(params, episodes[0].num_tasks)
    for k, eps in enumerate(episodes):
        # First order: the gradient is taken at a detached copy of θ_k, so it is a constant in
        # θ but keeps any graph to the advantages (MeRL's φ shapes them).
        point = (
            {n: p.detach().requires_grad_() for n, p in params.items()} if first_order else params
        )
        loss = pg_loss(policy, point, eps, inner_loss).sum()
        keep_graph = create_graph and (not first_order or eps.advantages.requires_grad)
        grads = torch.autograd.grad(loss, list(point.values()), create_graph=keep_graph)
        scale = 1.0 if scales is None else scales[k]
        params = {
            name: p - scale * step_size(step_sizes, name) * g
            for (name, p), g in zip(params.items(), grads, strict=True)
        }
    return params


def adapt_detached(
    policy: GaussianMLP,
    params: Params,
    step_sizes: Params,
    episodes: Sequence[Episodes],
    scales: Sequence[float] | None = None,
) -> Params:
    """``adapt`` without any graph to ``θ`` or ``α``: the parameters used to collect rollouts."""
    with torch.enable_grad():
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        sizes = {k: v.detach() for k, v in step_sizes.items()}
        out = adapt(policy, leaves, sizes, episodes, create_graph=False, scales=scales)
    return {k: v.detach() for k, v in out.items()}
