"""TRPO (Schulman et al. 2015) for a loss whose parameters are reached through the inner loop.

The step solves ``H x = -g`` by conjugate gradient, ``H`` the Hessian of the mean KL between the
old and new *adapted* policies with respect to the meta-parameters (exact Hessian-vector
products by double back-propagation through the adaptation), scales ``x`` so that
``½ xᵀHx = max_kl`` and backtracks (fractions ``ls_backtrack**k`` of the step) until the loss
improves with ``KL ≤ max_kl``; fractions that a measured KL's quadratic growth already puts over
``max_kl`` are skipped without evaluating them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


def flat_grad(y: torch.Tensor, xs: Sequence[torch.Tensor], **kwargs) -> torch.Tensor:
    """``∇_x y`` for a list of tensors, concatenated into one vector (zeros where unused)."""
    grads = torch.autograd.grad(y, xs, allow_unused=True, **kwargs)
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(x)).reshape(-1)
            for g, x in zip(grads, xs, strict=True)
        ]
    )


def conjugate_gradient(
    avp: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int, tol: float = 1e-10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximately solve ``A x = b`` for symmetric positive-definite ``A`` given ``v -> A v``.

    Returns ``x`` and ``xᵀAx``, the latter as ``xᵀ(b - r)`` with ``r = b - A x`` the residual CG
    updates anyway: TRPO's step scaling then needs no further product with ``A``.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r @ r
    for _ in range(iters):
        if rr < tol:
            break
        ap = avp(p)
        alpha = rr / (p @ ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, x @ (b - r)


def hessian_vector_product(
    f: torch.Tensor, params: Sequence[torch.Tensor], damping: float = 0.0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``v -> (∇² f + damping I) v`` by double back-propagation; ``∇f`` is built once and reused.

    ``f`` must have been computed with a graph that supports second derivatives (for MAML:
    through the adaptation, built with ``create_graph``).
    """
    grad_f = flat_grad(f, params, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        return flat_grad(grad_f @ v, params, retain_graph=True) + damping * v

    return hvp


def finite_difference_product(
    f: Callable[[], torch.Tensor], params: Sequence[torch.Tensor], damping: float = 0.0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``v -> (∇f(θ + εv) - ∇f(θ - εv)) / 2ε + damping v`` with ``ε = 1 / ‖θ‖``: the MAML code's.

    cbfinn/maml_rl's TRPO (its ``sandbox/rocky/tf/optimizers/conjugate_gradient_optimizer.py``)
    builds rllab's ``FiniteDifferenceHvp`` as ``FiniteDifferenceHvp(num_slices)``, which passes
    ``num_slices = 1`` as the first parameter, ``base_eps`` (meant to be 1e-8). The difference
    quotient's step along ``v`` is then ``‖v‖ / ‖θ‖``: not the Hessian at ``θ`` but a secant over
    a neighbourhood that grows with ``v``, so the product is not linear in ``v``. ``f()``
    evaluates the function at the current values of ``params`` with a graph to them; the
    parameters are restored after every product.
    """
    theta = _flat(params)
    eps = 1.0 / theta.norm().item()

    def grad_at(x: torch.Tensor) -> torch.Tensor:
        _assign(params, x)
        return flat_grad(f(), params)

    def product(v: torch.Tensor) -> torch.Tensor:
        try:
            diff = grad_at(theta + eps * v) - grad_at(theta - eps * v)
        finally:
            _assign(params, theta)
        return diff / (2 * eps) + damping * v

    return product


@dataclass
class TRPOStats:
    loss_before: float
    loss_after: float
    kl: float
    # backtracking steps taken (the accepted fraction is ls_backtrack**steps; steps the KL's
    # quadratic model ruled out are counted but not evaluated); equals max steps when rejected
    line_search_steps: int
    accepted: bool
    step_fraction: float  # fraction of the full step taken (0 when rejected)
    grad_norm: float


def trpo_step(
    params: Sequence[torch.Tensor],
    objective: Callable[[bool], tuple[torch.Tensor, torch.Tensor]],
    max_kl: float = 0.01,
    cg_iters: int = 10,
    cg_damping: float = 1e-5,
    ls_steps: int = 15,
    ls_backtrack: float = 0.8,
    curvature_product: Callable[[], Callable[[torch.Tensor], torch.Tensor]] | None = None,
    linear_curvature: bool = True,
) -> TRPOStats:
    """Update the leaf tensors ``params`` in place.

    ``objective(create_graph)`` returns ``(loss, kl)`` at the current values of ``params``; with
    ``create_graph`` it must be twice differentiable; without, it is only evaluated (the line
    search) and need not keep a graph to ``params``. The step
    is rejected (parameters unchanged) when the gradient, the direction or every candidate of
    the line search is non-finite, or no candidate improves the loss within ``max_kl``.
    CG multiplies by the Hessian of the objective's KL (plus ``cg_damping``), or, if given, by
    ``curvature_product()``, a function ``v -> H v`` built after the gradient (e.g. on a
    subsample of the data, or factored; it includes its own damping); the line search always
    checks the objective's full KL. ``linear_curvature=False`` (a product that is not linear in
    ``v``, such as ``finite_difference_product``) measures ``xᵀHx`` for the step's scale with
    one more product, as rllab's TRPO does, instead of taking it from CG's residual.
    """
    loss, kl = objective(True)
    loss_before = loss.item()
    g = flat_grad(loss, params, retain_graph=True)
    if curvature_product is None:
        fisher_vector = hessian_vector_product(kl, params, cg_damping)
    else:
        fisher_vector = curvature_product()
    del loss, kl
    old = _flat(params)
    stats = TRPOStats(loss_before, loss_before, 0.0, ls_steps, False, 0.0, g.norm().item())
    if not torch.isfinite(g).all():
        return stats
    direction, dhd = conjugate_gradient(fisher_vector, -g, cg_iters)
    finite = torch.isfinite(direction).all()
    if finite and not linear_curvature:
        dhd = direction @ fisher_vector(direction)
    shs = 0.5 * dhd
    del fisher_vector  # frees the second-order graph before the line search
    if not (finite and torch.isfinite(shs) and shs > 0):
        return stats
    full_step = direction * torch.sqrt(max_kl / shs)  # so that ½ xᵀHx = max_kl

    k = 0
    while k < ls_steps:
        fraction = ls_backtrack**k
        _assign(params, old + fraction * full_step)
        new_loss, new_kl = (x.item() for x in objective(False))
        k += 1
        if not (math.isfinite(new_loss) and math.isfinite(new_kl)):
            continue
        if new_loss < loss_before and new_kl <= max_kl:
            return TRPOStats(loss_before, new_loss, new_kl, k - 1, True, fraction, stats.grad_norm)
        if new_kl > max_kl:
            # The KL grows as the square of the step near θ (its gradient is 0 there), so the
            # candidates above fraction·√(max_kl / KL) would exceed max_kl too: skip them
            # unevaluated. An approximate curvature (a task subsample) often overshoots by
            # a few backtracking steps, each a full evaluation of the objective.
            limit = fraction * math.sqrt(max_kl / new_kl)
            while k < ls_steps and ls_backtrack**k > limit:
                k += 1
    _assign(params, old)
    return stats


def _flat(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The values of ``params`` as one detached vector (``_assign``'s inverse)."""
    return torch.cat([p.detach().reshape(-1) for p in params])


def _assign(params: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    with torch.no_grad():
        offset = 0
        for p in params:
            p.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
