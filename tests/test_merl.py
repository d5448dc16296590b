"""MeRL's auxiliary reward: the φ meta-gradient against finite differences, and its wiring."""

import copy
import csv

import numpy as np
import pytest
import torch
from test_adaptation import finite_difference, flat, old_policy, unflat

import metarl
from metarl import merl
from metarl.adaptation import adapt
from metarl.config import AuxConfig
from metarl.episodes import compute_advantages
from metarl.evaluate import adapt_to_tasks
from metarl.objectives import surrogate_and_kl
from metarl.trainer import meta_iteration

NUM_FEATURES = 4


def with_outcomes(episodes, seed):
    """``episodes`` with sparse rewards at successes and random trajectory features in info."""
    g = torch.Generator().manual_seed(seed)
    T, B = episodes.rewards.shape
    success = torch.zeros(T, B, dtype=torch.float64)
    last = episodes.lengths.long() - 1
    won = torch.tensor([1, 1, 0, 1, 1, 1], dtype=torch.bool)  # task 1: one success, one failure
    success[last[won], torch.arange(B)[won]] = 1.0
    features = torch.randn(T, B, NUM_FEATURES, generator=g, dtype=torch.float64)
    episodes.rewards = success + 0.1 * torch.randn(T, B, generator=g, dtype=torch.float64)
    episodes.rewards *= episodes.mask
    episodes.info = {"aux_features": features, "success": success}
    return episodes


