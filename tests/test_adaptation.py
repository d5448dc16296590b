"""The meta-gradient through the inner loop against finite differences."""

import pytest
import torch

from metarl.adaptation import adapt, adapt_detached, init_step_sizes, per_task
from metarl.episodes import Episodes
from metarl.objectives import pg_loss, surrogate_and_kl, task_log_probs
from metarl.policy import Gaussian, GaussianMLP
from metarl.trpo import flat_grad


def flat(params):
    return torch.cat([p.detach().reshape(-1) for p in params.values()])


def unflat(vector, like):
    out, i = {}, 0
    for k, v in like.items():
        out[k] = vector[i : i + v.numel()].view_as(v).clone().requires_grad_()
        i += v.numel()
    return out


def meta_objective(
    policy, params, step_sizes, train, valid, first_order=False, steps=1, inner_loss="reinforce"
):
    adapted = adapt(
        policy, params, step_sizes, [train] * steps, first_order=first_order, inner_loss=inner_loss
    )
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


@pytest.mark.parametrize("steps", [1, 2])
def test_lvc_meta_gradient_is_that_of_the_importance_sampled_inner_step(tiny, steps):
    """With ``inner_loss="lvc"`` the meta-gradient at ``θ₀`` is the derivative of a plain
    function: the post-adaptation loss after steps on ``-mean_t π_θ/π_θₖ(θ₀) A_t``, each
    step's importance weights relative to the fixed policy that step starts from at ``θ₀``."""
    policy, params, train, valid = tiny
    alpha = {"*": torch.tensor(0.5, dtype=torch.float64)}
    loss = meta_objective(policy, params, alpha, train, valid, steps=steps, inner_loss="lvc")
    grad = flat_grad(loss, list(params.values()))

    # log π_θₖ(θ₀) on the train samples, for each step's starting parameters θₖ(θ₀).
    fixed, theta = [], per_task({k: v.detach() for k, v in params.items()}, train.num_tasks)
    for _ in range(steps):
        fixed.append(task_log_probs(policy, theta, train))
        theta = adapt_detached(policy, theta, alpha, [train])

    def importance_sampled(x):
        theta = {k: v.expand(train.num_tasks, *v.shape) for k, v in unflat(x, params).items()}
        for log_old in fixed:
            ratio = torch.exp(task_log_probs(policy, theta, train) - log_old)
            adv, mask = train.by_task(train.advantages), train.by_task(train.mask)
            inner = -((ratio * adv * mask).sum(1) / mask.sum(1)).sum()
            grads = torch.autograd.grad(inner, list(theta.values()), create_graph=True)
            theta = {k: v - 0.5 * g for (k, v), g in zip(theta.items(), grads, strict=True)}
        return surrogate_and_kl(policy, theta, valid, old_policy(policy, valid))[0].mean()

    fd = finite_difference(importance_sampled, flat(params))
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-8)
    # ... and it is not the REINFORCE form's meta-gradient (the test can fail).
    reinforce = flat_grad(
        meta_objective(policy, params, alpha, train, valid, steps=steps), list(params.values())
    )
    assert (grad - reinforce).norm() > 1e-2 * reinforce.norm()


def second_derivative(f):
    """``f''(0)`` of a scalar function of a scalar, by double back-propagation."""
    t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    (d1,) = torch.autograd.grad(f(t), t, create_graph=True)
    return torch.autograd.grad(d1, t)[0]


def test_lvc_curvature_is_unbiased_for_the_expected_return():
    """One-step Gaussian bandit, ``r = -‖a - g‖²``, ``E r = -‖μ(s) - g‖² - Σ σ²`` in closed
    form. Along a direction ``v``, ``-vᵀ∇²L v`` of the lvc inner loss on samples from ``π_θ``
    (advantage ``r - E r``) estimates ``vᵀ∇²E r v``; the REINFORCE form's does not. Estimated
    on 100 independent batches of 500 samples (mean and standard error over batches)."""
    policy = GaussianMLP(obs_dim=2, act_dim=2, hidden=(4,), activation="tanh", init_std=0.5)
    g = torch.Generator().manual_seed(0)
    params = {k: v.double() for k, v in policy.init_params(g).items()}
    v = {k: torch.randn(p.shape, generator=g, dtype=torch.float64) for k, p in params.items()}
    goal = torch.tensor([0.3, -0.2], dtype=torch.float64)
    batches, size = 100, 500
    obs = torch.randn(batches, size, 2, generator=g, dtype=torch.float64)
    at = lambda t: {k: params[k] + t * v[k] for k in params}  # noqa: E731

    def expected_return(t):
        mean = policy.distribution(obs, at(t)).mean
        return (-((mean - goal) ** 2).sum(-1) - (2 * at(t)["log_std"]).exp().sum()).mean()

    exact = second_derivative(expected_return)
    dist = policy.distribution(obs, params)
    actions = dist.mean + dist.log_std.exp() * torch.randn(dist.mean.shape, generator=g)
    reward = -((actions - goal) ** 2).sum(-1)  # [batches, size]
    baseline = expected_return(torch.zeros((), dtype=torch.float64)).detach()
    ones = torch.ones(1, size, dtype=torch.float64)

    def batch_estimate(b, form):
        """``-d²/dt² L(θ + t v)`` on batch ``b``, one task of ``size`` one-step episodes."""
        eps = Episodes(
            obs=obs[b : b + 1],
            actions=actions[b : b + 1],
            rewards=reward[b : b + 1],
            mask=ones,
            last_obs=obs[b],
            terminated=torch.zeros(size, dtype=torch.bool),
            num_tasks=1,
            advantages=reward[b : b + 1] - baseline,
        )
        return -second_derivative(lambda t: pg_loss(policy, at(t), eps, form).sum())

    for form, unbiased in (("lvc", True), ("reinforce", False)):
        estimates = torch.stack([batch_estimate(b, form) for b in range(batches)])
        error = (estimates.mean() - exact).abs() / (estimates.std() / batches**0.5)
        assert (error < 4) if unbiased else (error > 10), (form, error.item())
