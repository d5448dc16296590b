"""The meta-gradient through the inner loop against finite differences."""

import pytest
import torch

from metarl.adaptation import adapt, adapt_detached, init_step_sizes
from metarl.objectives import pg_loss, surrogate_and_kl
from metarl.policy import Gaussian
from metarl.trpo import flat_grad


def flat(params):
    return torch.cat([p.detach().reshape(-1) for p in params.values()])


def unflat(vector, like):
    out, i = {}, 0
    for k, v in like.items():
        out[k] = vector[i : i + v.numel()].view_as(v).clone().requires_grad_()
        i += v.numel()
    return out


def meta_objective(policy, params, step_sizes, train, valid, first_order=False, steps=1):
    adapted = adapt(policy, params, step_sizes, [train] * steps, first_order=first_order)
    return surrogate_and_kl(policy, adapted, valid, old_policy(policy, valid))[0].mean()


def old_policy(policy, valid):
    """A fixed sampling distribution on ``valid``: unit-variance Gaussians around 0.1."""
    shape = (valid.num_tasks, valid.obs.shape[0] * valid.episodes_per_task, policy.act_dim)
    mean = torch.full(shape, 0.1, dtype=torch.float64)
    return Gaussian(mean, torch.zeros_like(mean))


def finite_difference(f, x, eps=1e-6):
    grad = torch.zeros_like(x)
    for i in range(x.numel()):
        e = torch.zeros_like(x)
        e[i] = eps
        grad[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return grad


@pytest.mark.parametrize("steps", [1, 2])
def test_second_order_meta_gradient_matches_finite_differences(tiny, steps):
    policy, params, train, valid = tiny
    alpha = {"*": torch.tensor(0.5, dtype=torch.float64)}
    loss = meta_objective(policy, params, alpha, train, valid, steps=steps)
    grad = flat_grad(loss, list(params.values()))
    fd = finite_difference(
        lambda x: meta_objective(policy, unflat(x, params), alpha, train, valid, steps=steps),
        flat(params),
    )
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-8)


def test_first_order_drops_the_hessian_term(tiny):
    policy, params, train, valid = tiny
    alpha = {"*": torch.tensor(0.5, dtype=torch.float64)}
    loss = meta_objective(policy, params, alpha, train, valid, first_order=True)
    fo = flat_grad(loss, list(params.values()))
    # FOMAML: the post-adaptation gradient taken at θ' and summed into θ (mean over tasks).
    adapted = {
        k: v.detach().requires_grad_()
        for k, v in adapt_detached(policy, params, alpha, [train]).items()
    }
    post = surrogate_and_kl(policy, adapted, valid, old_policy(policy, valid))[0].mean()
    expected = torch.cat(
        [g.sum(0).reshape(-1) for g in torch.autograd.grad(post, list(adapted.values()))]
    )
    torch.testing.assert_close(fo, expected)
    full = flat_grad(meta_objective(policy, params, alpha, train, valid), list(params.values()))
    assert (fo - full).norm() > 1e-3 * full.norm()


@pytest.mark.parametrize("mode", ["scalar", "layer", "param"])
@pytest.mark.parametrize("first_order", [False, True])
def test_learned_step_sizes_get_the_finite_difference_gradient(tiny, mode, first_order):
    policy, params, train, valid = tiny
    alpha = {k: v.double().requires_grad_() for k, v in init_step_sizes(params, 0.3, mode).items()}
    loss = meta_objective(policy, params, alpha, train, valid, first_order=first_order)
    grad = flat_grad(loss, list(alpha.values()))
    fd = finite_difference(
        lambda x: meta_objective(policy, params, unflat(x, alpha), train, valid, first_order),
        flat(alpha),
    )
    # α's gradient is exact in both modes: first_order only drops ∂²L/∂θ².
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-8)


def test_adaptation_is_a_gradient_step_per_task(tiny):
    policy, params, train, _ = tiny
    alpha = {"*": torch.tensor(0.5, dtype=torch.float64)}
    adapted = adapt_detached(policy, params, alpha, [train], scales=[0.5])
    for n in range(train.num_tasks):
        one = {k: v.detach().requires_grad_() for k, v in params.items()}
        loss = pg_loss(
            policy, {k: v.expand(train.num_tasks, *v.shape) for k, v in one.items()}, train
        )[n]
        grads = torch.autograd.grad(loss, list(one.values()))
        for (k, v), g in zip(one.items(), grads, strict=True):
            torch.testing.assert_close(adapted[k][n], v - 0.25 * g)
