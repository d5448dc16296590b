"""Returns, GAE with termination and truncation, advantage normalisation."""

import torch

from metarl import baseline
from metarl.episodes import (
    Episodes,
    budget_selection,
    compute_advantages,
    discounted_returns,
    gae,
    pack,
)


def test_gae_against_a_hand_computed_example_with_truncation():
    # Two episodes, horizon 3. Column 0 is truncated by the time limit after 3 steps and is
    # bootstrapped with V(s_3) = 10; column 1 terminates after 2 steps (value 0 afterwards).
    rewards = torch.tensor([[1.0, 2.0], [1.0, 3.0], [1.0, 0.0]])
    values = torch.tensor([[0.5, 1.0], [0.5, 2.0], [0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    final = torch.tensor([10.0, 0.0])
    g, lam = 0.9, 0.5
    # Column 0: δ0 = 1 + .9*.5 - .5 = .95, δ1 = .95, δ2 = 1 + .9*10 - .5 = 9.5
    a02 = 9.5
    a01 = 0.95 + g * lam * a02
    a00 = 0.95 + g * lam * a01
    # Column 1: δ0 = 2 + .9*2 - 1 = 2.8, δ1 = 3 + 0 - 2 = 1.0 (terminated: no bootstrap)
    a11 = 1.0
    a10 = 2.8 + g * lam * a11
    expected = torch.tensor([[a00, a10], [a01, a11], [a02, 0.0]])
    torch.testing.assert_close(gae(rewards, values, final, mask, g, lam), expected)


def test_discounted_returns_stop_at_episode_end():
    rewards = torch.tensor([[1.0, 1.0], [2.0, 5.0], [3.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    expected = torch.tensor([[1 + 0.5 * 2 + 0.25 * 3, 1 + 0.5 * 5], [2 + 0.5 * 3, 5.0], [3.0, 0]])
    torch.testing.assert_close(discounted_returns(rewards, mask, 0.5), expected)


def _episodes(terminated):
    g = torch.Generator().manual_seed(0)
    T, N, E = 5, 2, 3
    mask = torch.ones(T, N * E)
    mask[3:, 1] = 0
    return Episodes(
        obs=torch.randn(T, N * E, 2, generator=g),
        actions=torch.randn(T, N * E, 2, generator=g),
        rewards=torch.randn(T, N * E, generator=g) * mask,
        mask=mask,
        last_obs=torch.randn(N * E, 2, generator=g),
        terminated=terminated,
        num_tasks=N,
    )


def test_advantages_are_normalised_per_task_and_zero_outside_episodes():
    eps = compute_advantages(_episodes(torch.zeros(6, dtype=torch.bool)), 0.99, 1.0)
    adv, mask = eps.by_task(eps.advantages), eps.by_task(eps.mask)
    for n in range(2):
        valid = adv[n][mask[n] > 0]
        torch.testing.assert_close(valid.mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
        torch.testing.assert_close(valid.std(unbiased=False), torch.tensor(1.0), atol=1e-4, rtol=0)
    assert (eps.advantages[eps.mask == 0] == 0).all()


def test_bootstrap_applies_to_truncated_episodes_only():
    trunc = compute_advantages(
        _episodes(torch.zeros(6, dtype=torch.bool)), 0.99, 1.0, normalize=False
    )
    term = compute_advantages(
        _episodes(torch.ones(6, dtype=torch.bool)), 0.99, 1.0, normalize=False
    )
    off = compute_advantages(
        _episodes(torch.zeros(6, dtype=torch.bool)),
        0.99,
        1.0,
        normalize=False,
        bootstrap_truncated=False,
    )
    torch.testing.assert_close(term.advantages, off.advantages)
    assert not torch.allclose(trunc.advantages, off.advantages)


def test_previous_task_baseline_predicts_with_the_fit_of_the_task_before():
    g = torch.Generator().manual_seed(1)
    T, N, E = 4, 3, 2
    eps = Episodes(
        obs=torch.randn(T, N * E, 2, generator=g),
        actions=torch.zeros(T, N * E, 2),
        rewards=torch.randn(T, N * E, generator=g) + torch.arange(N).repeat_interleave(E),
        mask=torch.ones(T, N * E),
        last_obs=torch.zeros(N * E, 2),
        terminated=torch.ones(N * E, dtype=torch.bool),
        num_tasks=N,
    )
    out = compute_advantages(eps, 0.9, 1.0, normalize=False, baseline_fit="previous_task")
    phi = eps.by_task(
        baseline.features(
            eps.obs, torch.arange(T, dtype=torch.float32).unsqueeze(1).expand(T, N * E)
        )
    )
    returns = eps.by_task(discounted_returns(eps.rewards, eps.mask, 0.9))
    for n in range(N):
        # Each task alone: fit on task n-1 (task 0: the last task), predict task n.
        prev = (n - 1) % N
        coef = baseline.fit(
            phi[prev : prev + 1], returns[prev : prev + 1], torch.ones(1, T * E), 1e-5
        )
        expected = returns[n] - baseline.predict(coef, phi[n : n + 1])[0]
        torch.testing.assert_close(eps.by_task(out.advantages)[n], expected, atol=1e-4, rtol=1e-4)


def test_by_task_and_from_task_are_inverse():
    eps = _episodes(torch.zeros(6, dtype=torch.bool))
    x = torch.arange(5 * 6.0).reshape(5, 6)
    per_task = eps.by_task(x)
    assert per_task.shape == (2, 15)
    # Task 1 holds columns 3, 4, 5.
    torch.testing.assert_close(per_task[1].reshape(5, 3), x[:, 3:])
    torch.testing.assert_close(eps.from_task(per_task), x)


def test_select_tasks_keeps_each_tasks_columns():
    eps = compute_advantages(_episodes(torch.zeros(6, dtype=torch.bool)), 0.99, 1.0)
    sub = eps.select_tasks([1])
    assert sub.num_tasks == 1 and sub.episodes_per_task == 3
    torch.testing.assert_close(sub.obs, eps.obs[:, 3:])
    torch.testing.assert_close(sub.advantages, eps.advantages[:, 3:])
    torch.testing.assert_close(sub.last_obs, eps.last_obs[3:])


def test_task_step_means_average_each_tasks_lived_steps():
    eps = _episodes(torch.zeros(6, dtype=torch.bool))  # column 1 (task 0) lives 3 of 5 steps
    speed = torch.arange(5 * 6.0).reshape(5, 6) * eps.mask  # [T, B], 0 after the episode
    eps.info = {"speed": speed, "force": torch.ones(5, 6, 3)}  # only [T, B] terms are averaged
    means = eps.task_step_means()
    assert set(means) == {"speed"}
    task_0 = speed[:, :3].sum() / 13  # 5 + 3 + 5 lived steps
    torch.testing.assert_close(means["speed"], torch.stack([task_0, speed[:, 3:].mean()]))


def lockstep_sampler(lengths: torch.Tensor, budget: int) -> set[tuple[int, int]]:
    """rllab's VectorizedSampler for one task, step by step: env ``s`` runs its episodes
    ``lengths[s]`` back to back; after each step the ended episodes are counted, and the loop stops
    once they hold >= ``budget`` steps. Returns the kept ``(env, episode)`` pairs."""
    kept, collected, t = set(), 0, 0
    while collected < budget:
        t += 1
        for s, row in enumerate(lengths.tolist()):
            ends = torch.tensor(row).cumsum(0).tolist()
            for r, end in enumerate(ends):
                if end == t:
                    kept.add((s, r))
                    collected += int(row[r])
    return kept


def test_budget_selection_keeps_what_a_lockstep_sampler_ends():
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 11, (3, 4, 12), generator=gen).float()  # [N, S, R], T = 10
    lengths[1] = 10.0  # nothing ends early: exactly the first episode of every env
    keep = budget_selection(lengths, budget=4 * 10)
    assert keep is not None
    for n in range(3):
        expected = lockstep_sampler(lengths[n], 40)
        assert {tuple(i) for i in keep[n].nonzero().tolist()} == expected
    assert keep[1, :, 0].all() and not keep[1, :, 1:].any()
    assert keep[0].sum() > 4  # short episodes: more than one per env
    # Two rounds cannot settle a budget that short episodes reach only later.
    assert budget_selection(lengths[:, :, :2], budget=4 * 10) is None


def test_pooled_budget_selection_stops_all_tasks_together():
    # The authors' training sampler: every task's envs in one lockstep loop, one budget in all.
    gen = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, 11, (3, 1, 30), generator=gen).float()  # [N, S = 1, R]
    lengths[2] = 10.0
    keep = budget_selection(lengths, budget=5 * 10, pooled=True)
    assert keep is not None
    expected = lockstep_sampler(lengths.reshape(3, 30), 3 * 5 * 10)  # env n = task n
    assert {(n, r) for n, _, r in keep.nonzero().tolist()} == expected
    # One stop for all: a task's kept episodes end by it, its next one after it.
    stop = max(lengths[n, 0, : int(keep[n, 0].sum())].sum() for n in range(3))
    for n in range(3):
        count = int(keep[n, 0].sum())
        assert keep[n, 0, :count].all() and lengths[n, 0, : count + 1].sum() > stop
    assert budget_selection(lengths[:, :, :5], budget=5 * 10, pooled=True) is None


def test_pack_pads_tasks_with_empty_episodes_that_means_leave_out():
    rounds = [_episodes(torch.zeros(6, dtype=torch.bool)) for _ in range(2)]  # 2 tasks x 3
    rounds[1].rewards = rounds[1].rewards + 1.0 * rounds[1].mask
    keep = torch.zeros(2, 3, 2, dtype=torch.bool)
    keep[0, :, 0] = True  # task 0: round 0's three episodes
    keep[1, 0, :] = True  # task 1: env 0's episode from each round, padded to 3
    keep[1, 2, 1] = True
    packed = pack(rounds, keep)
    assert packed.num_tasks == 2 and packed.episodes_per_task == 3
    torch.testing.assert_close(packed.obs[:, :3], rounds[0].obs[:, :3])
    torch.testing.assert_close(packed.obs[:, 3], rounds[0].obs[:, 3])
    torch.testing.assert_close(packed.rewards[:, 4], rounds[1].rewards[:, 3])
    torch.testing.assert_close(packed.rewards[:, 5], rounds[1].rewards[:, 5])
    keep[1, 2, 1] = False
    packed = pack(rounds, keep)
    assert packed.lengths[5] == 0 and packed.terminated[5] and packed.rewards[:, 5].abs().sum() == 0
    task_1 = (rounds[0].returns[3] + rounds[1].returns[3]) / 2  # the padding left out
    torch.testing.assert_close(
        packed.task_returns(), torch.stack([rounds[0].returns[:3].mean(), task_1])
    )