def random_score(cfg, seed):
    aux = merl.init_score(NUM_FEATURES, cfg, torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    return {
        k: (v.double() + 0.5 * torch.randn(v.shape, generator=g)).double() for k, v in aux.items()
    }


def meta_objective(policy, params, alpha, train, valid, aux, cfg, first_order):
    """The post-adaptation surrogate as a function of φ (and θ), through the shaped inner step."""
    shaped = compute_advantages(merl.shape(train, aux, cfg), gamma=0.99, gae_lambda=1.0)
    adapted = adapt(policy, params, alpha, [shaped], first_order=first_order)
    return surrogate_and_kl(policy, adapted, valid, old_policy(policy, valid))[0].mean()


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize(
    "weighting,score", [("softmax", "linear"), ("sigmoid", "linear"), ("additive", "mlp")]
)
def test_phi_meta_gradient_matches_finite_differences(tiny, weighting, score, first_order):
    policy, params, train, valid = tiny
    train = with_outcomes(train, seed=4)
    cfg = AuxConfig(enabled=True, weighting=weighting, score=score, hidden=[3], scale=0.7)
    aux = {k: v.requires_grad_() for k, v in random_score(cfg, seed=5).items()}
    alpha = {"*": torch.tensor(0.5, dtype=torch.float64)}

    def objective(x):
        return meta_objective(policy, params, alpha, train, valid, unflat(x, aux), cfg, first_order)

    loss = meta_objective(policy, params, alpha, train, valid, aux, cfg, first_order)
    grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(aux.values()))])
    assert grad.abs().max() > 1e-4  # the path exists (first order included)
    torch.testing.assert_close(grad, finite_difference(objective, flat(aux)), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("weighting", ["softmax", "sigmoid"])
def test_a_constant_score_reproduces_plain_maml(tiny, weighting):
    policy, params, train, valid = tiny
    train = with_outcomes(train, seed=4)
    cfg = AuxConfig(enabled=True, weighting=weighting)
    aux = merl.init_score(NUM_FEATURES, cfg, torch.Generator().manual_seed(0))
    aux = {k: v.double() for k, v in aux.items()}
    if weighting == "softmax":  # any constant: softmax is shift-invariant
        aux["layers.0.bias"] += 3.0
    torch.testing.assert_close(merl.shaped_rewards(train, aux, cfg), train.rewards)

    alpha = {"*": torch.tensor(0.5, dtype=torch.float64)}
    plain = compute_advantages(copy.copy(train), gamma=0.99, gae_lambda=1.0)
    expected = adapt(policy, params, alpha, [plain])
    shaped = compute_advantages(merl.shape(train, aux, cfg), gamma=0.99, gae_lambda=1.0)
    for k, v in adapt(policy, params, alpha, [shaped]).items():
        torch.testing.assert_close(v, expected[k])


def test_softmax_weights_keep_each_tasks_total_and_leave_failures_alone(tiny):
    _, _, train, _ = tiny
    train = with_outcomes(train, seed=4)
    cfg = AuxConfig(enabled=True)
    aux = random_score(cfg, seed=5)
    shaped, rewards = merl.shaped_rewards(train, aux, cfg), train.rewards
    last = train.lengths.long() - 1
    cols = torch.arange(rewards.shape[1])
    ratio = (shaped / rewards)[last, cols].reshape(3, 2)  # the per-trajectory weights
    assert ratio[1, 1] == pytest.approx(1.0)  # task 1's failure: unchanged
    assert ratio[1, 0] == pytest.approx(1.0)  # task 1's single success: n_succ * softmax = 1
    torch.testing.assert_close(ratio.sum(1), torch.tensor([2.0, 2.0, 2.0], dtype=ratio.dtype))
    assert not torch.allclose(ratio[0], torch.ones(2, dtype=ratio.dtype))


DECOYS = [
    "env=metarl/NavigationDecoys-v0",
    "true_reward=true_reward",
    "aux.enabled=true",
    "aux.gate=0",  # the ungated meta-gradient (the gate has tests of its own)
    "meta_batch=6",
    "episodes=12",  # several successes per task, or softmax weights are all 1
    "policy.hidden=[16]",
    "threads=1",
    "checkpoint_every=2",
]


def test_phi_changes_only_through_the_meta_objective():
    learner = metarl.make_learner(metarl.load_config(None, [*DECOYS, "aux.lr=0"]))
    phi = {k: v.detach().clone() for k, v in learner.aux.items()}
    theta = {k: v.detach().clone() for k, v in learner.params.items()}
    metrics = meta_iteration(learner)
    assert metrics["aux_grad_norm"] > 0  # a gradient, but a zero step size
    assert all(torch.equal(v, phi[k]) for k, v in learner.aux.items())
    assert any(not torch.equal(v, theta[k]) for k, v in learner.params.items())

    learner.aux_optimizer.param_groups[0]["lr"] = 0.01
    meta_iteration(learner)
    moved = {k: v.detach().clone() for k, v in learner.aux.items()}
    assert any(not torch.equal(v, phi[k]) for k, v in moved.items())
    adapt_to_tasks(learner, learner.family.sample_tasks(3, learner.rng), steps=2, episodes=4)
    assert all(torch.equal(v, moved[k]) for k, v in learner.aux.items())  # evaluation: no change


def test_aux_reward_needs_the_familys_info_keys():
    with pytest.raises(metarl.ConfigError, match=r"aux.features: .* reports no info\['aux_feat"):
        metarl.make_learner(metarl.load_config(None, ["aux.enabled=true"]))
    with pytest.raises(metarl.ConfigError, match=r"true_reward: .* reports no info\['nope'\]"):
        metarl.make_learner(metarl.load_config(None, ["true_reward=nope"]))


@pytest.mark.parametrize("options", [[], ["aux.optimizer=sgd", "aux.lr=1", "aux.weight_decay=0.1"]])
def test_merl_runs_resume_exactly(tmp_path, options):
    config = metarl.load_config(None, [*DECOYS, "iterations=4", *options])
    straight = metarl.train(config, tmp_path / "a", progress=False)
    config.iterations = 2
    half = metarl.train(config, tmp_path / "b", progress=False)
    config.iterations = 4
    resumed = metarl.train(config, half, resume=True, progress=False)

    def rows(run):
        with open(run / "progress.csv") as f:
            return np.array(
                [[float(r[k]) for k in ("return_post", "aux_grad_norm")] for r in csv.DictReader(f)]
            )

    np.testing.assert_allclose(rows(resumed), rows(straight), rtol=1e-5)
    a, b = metarl.load_learner(straight), metarl.load_learner(resumed)
    for k, v in a.aux.items():
        torch.testing.assert_close(b.aux[k], v)


def _perturbed_learner(overrides):
    """A decoys learner whose φ sits away from its initialisation φ_0 (= 0 for the linear score)."""
    learner = metarl.make_learner(metarl.load_config(None, [*DECOYS, *overrides]))
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for v in learner.aux.values():
            v.add_(torch.randn(v.shape, generator=g, dtype=v.dtype))
    return learner


def test_sgd_steps_along_the_meta_gradient():
    learner = _perturbed_learner(["aux.optimizer=sgd", "aux.lr=0.5", "aux.max_grad_norm=0"])
    assert isinstance(learner.aux_optimizer, torch.optim.SGD)
    before = {k: v.detach().clone() for k, v in learner.aux.items()}
    meta_iteration(learner)
    assert flat({k: v.grad for k, v in learner.aux.items()}).abs().max() > 0
    for k, v in learner.aux.items():  # φ ← φ - lr ∇φ, the step proportional to the gradient
        torch.testing.assert_close(v.detach(), before[k] - 0.5 * v.grad)


def test_weight_decay_pulls_phi_toward_its_init_and_changes_nothing_else():
    common = ["aux.optimizer=sgd", "aux.lr=0.5", "aux.max_grad_norm=0"]
    plain, decayed = (_perturbed_learner([*common, f"aux.weight_decay={wd}"]) for wd in (0, 0.4))
    phi = {k: v.detach().clone() for k, v in decayed.aux.items()}
    assert all(torch.equal(v, plain.aux[k]) for k, v in phi.items())
    assert all(torch.equal(decayed.aux_init[k], torch.zeros_like(v)) for k, v in phi.items())
    meta_iteration(plain)
    meta_iteration(decayed)
    for k, v in decayed.aux.items():  # the decay lr λ (φ - φ_0), nothing else, is added
        torch.testing.assert_close(v.detach(), plain.aux[k].detach() - 0.5 * 0.4 * phi[k])
    assert flat(decayed.aux).norm() < flat(plain.aux).norm()
    for k, v in decayed.params.items():  # θ's meta-step does not see the prior
        assert torch.equal(v, plain.params[k])


def test_with_nothing_to_learn_weight_decay_brings_phi_back_to_plain_maml():
    # No target within reach, no success: ∇φ is 0, Adam does not move φ, the decay alone does.
    learner = _perturbed_learner(["aux.weight_decay=2", "aux.lr=0.1", "env_kwargs.radius=9"])
    start = flat(learner.aux)
    for _ in range(3):
        assert meta_iteration(learner)["aux_grad_norm"] == 0
    torch.testing.assert_close(flat(learner.aux), start * (1 - 0.1 * 2) ** 3)


def test_decay_toward_is_rate_times_the_distance_to_init():
    aux = {"a": torch.tensor([1.0, 2.0], requires_grad=True), "b": torch.tensor([[3.0]])}
    init = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([[1.0]])}
    step = merl.decay_toward(aux, init, 0.1)
    torch.testing.assert_close(step["a"], torch.tensor([0.0, 0.2]))
    torch.testing.assert_close(step["b"], torch.tensor([[0.2]]))
    assert not step["a"].requires_grad


