"""Episodes of a meta-batch as time-major tensors, and their returns and advantages."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from metarl import baseline


@dataclass
class Episodes:
    """``E`` episodes for each of ``N`` tasks, padded to the horizon ``T``.

    The batch axis ``B = N * E`` is task-major: column ``b`` belongs to task ``b // E``.
    ``mask`` is 1 on the steps an episode lived and 0 after it ended; the sampler's ``obs``,
    ``actions`` and ``rewards`` are 0 there. An episode ends either by
    *termination* (``terminated[b]``: the task's own end, value 0 afterwards) or by *truncation*
    at the time limit (its value is bootstrapped from ``last_obs``).
    """

    obs: torch.Tensor  # [T, B, obs_dim]
    actions: torch.Tensor  # [T, B, act_dim] (as sampled, before the env clips them)
    rewards: torch.Tensor  # [T, B], 0 where mask is 0
    mask: torch.Tensor  # [T, B] float
    last_obs: torch.Tensor  # [B, obs_dim], the observation after each episode's last step
    terminated: torch.Tensor  # [B] bool
    num_tasks: int
    advantages: torch.Tensor | None = None  # [T, B], set by compute_advantages
    nonfinite: torch.Tensor | None = None  # [B] bool: cut short by a NaN/Inf from the env
    # The env's numeric ``info`` entries of each step, ``{key: [T, B, ...]}``, 0 where mask is 0.
    info: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        return self.rewards.shape[0]

    @property
    def episodes_per_task(self) -> int:
        return self.rewards.shape[1] // self.num_tasks

    @property
    def lengths(self) -> torch.Tensor:
        """``[B]`` number of steps in each episode."""
        return self.mask.sum(0)

    @property
    def returns(self) -> torch.Tensor:
        """``[B]`` undiscounted return of each episode."""
        return self.rewards.sum(0)

    def by_task(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, ...]`` -> ``[N, T * E, ...]``: each task's samples in one row."""
        n, e = self.num_tasks, self.episodes_per_task
        x = x.reshape(x.shape[0], n, e, *x.shape[2:]).transpose(0, 1)
        return x.reshape(n, -1, *x.shape[3:])

    def from_task(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of ``by_task``: ``[N, T * E, ...]`` -> ``[T, B, ...]``."""
        x = x.reshape(self.num_tasks, self.horizon, -1, *x.shape[2:]).transpose(0, 1)
        return x.reshape(self.horizon, -1, *x.shape[3:])

    def select_tasks(self, tasks: Sequence[int]) -> Episodes:
        """The episodes of the given task indices only (columns copied, task order as given)."""
        e = self.episodes_per_task
        cols = torch.cat([torch.arange(n * e, (n + 1) * e) for n in tasks])
        per_step = ("obs", "actions", "rewards", "mask") + (
            ("advantages",) if self.advantages is not None else ()
        )
        return dataclasses.replace(
            self,
            **{name: getattr(self, name)[:, cols] for name in per_step},
            last_obs=self.last_obs[cols],
            terminated=self.terminated[cols],
            nonfinite=None if self.nonfinite is None else self.nonfinite[cols],
            info={key: value[:, cols] for key, value in self.info.items()},
            num_tasks=len(tasks),
        )

    def task_step_means(self) -> dict[str, torch.Tensor]:
        """Each scalar ``info`` term's mean over each task's lived steps: ``{key: [N]}``."""
        mask = self.by_task(self.mask)  # [N, T * E]
        steps = mask.sum(1).clamp(min=1)
        return {
            key: (self.by_task(value) * mask).sum(1) / steps
            for key, value in self.info.items()
            if value.dim() == 2
        }

    def task_returns(self, rewards: torch.Tensor | None = None) -> torch.Tensor:
        """``[N]`` mean undiscounted episode return of each task, of ``rewards`` ``[T, B]``
        (default: ``self.rewards``; e.g. a family's true reward from ``info``). Empty episodes
        (no step, e.g. :func:`pack`'s padding) are left out."""
        returns = self.returns if rewards is None else rewards.sum(0)
        counted = (self.lengths > 0).float().reshape(self.num_tasks, -1)
        total = (returns.reshape(self.num_tasks, -1) * counted).sum(1)
        return total / counted.sum(1).clamp(min=1)


def budget_selection(
    lengths: torch.Tensor, budget: int, pooled: bool = False
) -> torch.Tensor | None:
    """Which episodes a sample-budget sampler keeps, as rllab's ``VectorizedSampler`` collects a
    batch of ``budget`` steps per task.

    ``S`` envs per task step in lockstep; an env whose episode ended starts its next one, and
    collection stops after the first step at which the ended episodes hold ``>= budget`` steps,
    per task (the authors' test scripts: one task at a time), or with ``pooled``
    ``>= N * budget`` over all ``N`` tasks, which then stop together (their training in one
    process: all tasks' envs in one sampler). Every ended episode is kept, so episodes that end
    early (e.g. at the goal) come more often than in a batch of ``S`` episodes.

    ``lengths`` ``[N, S, R]``: the length of env ``s``'s ``r``-th episode on task ``n``, which
    ends at step ``lengths[n, s, :r + 1].sum()``. Returns ``keep`` ``[N, S, R]`` bool, or
    ``None`` while ``R`` episodes per env do not settle every task (an env whose ``R`` episodes
    all end before the stop could end another in time).
    """
    ends = lengths.cumsum(-1)
    keep = torch.zeros(lengths.shape, dtype=torch.bool)
    groups = [list(range(len(lengths)))] if pooled else [[n] for n in range(len(lengths))]
    for group in groups:
        end, length = ends[group].flatten(), lengths[group].flatten()
        order = torch.argsort(end, stable=True)
        reached = torch.nonzero(length[order].cumsum(0) >= budget * len(group))
        if len(reached) == 0:
            return None
        stop = end[order][reached[0, 0]]
        if (ends[group, :, -1] < stop).any():
            return None
        keep[group] = ends[group] <= stop
    return keep


def pack(rounds: Sequence[Episodes], keep: torch.Tensor) -> Episodes:
    """The episodes ``keep`` ``[N, S, R]`` marks in ``rounds`` (``R`` batches of ``S`` episodes per
    task), each task's side by side: ``E`` = the largest count per task, a task with fewer
    padded with empty episodes (mask 0), which every mean over episodes or steps leaves out.
    A padding column has ``lengths`` 0, ``terminated`` True (no bootstrap) and copies of another
    episode's ``obs`` and ``actions``: count real episodes where ``lengths > 0``."""
    n, s, r = keep.shape
    counts = keep.reshape(n, -1).sum(1)
    e = int(counts.max())
    cols, real = [], []
    for task in range(n):
        # Round j's episode i of this task is column j * n * s + task * s + i of the rounds.
        picks = [j * n * s + task * s + i for j in range(r) for i in range(s) if keep[task, i, j]]
        cols += picks + picks[:1] * (e - len(picks))
        real += [True] * len(picks) + [False] * (e - len(picks))
    cols, real = torch.tensor(cols), torch.tensor(real)

    def cat(name: str) -> torch.Tensor:
        return torch.cat([getattr(eps, name) for eps in rounds], dim=1)[:, cols]

    def live(x: torch.Tensor) -> torch.Tensor:
        return x * real.reshape(len(real), *[1] * (x.dim() - 2)).to(x.dtype)

    nonfinite = [eps.nonfinite for eps in rounds]
    return Episodes(
        obs=cat("obs"),
        actions=cat("actions"),
        rewards=live(cat("rewards")),
        mask=live(cat("mask")),
        last_obs=torch.cat([eps.last_obs for eps in rounds])[cols],
        terminated=torch.cat([eps.terminated for eps in rounds])[cols] | ~real,
        num_tasks=n,
        nonfinite=None if None in nonfinite else torch.cat(nonfinite)[cols] & real,
        info={
            key: live(torch.cat([eps.info[key] for eps in rounds], dim=1)[:, cols])
            for key in rounds[0].info
        },
    )


def discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Reward-to-go ``G_t = Σ_{k≥t} γ^{k-t} r_k`` within each episode: ``[T, B]`` -> ``[T, B]``."""
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running * mask[t]
        out[t] = running
    return out * mask


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    final_values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Generalised advantage estimation (Schulman et al. 2016) over padded episodes.

    ``δ_t = r_t + γ V_{t+1} - V_t``, ``A_t = δ_t + γλ A_{t+1}``; at an episode's last step
    ``V_{t+1}`` is ``final_values[b]`` (0 for a terminated episode, the baseline's value of the
    next state for a truncated one). ``rewards``, ``values``, ``mask``: ``[T, B]``;
    ``final_values``: ``[B]``. Returns ``[T, B]``, 0 outside episodes.
    """
    next_mask = torch.cat([mask[1:], torch.zeros_like(mask[:1])])
    is_last = mask - next_mask  # 1 exactly at each episode's final step
    next_values = torch.cat([values[1:], torch.zeros_like(values[:1])]) * next_mask
    next_values = next_values + is_last * final_values
    deltas = (rewards + gamma * next_values - values) * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * running * next_mask[t]
        advantages[t] = running
    return advantages


def _baseline_features(episodes: Episodes) -> torch.Tensor:
    """``[T, B, F]`` the linear baseline's features of every step."""
    T, B = episodes.rewards.shape
    t = torch.arange(T, dtype=torch.float32).unsqueeze(1).expand(T, B)
    return baseline.features(episodes.obs, t)


def fit_baseline(
    episodes: Episodes, gamma: float, ridge: float = 1e-5, phi: torch.Tensor | None = None
) -> torch.Tensor:
    """``[N, F]`` coefficients of the linear baseline fitted on each task's reward-to-go;
    ``phi`` ``[T, B, F]``, when the caller has them, are the episodes' features."""
    phi = _baseline_features(episodes) if phi is None else phi
    targets = discounted_returns(episodes.rewards, episodes.mask, gamma)
    return baseline.fit(
        episodes.by_task(phi), episodes.by_task(targets), episodes.by_task(episodes.mask), ridge
    )


def compute_advantages(
    episodes: Episodes,
    gamma: float,
    gae_lambda: float,
    ridge: float = 1e-5,
    normalize: bool = True,
    bootstrap_truncated: bool = True,
    baseline_fit: str = "own",
    coef: torch.Tensor | None = None,
) -> Episodes:
    """Fit the linear baseline per task on reward-to-go, then GAE; sets ``episodes.advantages``.

    Truncated episodes (time limit, not a task end) are bootstrapped with the baseline's value
    of ``last_obs`` at time ``length`` when ``bootstrap_truncated``; terminated ones with 0.
    ``normalize`` standardises advantages within each task (mean 0, std 1 over valid steps).
    ``baseline_fit="previous_task"`` predicts task ``n``'s values with task ``n-1``'s
    coefficients (task 0 with the last task's), upstream rllab's order of predict-then-fit; the
    default ``"own"`` uses each task's own fit (the authors' maml_rl fits, then predicts).
    ``coef`` ``[N, F]``, when given, is used instead of any fit on these episodes.
    """
    T, B = episodes.rewards.shape
    mask = episodes.mask
    phi = _baseline_features(episodes)
    if coef is None:
        coef = fit_baseline(episodes, gamma, ridge, phi)
        if baseline_fit == "previous_task":
            coef = coef.roll(1, dims=0)
    values = episodes.from_task(baseline.predict(coef, episodes.by_task(phi)))

    final_values = torch.zeros(B)
    if bootstrap_truncated:
        phi_last = baseline.features(episodes.last_obs, episodes.lengths)  # [B, F]
        phi_last = phi_last.reshape(episodes.num_tasks, -1, phi_last.shape[-1])
        final_values = baseline.predict(coef, phi_last).reshape(B)
        final_values = final_values * (~episodes.terminated).float()

    advantages = gae(episodes.rewards, values * mask, final_values, mask, gamma, gae_lambda)
    if normalize:
        adv = episodes.by_task(advantages)  # [N, T*E]
        m = episodes.by_task(mask)
        count = m.sum(1, keepdim=True).clamp(min=1)
        mean = (adv * m).sum(1, keepdim=True) / count
        std = (((adv - mean) ** 2 * m).sum(1, keepdim=True) / count).sqrt()
        adv = (adv - mean) / (std + 1e-8) * m
        advantages = episodes.from_task(adv)
    episodes.advantages = advantages
    return episodes
