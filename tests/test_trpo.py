"""Conjugate gradient, Hessian-vector products through the adaptation, and the TRPO step."""

import math

import torch
from test_adaptation import flat, unflat

from metarl.adaptation import adapt, adapt_detached
from metarl.objectives import surrogate_and_kl
from metarl.trpo import (
    conjugate_gradient,
    finite_difference_product,
    flat_grad,
    hessian_vector_product,
    trpo_step,
)


def test_conjugate_gradient_solves_a_known_spd_system():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = m @ m.T + 6 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    x, xax = conjugate_gradient(lambda v: a @ v, b, iters=6)
    torch.testing.assert_close(x, torch.linalg.solve(a, b), rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(xax, x @ a @ x)
    # Fewer iterations than the dimension still reduce the residual, and xᵀAx stays exact.
    x2, x2ax2 = conjugate_gradient(lambda v: a @ v, b, iters=2)
    assert (a @ x2 - b).norm() < b.norm()
    torch.testing.assert_close(x2ax2, x2 @ a @ x2)


def adapted_kl(policy, params, alpha, train, valid, old_params):
    """Mean KL between the old adapted policy and the one adapted from ``params``."""
    old_dist = policy.distribution(valid.by_task(valid.obs), old_params)
    adapted = adapt(policy, params, alpha, [train])
    return surrogate_and_kl(policy, adapted, valid, old_dist)[1].mean()


def test_hvp_through_the_adaptation_matches_finite_differences_of_the_gradient(tiny):
    policy, params, train, valid = tiny
    alpha = {"*": torch.tensor(0.5, dtype=torch.float64)}
    # KL measured from a different old policy, so the gradient is non-zero as well.
    shifted = {k: (v + 0.05).detach() for k, v in params.items()}
    old = adapt_detached(policy, shifted, alpha, [train])
    v = torch.randn(
        flat(params).numel(), generator=torch.Generator().manual_seed(4), dtype=torch.float64
    )
    hvp = hessian_vector_product(
        adapted_kl(policy, params, alpha, train, valid, old), list(params.values()), damping=0.1
    )

    def grad_at(x):
        p = unflat(x, params)
        return flat_grad(adapted_kl(policy, p, alpha, train, valid, old), list(p.values()))

    eps = 1e-5
    x = flat(params)
    fd = (grad_at(x + eps * v) - grad_at(x - eps * v)) / (2 * eps)
    torch.testing.assert_close(hvp(v), fd + 0.1 * v, rtol=1e-5, atol=1e-8)


def quadratic_problem(a, c, x):
    """loss = c·x, KL = ½ xᵀ A x around the start x = 0."""

    def objective(create_graph):
        return c @ x, 0.5 * x @ (a @ x)

    return objective


def test_trpo_step_is_scaled_to_max_kl_and_improves():
    a = torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64))
    c = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    stats = trpo_step([x], quadratic_problem(a, c, x), max_kl=0.01, cg_iters=3, cg_damping=0.0)
    assert stats.accepted and stats.loss_after < stats.loss_before
    # The full step has ½ xᵀAx = max_kl exactly; rounding may make it a hair above the bound,
    # in which case the first backtracking step is taken.
    assert stats.line_search_steps <= 1
    assert math.isclose(stats.kl / stats.step_fraction**2, 0.01, rel_tol=1e-9)
    # The natural-gradient direction: -A⁻¹c, scaled.
    direction = -torch.linalg.solve(a, c)
    torch.testing.assert_close(x.detach() / x.detach().norm(), direction / direction.norm())


def test_line_search_skips_the_fractions_the_kl_rules_out():
    """With curvature 4x too small the full step has KL = 4 max_kl (KL exactly quadratic): plain
    backtracking by 0.8 would evaluate 1, 0.8, 0.64, 0.512 and accept 0.8⁴ = 0.41 (KL 0.67
    max_kl); the line search accepts the same fraction after evaluating only 1 and 0.41."""
    a = torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64))
    c = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    objective = quadratic_problem(a, c, x)
    evaluations = {"n": 0}

    def counted(create_graph):
        evaluations["n"] += 1
        return objective(create_graph)

    stats = trpo_step(
        [x], counted, max_kl=0.01, cg_iters=3, curvature_product=lambda: lambda v: a @ v / 4
    )
    assert stats.accepted and stats.line_search_steps == 4
    assert math.isclose(stats.step_fraction, 0.8**4)
    assert math.isclose(stats.kl, 0.01 * 4 * 0.8**8, rel_tol=1e-9)
    assert evaluations["n"] == 1 + 2  # the gradient's, then two candidates


def test_trpo_backtracks_and_rejects_non_finite_steps():
    x = torch.tensor([0.5, -0.5], dtype=torch.float64, requires_grad=True)
    calls = {"n": 0}

    def objective(create_graph):
        calls["n"] += 1
        loss = (x**2).sum()
        if not create_graph:  # every candidate of the line search is non-finite
            loss = loss * float("nan")
        return loss, 0.5 * ((x - x.detach()) ** 2).sum()

    stats = trpo_step([x], objective, max_kl=0.01, ls_steps=4)
    assert not stats.accepted and stats.step_fraction == 0.0
    assert calls["n"] == 1 + 4
    torch.testing.assert_close(x.detach(), torch.tensor([0.5, -0.5], dtype=torch.float64))


def test_trpo_rejects_a_non_finite_gradient():
    x = torch.tensor([1.0], requires_grad=True)
    stats = trpo_step([x], lambda cg: (x.sqrt() * float("inf"), 0.5 * (x**2).sum()))
    assert not stats.accepted
    assert x.item() == 1.0


def test_the_authors_finite_difference_product_is_a_secant_with_step_one_over_the_norm():
    """For f = ¼ Σ x⁴ (∇f = x³) the central difference is exactly 3x²v + ε²v³, ε = 1/‖x‖."""
    start = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    x = start.clone().requires_grad_()
    product = finite_difference_product(lambda: 0.25 * (x**4).sum(), [x], damping=0.1)
    v = torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64)
    eps = 1 / start.norm()
    torch.testing.assert_close(product(v), 3 * start**2 * v + eps**2 * v**3 + 0.1 * v)
    # Twice v is not twice the product: the secant widens with v.
    assert not torch.allclose(product(2 * v), 2 * product(v))
    torch.testing.assert_close(x.detach(), start)  # restored after each product


def test_a_nonlinear_product_scales_the_step_with_one_more_product():
    """One CG iteration with a product p(v) = A v (1 + ‖v‖²): CG's own xᵀ(b - r) is
    α² bᵀAb (1 + ‖b‖²), rllab's xᵀp(x) is α² bᵀAb (1 + ‖x‖²); with the latter the full step's
    KL is max_kl / (1 + ‖x‖²), so it is accepted at once and lands where this computes."""
    a = torch.diag(torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64))
    c = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)

    def product(v):
        return a @ v * (1 + v @ v)

    b = -c
    x_cg = (b @ b) / (b @ product(b)) * b
    expected = x_cg * torch.sqrt(0.01 / (0.5 * x_cg @ product(x_cg)))
    x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    stats = trpo_step(
        [x],
        quadratic_problem(a, c, x),
        max_kl=0.01,
        cg_iters=1,
        curvature_product=lambda: product,
        linear_curvature=False,
    )
    assert stats.accepted and stats.step_fraction == 1.0
    torch.testing.assert_close(x.detach(), expected)
    assert math.isclose(stats.kl, 0.01 / (1 + x_cg @ x_cg), rel_tol=1e-9)
