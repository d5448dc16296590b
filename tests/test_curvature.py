"""The factored KL Hessian-vector product: JᵀFJ through the inner steps equals the exact one."""

import pytest
import torch
from test_adaptation import flat, unflat

import metarl
from metarl import trainer
from metarl.adaptation import adapt, adapt_detached
from metarl.curvature import kl_hessian_product
from metarl.objectives import surrogate_and_kl
from metarl.trainer import meta_iteration
from metarl.trpo import flat_grad, hessian_vector_product


def mean_kl(policy, params, alpha, train, valid, old, steps, first_order, inner_loss="reinforce"):
    new = adapt(
        policy, params, alpha, [train] * steps, first_order=first_order, inner_loss=inner_loss
    )
    return surrogate_and_kl(policy, new, valid, old)[1].mean()


@pytest.mark.parametrize(
    "steps,first_order,inner_loss",
    [
        (1, False, "reinforce"),
        (2, False, "reinforce"),
        (1, True, "reinforce"),
        (1, False, "lvc"),
        (2, False, "lvc"),
    ],
)
def test_factored_product_is_the_kl_hessian_at_the_old_policy(tiny, steps, first_order, inner_loss):
    policy, params, train, valid = tiny
    alpha = {"*": torch.tensor(0.5, dtype=torch.float64)}
    # The old policies are the adapted ones at θ: where TRPO takes its products.
    adapted = adapt_detached(policy, params, alpha, [train] * steps)
    old = policy.distribution(valid.by_task(valid.obs), adapted)
    v = torch.randn(flat(params).numel(), generator=torch.Generator().manual_seed(4)).double()

    product = kl_hessian_product(
        policy,
        params,
        alpha,
        [train] * steps,
        valid,
        old,
        first_order=first_order,
        damping=0.1,
        inner_loss=inner_loss,
    )
    kl = mean_kl(policy, params, alpha, train, valid, old, steps, first_order, inner_loss)
    exact = hessian_vector_product(kl, list(params.values()), damping=0.1)(v)
    torch.testing.assert_close(product(v), exact, rtol=1e-9, atol=1e-12)
    # J = I by definition for first order, and lvc's J is not the derivative of the KL's
    # values (test_adaptation checks it against the importance-sampled step's): no function
    # here whose gradient finite differences could check.
    if first_order or inner_loss == "lvc":
        return

    def grad_at(x):
        p = unflat(x, params)
        kl = mean_kl(policy, p, alpha, train, valid, old, steps, first_order)
        return flat_grad(kl, list(p.values()))

    eps = 1e-5
    x = flat(params)
    fd = (grad_at(x + eps * v) - grad_at(x - eps * v)) / (2 * eps)
    torch.testing.assert_close(product(v), fd + 0.1 * v, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    "extra", [[], ["trpo.curvature_tasks=0.5"], ["inner.steps=2"], ["inner.loss=lvc"]]
)
def test_the_meta_step_gets_the_same_products_either_way(monkeypatch, extra):
    """The trainer's wiring (task subset, old policies, inner steps) for both products."""
    products = []

    def record(params, objective, curvature_product=None, cg_damping=0.0, **kwargs):
        if curvature_product is None:
            product = hessian_vector_product(objective(True)[1], params, cg_damping)
        else:
            product = curvature_product()
        v = torch.linspace(-1, 1, sum(p.numel() for p in params))
        products.append(product(v))
        return trainer.TRPOStats(0, 0, 0, 0, False, 0, 0)

    monkeypatch.setattr(trainer, "trpo_step", record)
    base = ["meta_batch=6", "episodes=5", "policy.hidden=[16]", "threads=1", *extra]
    for hvp in ("factored", "double_backward"):
        meta_iteration(metarl.make_learner(metarl.load_config(None, [*base, f"trpo.hvp={hvp}"])))
    factored, double_backward = products
    assert factored.abs().max() > 0
    torch.testing.assert_close(factored, double_backward, rtol=1e-4, atol=1e-6)


def test_the_authors_finite_difference_product_is_the_hessian_for_a_small_v(monkeypatch):
    """``trpo.hvp=finite_difference`` differentiates the same KL (all tasks, through the
    adaptation): for a small ``v`` its secant is the factored product's Hessian."""
    products = []

    def record(params, objective, curvature_product=None, **kwargs):
        v = 1e-3 * torch.linspace(-1, 1, sum(p.numel() for p in params))
        products.append(curvature_product()(v) / 1e-3)
        return trainer.TRPOStats(0, 0, 0, 0, False, 0, 0)

    monkeypatch.setattr(trainer, "trpo_step", record)
    base = ["meta_batch=6", "episodes=5", "policy.hidden=[16]", "threads=1", "trpo.cg_damping=0"]
    for hvp in ("factored", "finite_difference"):
        meta_iteration(metarl.make_learner(metarl.load_config(None, [*base, f"trpo.hvp={hvp}"])))
    factored, finite_difference = products
    assert factored.abs().max() > 0
    torch.testing.assert_close(
        finite_difference, factored, rtol=0.05, atol=0.05 * factored.abs().max().item()
    )


def test_lvc_changes_the_meta_gradient_and_curvature_not_the_objective(monkeypatch):
    """``inner.loss=lvc`` reaches the meta-step: same batches (same seed), the same surrogate
    value, a different gradient and a different curvature product."""
    seen = []

    def record(params, objective, curvature_product=None, **kwargs):
        loss = objective(True)[0]
        v = torch.linspace(-1, 1, sum(p.numel() for p in params))
        seen.append((loss.item(), flat_grad(loss, params), curvature_product()(v)))
        return trainer.TRPOStats(0, 0, 0, 0, False, 0, 0)

    monkeypatch.setattr(trainer, "trpo_step", record)
    base = ["meta_batch=4", "episodes=5", "policy.hidden=[16]", "threads=1"]
    for form in ("reinforce", "lvc"):
        meta_iteration(metarl.make_learner(metarl.load_config(None, [*base, f"inner.loss={form}"])))
    (loss_r, grad_r, hv_r), (loss_l, grad_l, hv_l) = seen
    assert loss_r == pytest.approx(loss_l, rel=1e-6)
    assert (grad_r - grad_l).norm() > 1e-3 * grad_r.norm()
    assert (hv_r - hv_l).norm() > 1e-3 * hv_r.norm()
