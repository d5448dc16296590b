"""The evaluation protocol's adaptation steps, checked against a hand computation."""

import dataclasses

import pytest
import torch

import metarl
from metarl import baseline
from metarl.adaptation import adapt_detached
from metarl.episodes import Episodes, discounted_returns, gae
from metarl.evaluate import adapt_to_tasks, reseed

GAMMA = 0.99


def normalised_per_task(eps: Episodes, adv: torch.Tensor) -> torch.Tensor:
    """Mean 0, std 1 over each task's steps inside its episodes (2D navigation ends early)."""
    rows, mask = eps.by_task(adv), eps.by_task(eps.mask) > 0
    out = torch.zeros_like(rows)
    for n in range(eps.num_tasks):
        valid = rows[n][mask[n]]
        out[n] = (rows[n] - valid.mean()) / (valid.std(unbiased=False) + 1e-8) * mask[n]
    return eps.from_task(out)


def features(eps: Episodes) -> torch.Tensor:
    """``[N, T * E, F]`` each task's baseline features."""
    T, B = eps.rewards.shape
    t = torch.arange(T, dtype=torch.float32)[:, None].expand(T, B)
    return eps.by_task(baseline.features(eps.obs, t))


def with_values(eps: Episodes, coef: torch.Tensor) -> Episodes:
    """``eps`` with GAE(λ = 1, no bootstrap) advantages on the values of ``coef``, normalised
    per task (GAE itself is tested in test_episodes.py; here: which coefficients)."""
    values = eps.from_task(baseline.predict(coef, features(eps)))
    adv = gae(eps.rewards, values * eps.mask, torch.zeros(eps.mask.shape[1]), eps.mask, GAMMA, 1)
    return dataclasses.replace(eps, advantages=normalised_per_task(eps, adv))


def own_fit(eps: Episodes) -> torch.Tensor:
    returns = eps.by_task(discounted_returns(eps.rewards, eps.mask, GAMMA))
    return baseline.fit(features(eps), returns, eps.by_task(eps.mask), 1e-5)


@pytest.mark.parametrize(
    ("protocol", "first_scale", "later_scale"),
    [("own", 1.0, 0.5), ("rllab", 1.0, 0.5), ("own", 1.0, 0.2), ("own", 2.0, 0.5)],
)
def test_adaptation_steps_use_the_protocols_baseline_and_step_sizes(
    protocol, first_scale, later_scale
):
    config = metarl.load_config(
        None,
        [
            "episodes=5",
            "policy.hidden=[8]",
            "threads=1",
            "returns.bootstrap_truncated=false",
            f"eval.baseline={protocol}",
            f"eval.first_scale={first_scale}",
            f"eval.later_scale={later_scale}",
        ],
    )
    learner = metarl.make_learner(config)
    reseed(learner, 3)
    tasks = learner.family.sample_tasks(3, learner.rng)
    result = adapt_to_tasks(learner, tasks, steps=2, episodes=5)

    eps0, eps1 = result.episodes[0], result.episodes[1]
    if protocol == "rllab":
        # Upstream rllab's order: an unfitted baseline predicts 0, then the previous step's fit.
        step_data = [
            with_values(eps0, torch.zeros_like(own_fit(eps0))),
            with_values(eps1, own_fit(eps0)),
        ]
    else:
        step_data = [with_values(eps0, own_fit(eps0)), with_values(eps1, own_fit(eps1))]
    params = result.params[0]
    for k, eps in enumerate(step_data):
        params = adapt_detached(
            learner.policy,
            params,
            learner.step_sizes,
            [eps],
            scales=[first_scale if k == 0 else later_scale],
        )
        for name, value in params.items():
            torch.testing.assert_close(result.params[k + 1][name], value, atol=1e-5, rtol=1e-4)


def test_sample_budget_batches_equal_episode_batches_when_no_episode_ends_early():
    # A goal 10 away cannot be reached in 4 steps of at most 0.1: every episode runs to the limit,
    # so the budget (episodes x horizon) is reached by the first episode of each env.
    def adapt(batch):
        config = metarl.load_config(
            None,
            ["episodes=4", "horizon=4", "policy.hidden=[8]", "threads=1", f"eval.batch={batch}"],
        )
        learner = metarl.make_learner(config)
        reseed(learner, 3)
        return adapt_to_tasks(learner, [{"goal": [10.0, 10.0]}] * 2, steps=2, episodes=4)

    by_episodes, by_samples = adapt("episodes"), adapt("samples")
    for k in range(3):
        torch.testing.assert_close(by_samples.episodes[k].obs, by_episodes.episodes[k].obs)
        for name, value in by_episodes.params[k].items():
            torch.testing.assert_close(by_samples.params[k][name], value)
    assert (by_samples.returns == by_episodes.returns).all()


def test_sample_budget_batches_hold_more_episodes_when_episodes_end_at_the_goal():
    config = metarl.load_config(
        None, ["episodes=4", "horizon=10", "policy.hidden=[8]", "threads=1", "eval.batch=samples"]
    )
    learner = metarl.make_learner(config)
    # A policy that stands still, started on its goal: every episode ends after one step, so
    # each env runs 10 of them before the budget of 4 episodes x 10 steps is reached.
    learner.params = {
        k: torch.full_like(v, -30.0 if k == "log_std" else 0.0) for k, v in learner.params.items()
    }
    reseed(learner, 3)
    result = adapt_to_tasks(learner, [{"goal": [0.0, 0.0]}], steps=0, episodes=4)
    eps = result.episodes[0]
    assert eps.episodes_per_task == 40 and (eps.lengths == 1).all() and eps.terminated.all()