@pytest.mark.parametrize("first_order", [False, True])
def test_task_gradients_are_each_tasks_own_meta_gradient(tiny, first_order):
    policy, params, train, valid = tiny
    train = with_outcomes(train, seed=4)
    cfg = AuxConfig(enabled=True, score="mlp", hidden=[3])
    aux = {k: v.requires_grad_() for k, v in random_score(cfg, seed=5).items()}
    shaped = compute_advantages(merl.shape(train, aux, cfg), gamma=0.99, gae_lambda=1.0)
    alpha = {"*": torch.tensor(0.5, dtype=torch.float64)}
    adapted = adapt(policy, params, alpha, [shaped], first_order=first_order)
    losses = surrogate_and_kl(policy, adapted, valid, old_policy(policy, valid))[0]
    own = [torch.autograd.grad(loss, list(aux.values()), retain_graph=True) for loss in losses]
    batched = merl.task_gradients(losses, aux)
    for n in range(3):
        for got, want in zip(batched, own[n], strict=True):
            torch.testing.assert_close(got[n], want)
    assert flat(dict(enumerate(g[0] for g in batched))).abs().max() > 1e-4  # two successes


def test_significant_mean_keeps_consistent_coordinates_and_zeroes_noise():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(20, 4, generator=g, dtype=torch.float64)
    noise = noise - noise.mean(0)  # mean exactly 0 in every column
    per_task = noise * torch.tensor([0.1, 1.0, 1.0, 0.0], dtype=torch.float64)
    per_task = per_task + torch.tensor([1.0, 0.3, 0.0, 2.0], dtype=torch.float64)
    stderr = per_task.std(0) / 20**0.5  # 0.022, 0.22, 0.22, 0
    got = merl.significant_mean(per_task, z=3.0)
    # 1 ± 0.022 and 2 ± 0 pass; 0.3 ± 0.22 (1.35 standard errors) and 0 ± 0.22 do not.
    torch.testing.assert_close(got, torch.tensor([1.0, 0.0, 0.0, 2.0], dtype=torch.float64))
    assert 0.3 / stderr[1] < 3 < 1.0 / stderr[0]
    torch.testing.assert_close(merl.significant_mean(per_task, z=1.0)[1], per_task[:, 1].mean())


def test_a_gate_no_gradient_passes_leaves_merl_exactly_plain_maml():
    common = [*DECOYS, "seed=2"]
    merl_run = metarl.make_learner(metarl.load_config(None, [*common, "aux.gate=1e9"]))
    plain = metarl.make_learner(metarl.load_config(None, [*common, "aux.enabled=false"]))
    phi = {k: v.detach().clone() for k, v in merl_run.aux.items()}
    for _ in range(2):
        assert meta_iteration(merl_run)["aux_grad_norm"] == 0
        meta_iteration(plain)
    assert all(torch.equal(v, phi[k]) for k, v in merl_run.aux.items())
    for k, v in plain.params.items():
        torch.testing.assert_close(merl_run.params[k], v, rtol=0, atol=1e-6)
