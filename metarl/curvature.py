"""Products with the Hessian of the post-adaptation KL, factored through the inner loop.

TRPO needs ``H v`` for ``H = ∇²_θ mean_n KL(π_old,n || π_θ'_n(θ))`` at the current ``θ``, where
the new adapted policies equal the old ones. There the KL's gradient with respect to the adapted
parameters vanishes, so ``H`` is exactly its Gauss-Newton form

    H = Σ_n J_nᵀ F_n J_n,    J_n = ∂θ'_n/∂θ = (I - α ∇²L_n,K-1) ··· (I - α ∇²L_n,0),

``F_n`` the Hessian of the mean KL with respect to task ``n``'s adapted parameters (its Fisher
matrix on the post-adaptation samples) and ``∇²L_n,k`` the inner loss's Hessian at
``θ_n,k``, the parameters before inner step ``k``. A product is two passes of inner-loss
Hessian-vector products and one Fisher-vector product. Double back-propagation through the
whole adaptation (``trpo.hessian_vector_product``) gives the same numbers but also differentiates
third-order terms, only to multiply them by that zero gradient. First order (``J_n = I``) leaves
``F`` alone. Requires a fixed step size ``α`` (the Jacobian has no ``α`` block).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from metarl.adaptation import per_task, step_size
from metarl.episodes import Episodes
from metarl.objectives import pg_loss, surrogate_and_kl
from metarl.policy import Gaussian, GaussianMLP, Params


def kl_hessian_product(
    policy: GaussianMLP,
    params: Params,
    step_sizes: Params,
    train_episodes: Sequence[Episodes],
    valid: Episodes,
    old: Gaussian,
    first_order: bool = False,
    damping: float = 0.0,
    inner_loss: str = "reinforce",
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``v -> (H + damping I) v`` for the mean KL over ``valid``'s tasks (``old`` on them).

    ``v`` and the result are flat over ``params`` (shared ``[...]`` tensors, in dict order);
    ``train_episodes[k]`` are the rollouts of inner step ``k``; ``inner_loss`` is the form of
    the inner loss whose Hessian ``J`` is built from (``objectives.pg_loss``).
    """
    names = list(params)
    alphas = [step_size(step_sizes, name).detach() for name in names]
    shapes = [params[name].shape for name in names]
    sizes = [params[name].numel() for name in names]
    n = valid.num_tasks

    # The inner gradients g_k(θ_k), each differentiable at its own leaves θ_k ([N, ...]).
    steps: list[tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]] = []
    theta = {k: v.detach() for k, v in per_task(params, n).items()}
    for eps in train_episodes:
        leaves = {k: v.detach().requires_grad_() for k, v in theta.items()}
        grads = torch.autograd.grad(
            pg_loss(policy, leaves, eps, inner_loss).sum(),
            list(leaves.values()),
            create_graph=not first_order,
        )
        steps.append((list(leaves.values()), grads))
        theta = {k: leaves[k] - a * g for k, a, g in zip(names, alphas, grads, strict=True)}
    adapted = {k: v.detach().requires_grad_() for k, v in theta.items()}
    kl = surrogate_and_kl(policy, adapted, valid, old)[1].mean()
    kl_grad = torch.autograd.grad(kl, list(adapted.values()), create_graph=True)

    def through_step(k: int, ws: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``(I - α ∇²L_k) w`` per task (symmetric, so the same for ``Jᵀ``)."""
        if first_order:
            return list(ws)
        leaves, grads = steps[k]
        hv = torch.autograd.grad(grads, leaves, ws, retain_graph=True)
        return [w - a * h for w, a, h in zip(ws, alphas, hv, strict=True)]

    def product(v: torch.Tensor) -> torch.Tensor:
        ws = [x.view(s).expand(n, *s) for x, s in zip(v.split(sizes), shapes, strict=True)]
        for k in range(len(steps)):  # J v
            ws = through_step(k, ws)
        ws = list(torch.autograd.grad(kl_grad, list(adapted.values()), ws, retain_graph=True))
        for k in reversed(range(len(steps))):  # Jᵀ F J v
            ws = through_step(k, ws)
        # θ is shared by the tasks: its product is the sum of theirs.
        return torch.cat([w.sum(0).reshape(-1) for w in ws]) + damping * v

    return product
