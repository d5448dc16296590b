"""Meta-training, top to bottom: MAML-RL with a TRPO meta-step (Finn et al. 2017, Algorithm 3).

One meta-iteration::

    tasks    = family.sample_tasks(meta_batch, rng)
    D_k      = sample(θ_k, tasks); θ_{k+1} = θ_k - α ∇L(θ_k; D_k)      (k < inner steps, no graph)
    D_valid  = sample(θ', tasks)                                        (per-task parameters)
    loss(θ)  = mean_n surrogate(adapt(θ; D_n, create_graph), D_valid_n)  (recomputed with graph)
    TRPO on loss(θ, α) with the KL of the adapted policies; log; checkpoint.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

import metarl.envs  # noqa: F401  (registers the families)
from metarl import checkpoint, merl
from metarl.adaptation import adapt, adapt_detached, init_step_sizes
from metarl.config import (
    RESUMABLE,
    Config,
    ConfigError,
    from_dict,
    get_key,
    registered_id,
    save_config,
    set_key,
    to_dict,
    validate,
)
from metarl.curvature import kl_hessian_product
from metarl.episodes import Episodes, budget_selection, compute_advantages, pack
from metarl.objectives import surrogate_and_kl
from metarl.policy import Gaussian, GaussianMLP, Params
from metarl.sampler import Sampler
from metarl.trpo import TRPOStats, finite_difference_product, hessian_vector_product, trpo_step

PROGRESS_COLUMNS = [
    "iteration", "env_steps", "return_pre", "return_post", "kl", "surrogate_before",
    "surrogate_after", "line_search_steps", "step_fraction", "grad_norm", "inner_lr",
    "nonfinite_episodes", "time_sample", "time_adapt", "time_meta", "time_iteration",
    "aux_grad_norm", "std_pre", "std_post",
]  # fmt: skip


def horizon_of(config: Config) -> int:
    horizon = config.horizon or gym.spec(registered_id(config.env)).max_episode_steps
    if horizon is None:
        raise ConfigError(f"horizon: {config.env} registers no max_episode_steps; set horizon")
    return horizon


@dataclass
class Learner:
    """Everything meta-training changes, and what it needs to continue from a checkpoint."""

    config: Config
    policy: GaussianMLP
    params: Params  # θ, leaf tensors
    step_sizes: Params  # α (meta-parameters too when config.inner.learn_lr != "none")
    family: gym.Env  # an unwrapped instance, for sample_tasks
    sampler: Sampler
    rng: np.random.Generator  # tasks and per-episode seeds
    generator: torch.Generator  # action noise
    iteration: int = 0  # meta-iterations completed
    env_steps: int = 0
    aux: Params = dataclasses.field(default_factory=dict)  # MeRL's φ (empty when disabled)
    aux_optimizer: torch.optim.Optimizer | None = None
    aux_init: Params = dataclasses.field(default_factory=dict)  # φ_0, the centre of φ's prior

    @property
    def meta_parameters(self) -> list[torch.Tensor]:
        learned_lr = self.config.inner.learn_lr != "none"
        return list(self.params.values()) + (list(self.step_sizes.values()) if learned_lr else [])

    def state(self) -> dict:
        """A checkpoint of the state after ``iteration`` meta-iterations."""
        return {
            "config": to_dict(self.config),
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "obs_dim": self.policy.obs_dim,
            "act_dim": self.policy.act_dim,
            "params": {k: v.detach().clone() for k, v in self.params.items()},
            "step_sizes": {k: v.detach().clone() for k, v in self.step_sizes.items()},
            "aux": {k: v.detach().clone() for k, v in self.aux.items()},
            "aux_optimizer": self.aux_optimizer.state_dict() if self.aux_optimizer else None,
            "rng": {"numpy": self.rng.bit_generator.state, "torch": self.generator.get_state()},
        }


def make_learner(config: Config) -> Learner:
    """A fresh learner: policy initialised from ``config.seed``."""
    validate(config)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    env_id = registered_id(config.env)
    try:
        family = gym.make(env_id, **config.env_kwargs).unwrapped
    except (TypeError, ValueError) as e:
        if not config.env_kwargs:  # a family that fails with its defaults: a bug, not bad input
            raise
        raise ConfigError(f"env_kwargs of {config.env}: {e}") from e
    _check_family(family, config.env)
    policy = GaussianMLP(
        obs_dim=gym.spaces.flatdim(family.observation_space),
        act_dim=gym.spaces.flatdim(family.action_space),
        hidden=tuple(config.policy.hidden),
        activation=config.policy.activation,
        init_std=config.policy.init_std,
    )
    generator = torch.Generator().manual_seed(config.seed)
    params = {k: v.requires_grad_() for k, v in policy.init_params(generator).items()}
    step_sizes = init_step_sizes(params, config.inner.lr, config.inner.learn_lr)
    step_sizes = {k: v.requires_grad_() for k, v in step_sizes.items()}
    learner = Learner(
        config=config,
        policy=policy,
        params=params,
        step_sizes=step_sizes,
        family=family,
        sampler=Sampler(env_id, horizon_of(config), config.env_kwargs),
        rng=np.random.default_rng([config.seed, 0]),
        generator=generator,
    )
    if config.aux.enabled:
        num_features = _probe_info(family, config)
        aux = merl.init_score(num_features, config.aux, torch.Generator().manual_seed(config.seed))
        learner.aux_init = {k: v.detach().clone() for k, v in aux.items()}
        learner.aux = {k: v.requires_grad_() for k, v in aux.items()}
        optimizer = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[config.aux.optimizer]
        learner.aux_optimizer = optimizer(learner.aux.values(), lr=config.aux.lr)
    elif config.true_reward is not None:
        _probe_info(family, config)
    return learner


def _check_family(family: gym.Env, env: str) -> None:
    """ConfigError, before any work, if ``family`` breaks the task-family contract (README, "Plug
    in your own task family") in a way that would otherwise fail later or train on wrong data."""
    for attr in ("sample_tasks", "set_task"):
        if not callable(getattr(family, attr, None)):
            raise ConfigError(f"env: {env} is not a task family (it has no {attr} method)")
    if not hasattr(family, "task"):
        raise ConfigError(f"env: {env} is not a task family (it has no task attribute)")
    for name in ("observation", "action"):
        space = getattr(family, f"{name}_space")
        if not isinstance(space, gym.spaces.Box):
            raise ConfigError(
                f"env: {env} has a {type(space).__name__} {name} space; metarl's Gaussian "
                "policy needs Box observations and actions"
            )
    # A probe on a generator of its own, so that training's streams are untouched.
    tasks = family.sample_tasks(2, np.random.default_rng(0))
    if not isinstance(tasks, Sequence) or len(tasks) != 2:
        got = f"{len(tasks)} tasks" if isinstance(tasks, Sequence) else type(tasks).__name__
        raise ConfigError(f"env: {env}'s sample_tasks(2, rng) returned {got}, not a list of 2")
    if not all(isinstance(task, Mapping) for task in tasks):
        kinds = sorted({type(task).__name__ for task in tasks})
        raise ConfigError(f"env: {env}'s tasks must be dicts, sample_tasks returned {kinds}")
    family.set_task(tasks[0])


def _probe_info(family: gym.Env, config: Config) -> int:
    """Check, with one step of the family, that it reports the ``info`` keys ``config`` reads
    (before any work starts); returns the length of the auxiliary features."""
    family.reset(seed=0)
    info = family.step(family.action_space.sample())[-1]
    family.reset(seed=0)
    wanted = [("true_reward", config.true_reward)] * (config.true_reward is not None)
    if config.aux.enabled:
        wanted += [("aux.features", config.aux.features), ("aux.success", config.aux.success)]
    for option, key in wanted:
        if key not in info:
            raise ConfigError(
                f"{option}: {config.env} reports no info[{key!r}] (its info keys: {sorted(info)})"
            )
    return int(np.size(info[config.aux.features])) if config.aux.enabled else 0


def learner_from_state(state: dict, config: Config | None = None) -> Learner:
    """Rebuild a learner from a checkpoint (``config`` overrides the saved one, e.g. iterations)."""
    learner = make_learner(config or from_dict(state["config"]))
    for name, target in (("params", learner.params), ("step_sizes", learner.step_sizes)):
        _copy_into(target, state[name], f"checkpoint {name}", learner.config)
    if learner.aux:
        with torch.no_grad():
            for k, v in learner.aux.items():
                v.copy_(state["aux"][k])
        learner.aux_optimizer.load_state_dict(state["aux_optimizer"])
    learner.iteration = int(state["iteration"])
    learner.env_steps = int(state["env_steps"])
    learner.rng.bit_generator.state = state["rng"]["numpy"]
    learner.generator.set_state(state["rng"]["torch"])
    return learner


def _copy_into(target: Params, saved: Params, what: str, config: Config) -> None:
    """Copy ``saved`` into the leaves ``target``; CheckpointError if names or shapes differ."""
    if set(saved) != set(target):
        differ = f"parameters {sorted(saved)} in the checkpoint, {sorted(target)} for this config"
    else:
        k = next((k for k in target if saved[k].shape != target[k].shape), None)
        shapes = k and (list(saved[k].shape), list(target[k].shape))
        differ = k and f"{k} is {shapes[0]} in the checkpoint, {shapes[1]} for this config"
    if differ:
        raise checkpoint.CheckpointError(
            f"{what} do not match the configured policy "
            f"({config.env}, hidden {config.policy.hidden}: {differ})"
        )
    with torch.no_grad():
        for k, v in target.items():
            v.copy_(saved[k])


def warm_start(learner: Learner, source: str | Path) -> None:
    """Set θ to the policy parameters of the checkpoint ``source`` (a ``.pt`` file, or a run
    folder: its ``checkpoints/latest.pt``); the learner's α, streams and counters are kept.
    With ``init_from_std`` false, ``log_std`` is reset to ``log(policy.init_std)``."""
    path = Path(source)
    if path.is_dir():
        path = path / "checkpoints" / "latest.pt"
    try:
        state = checkpoint.load(path)
    except checkpoint.CheckpointError as e:
        raise checkpoint.CheckpointError(f"init_from: {e}") from None
    _copy_into(learner.params, state["params"], f"init_from: {path}'s parameters", learner.config)
    if not learner.config.init_from_std:
        with torch.no_grad():
            learner.params["log_std"].fill_(math.log(learner.config.policy.init_std))


def load_learner(run_dir: str | Path, name: str = "latest") -> Learner:
    """The learner saved in ``run_dir/checkpoints/<name>.pt`` (latest, iter_000100, ...)."""
    return learner_from_state(checkpoint.load(Path(run_dir) / "checkpoints" / f"{name}.pt"))


@contextmanager
def _timed(times: dict, key: str):
    start = time.perf_counter()
    yield
    times[key] = times.get(key, 0.0) + time.perf_counter() - start


def rollout(learner: Learner, params: Params, tasks: list[dict], episodes: int) -> Episodes:
    """Roll out ``params`` on ``tasks``, ``episodes`` each, from the learner's seed streams."""
    seeds = learner.rng.integers(0, 2**31 - 1, size=len(tasks) * episodes)
    eps = learner.sampler.sample(learner.policy, params, tasks, episodes, seeds, learner.generator)
    learner.env_steps += int(eps.mask.sum().item())
    return eps


BUDGETS = (None, "per_task", "pooled")  # the batches `collect` can take, see there


def collect(
    learner: Learner,
    params: Params,
    tasks: list[dict],
    episodes: int,
    budget: str | None = None,
) -> Episodes:
    """Roll out ``params`` on ``tasks`` and attach advantages (baseline fit + GAE).

    ``budget`` (one of ``BUDGETS``) sets the batch: ``None``, exactly ``episodes`` per task;
    otherwise ``episodes`` x horizon steps per task as the authors' rllab ``VectorizedSampler``
    collected them (:func:`~metarl.episodes.budget_selection`): ``"per_task"`` as their test
    scripts (``episodes`` envs per task in lockstep, each task's own budget), ``"pooled"`` as
    their training in one process (one env per task running its episodes back to back, all
    stopped together once the ended episodes hold the budget summed over tasks). Episodes are i.i.d.
    given the task, so each round of ``episodes`` per task serves as the next episodes of the
    envs; the episodes a sampler would have cut off still count in ``learner.env_steps``.
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    if budget is None:
        return with_advantages(learner, rollout(learner, params, tasks, episodes))
    n, steps = len(tasks), episodes * learner.sampler.horizon
    rounds: list[Episodes] = []
    keep = None
    while keep is None:
        if len(rounds) == 1000:
            raise RuntimeError(f"budget {budget}: 1000 rounds did not fill the sample budget")
        rounds.append(rollout(learner, params, tasks, episodes))  # advantages: after packing
        lengths = torch.stack([eps.lengths.reshape(n, episodes) for eps in rounds], -1)
        if budget == "per_task":
            keep = budget_selection(lengths, steps)
        else:  # one env per task: round 0's episodes, then round 1's, ...
            order = lengths.transpose(1, 2).reshape(n, 1, -1)
            keep = budget_selection(order, steps, pooled=True)
            keep = None if keep is None else keep.reshape(n, len(rounds), episodes).transpose(1, 2)
    return with_advantages(learner, pack(rounds, keep))


def for_inner(learner: Learner, episodes: Episodes, aux: Params | None = None) -> Episodes:
    """``episodes`` as the inner loop learns from them: the env's reward, shaped by MeRL's
    score when enabled (with ``aux`` = φ, differentiably; default: φ detached)."""
    if not learner.config.aux.enabled:
        return episodes
    aux = {k: v.detach() for k, v in learner.aux.items()} if aux is None else aux
    return with_advantages(learner, merl.shape(episodes, aux, learner.config.aux))


def true_rewards(learner: Learner, episodes: Episodes) -> torch.Tensor:
    """``[T, B]`` rewards of the task's true reward (``config.true_reward``; default: reward)."""
    key = learner.config.true_reward
    return episodes.rewards if key is None else episodes.info[key]


def for_meta(learner: Learner, episodes: Episodes) -> Episodes:
    """``episodes`` under the task's true reward, as the meta-objective sees them."""
    if learner.config.true_reward is None:
        return episodes
    rewards = true_rewards(learner, episodes)
    return with_advantages(learner, dataclasses.replace(episodes, rewards=rewards))


def with_advantages(learner: Learner, eps: Episodes, coef: torch.Tensor | None = None) -> Episodes:
    cfg = learner.config
    return compute_advantages(
        eps,
        cfg.returns.gamma,
        cfg.returns.gae_lambda,
        cfg.returns.baseline_ridge,
        cfg.returns.normalize_advantages,
        cfg.returns.bootstrap_truncated,
        cfg.returns.baseline_fit,
        coef,
    )


def meta_step(
    learner: Learner, train_episodes: list[Episodes], valid: Episodes, adapted: Params
) -> TRPOStats:
    """TRPO on ``θ`` (and ``α`` if learned) for the post-adaptation loss.

    ``adapted`` are the per-task parameters that collected ``valid`` (the old policies). Tasks
    are processed in groups of ``trpo.task_chunk`` (one batched graph per group): the result is
    the same for any chunk size, only speed and memory change.
    """
    cfg = learner.config
    n = valid.num_tasks
    chunk = cfg.trpo.task_chunk or n

    def restrict(idx: list[int]) -> tuple[list[Episodes], Episodes, Gaussian]:
        """(train, valid, old policy) of the tasks ``idx`` (no copy when they are all)."""
        everything = idx == list(range(n))
        train = train_episodes if everything else [e.select_tasks(idx) for e in train_episodes]
        val = valid if everything else valid.select_tasks(idx)
        old = learner.policy.distribution(
            val.by_task(val.obs), {k: v[idx] for k, v in adapted.items()}
        )
        return train, val, old

    def groups(tasks: list[int]) -> list[tuple[list[Episodes], Episodes, Gaussian]]:
        """``restrict`` of each chunk of ``tasks``."""
        return [restrict(tasks[i : i + chunk]) for i in range(0, len(tasks), chunk)]

    def post_adaptation(parts, create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean over the tasks in ``parts`` of the surrogate loss and of the KL."""
        loss = kl = 0.0
        for train, val, old in parts:
            new = adapt(
                learner.policy,
                learner.params,
                learner.step_sizes,
                train,
                first_order=cfg.inner.first_order,
                create_graph=create_graph,
                inner_loss=cfg.inner.loss,
            )
            task_loss, task_kl = surrogate_and_kl(learner.policy, new, val, old)
            loss, kl = loss + task_loss.sum(), kl + task_kl.sum()
        count = sum(val.num_tasks for _, val, _ in parts)
        return loss / count, kl / count

    every_task = groups(list(range(n)))
    subset = list(range(n))
    if cfg.trpo.curvature_tasks < 1:
        size = max(1, round(cfg.trpo.curvature_tasks * n))
        subset = sorted(learner.rng.choice(n, size, replace=False).tolist())

    def factored():
        """``v -> (H + damping I) v``, ``H`` the mean KL's Hessian over ``subset``, as JᵀFJ."""
        train, val, old = restrict(subset)
        return kl_hessian_product(
            learner.policy,
            learner.params,
            learner.step_sizes,
            train,
            val,
            old,
            first_order=cfg.inner.first_order,
            damping=cfg.trpo.cg_damping,
            inner_loss=cfg.inner.loss,
        )

    def double_backward():
        """The same product by double back-propagation through the adaptation of ``subset``."""
        kl = post_adaptation(groups(subset), True)[1]
        return hessian_vector_product(kl, learner.meta_parameters, cfg.trpo.cg_damping)

    def finite_difference():
        """The MAML authors' secant product of the mean KL over ``subset``."""
        parts = groups(subset)
        return finite_difference_product(
            lambda: post_adaptation(parts, True)[1], learner.meta_parameters, cfg.trpo.cg_damping
        )

    product = None  # the objective's own KL, all tasks, by double back-propagation
    if cfg.trpo.hvp == "finite_difference":
        product = finite_difference
    elif cfg.trpo.hvp == "factored" and cfg.inner.learn_lr == "none":
        product = factored
    elif len(subset) < n:
        product = double_backward

    return trpo_step(
        learner.meta_parameters,
        lambda create_graph: post_adaptation(every_task, create_graph),
        max_kl=cfg.trpo.max_kl,
        cg_iters=cfg.trpo.cg_iters,
        cg_damping=cfg.trpo.cg_damping,
        ls_steps=cfg.trpo.ls_steps,
        ls_backtrack=cfg.trpo.ls_backtrack,
        curvature_product=product,
        linear_curvature=cfg.trpo.hvp != "finite_difference",
    )


def aux_step(
    learner: Learner, train_episodes: list[Episodes], valid: Episodes, adapted: Params
) -> float:
    """One step (``aux.optimizer``, then ``aux.weight_decay``) on MeRL's φ; returns ``‖∇φ‖``
    (after ``aux.gate``'s test, before clipping).

    ``∇φ`` of the post-adaptation surrogate under the true reward (``valid``), through
    ``θ'(θ, φ)`` re-adapted on the φ-shaped ``train_episodes``: the mixed term ``∂²L_in/∂θ∂φ``,
    which ``adapt`` keeps when the policy's meta-gradient is first order too. Only φ changes.
    """
    cfg = learner.config
    shaped = [for_inner(learner, e, learner.aux) for e in train_episodes]
    new = adapt(
        learner.policy,
        learner.params,
        learner.step_sizes,
        shaped,
        first_order=cfg.inner.first_order,
        inner_loss=cfg.inner.loss,
    )
    old = learner.policy.distribution(valid.by_task(valid.obs), adapted)
    losses = surrogate_and_kl(learner.policy, new, valid, old)[0]  # [N]
    if cfg.aux.gate > 0:
        per_task = merl.task_gradients(losses, learner.aux)
        grads = [merl.significant_mean(g, cfg.aux.gate) for g in per_task]
    else:
        grads = torch.autograd.grad(losses.mean(), list(learner.aux.values()))
    for p, g in zip(learner.aux.values(), grads, strict=True):
        p.grad = g
    norm = torch.nn.utils.clip_grad_norm_(
        learner.aux.values(), cfg.aux.max_grad_norm or float("inf")
    )
    # Decoupled weight decay toward φ_0 (of the pre-step φ, as AdamW's): see merl.decay_toward.
    shrink = merl.decay_toward(learner.aux, learner.aux_init, cfg.aux.lr * cfg.aux.weight_decay)
    learner.aux_optimizer.step()
    with torch.no_grad():
        for k, v in learner.aux.items():
            v.sub_(shrink[k])
    return norm.item()


def meta_iteration(learner: Learner) -> dict[str, float]:
    """One MAML-TRPO meta-iteration; updates ``learner`` in place and returns its metrics."""
    cfg = learner.config
    times: dict[str, float] = {"sample": 0.0, "adapt": 0.0, "meta": 0.0}
    start = time.perf_counter()
    tasks = learner.family.sample_tasks(cfg.meta_batch, learner.rng)

    params = {k: v.detach() for k, v in learner.params.items()}
    std_pre = params["log_std"].exp().mean().item()  # the σ that sampled, before the meta-step
    budget = None if cfg.batch == "episodes" else "pooled"
    collected, train_episodes = [], []  # as sampled; as the inner loop learns from them
    for _ in range(cfg.inner.steps):
        with _timed(times, "sample"):
            collected.append(collect(learner, params, tasks, cfg.episodes, budget))
        with _timed(times, "adapt"):
            train_episodes.append(for_inner(learner, collected[-1]))
            params = adapt_detached(learner.policy, params, learner.step_sizes, train_episodes[-1:])
    with _timed(times, "sample"):
        valid = for_meta(learner, collect(learner, params, tasks, cfg.episodes, budget))

    with _timed(times, "meta"):
        aux_metrics = {}
        if learner.aux:  # φ first: its gradient and θ's are taken at the same (θ, φ)
            aux_metrics["aux_grad_norm"] = aux_step(learner, collected, valid, params)
        stats = meta_step(learner, train_episodes, valid, params)
    learner.iteration += 1
    lr = torch.cat([v.detach().reshape(-1) for v in learner.step_sizes.values()]).mean()
    return {
        "iteration": learner.iteration,
        "env_steps": learner.env_steps,
        "return_pre": collected[0].task_returns(true_rewards(learner, collected[0])).mean().item(),
        "return_post": valid.task_returns().mean().item(),
        "kl": stats.kl,
        "surrogate_before": stats.loss_before,
        "surrogate_after": stats.loss_after,
        "line_search_steps": stats.line_search_steps,
        "step_fraction": stats.step_fraction,
        "grad_norm": stats.grad_norm,
        "inner_lr": lr.item(),
        "nonfinite_episodes": sum(int(e.nonfinite.sum()) for e in [*train_episodes, valid]),
        "time_sample": times["sample"],
        "time_adapt": times["adapt"],
        "time_meta": times["meta"],
        "time_iteration": time.perf_counter() - start,
        **aux_metrics,
        # Exploration: a falling σ makes the pre-update episodes, and so the inner step, less
        # informative, which MAML's meta-gradient (fixed pre-update samples) does not see.
        "std_pre": std_pre,
        "std_post": params["log_std"].exp().mean().item(),  # over tasks and action dims
    }


TENSORBOARD_TAGS = {
    "return_pre": "returns/pre_adaptation",
    "return_post": "returns/post_adaptation",
    "kl": "meta/kl",
    "surrogate_before": "meta/surrogate_before",
    "surrogate_after": "meta/surrogate_after",
    "line_search_steps": "meta/line_search_steps",
    "step_fraction": "meta/step_fraction",
    "grad_norm": "meta/grad_norm",
    "inner_lr": "meta/inner_lr",
    "nonfinite_episodes": "faults/nonfinite_episodes",
    "time_sample": "time/sample",
    "time_adapt": "time/adapt",
    "time_meta": "time/meta",
    "time_iteration": "time/iteration",
    "aux_grad_norm": "merl/grad_norm",
    "std_pre": "policy/std_pre_adaptation",
    "std_post": "policy/std_post_adaptation",
}


def _truncate_progress(path: Path, iteration: int) -> None:
    """Keep the rows of iterations ``<= iteration`` (a resumed run redoes the rest), rewritten
    under the current ``PROGRESS_COLUMNS`` (columns a file from an older version lacks stay empty).
    """
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = [
            r for r in csv.DictReader(f) if r.get("iteration") and int(r["iteration"]) <= iteration
        ]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=PROGRESS_COLUMNS, restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _git_commit() -> str | None:
    """The commit of the metarl source tree in use (with ``-dirty`` if it has local changes)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _record_provenance(run_dir: Path, iteration: int) -> None:
    """Append one JSON line per start or resume to ``run_dir/provenance.jsonl``: the command,
    the commit, the package versions and the iteration it started from, so that published
    results name exactly what produced them.
    """
    record = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "from_iteration": iteration,
        "command": sys.argv,
        "commit": _git_commit(),
        "versions": {
            "python": platform.python_version(),
            **{pkg: version(pkg) for pkg in ("metarl", "torch", "gymnasium", "mujoco", "numpy")},
        },
        "host": {"machine": platform.machine(), "cpus": os.cpu_count()},
    }
    with (run_dir / "provenance.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")


class _StopOnCtrlC:
    """The first Ctrl-C asks the loop to stop after the iteration in flight; a second aborts.

    Stopping between iterations keeps progress.csv, TensorBoard and the checkpoint consistent
    (an interrupt inside a logging call could leave a lock held and hang the shutdown).
    """

    def __init__(self):
        self.requested = False
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: Ctrl-C raises KeyboardInterrupt as usual
            self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("Ctrl-C: stopping after this iteration (again to stop now)", file=sys.stderr)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def train(
    config: Config | None = None,
    run_dir: str | Path = "runs/navigation2d",
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Meta-train into ``run_dir`` (created); with ``resume``, continue from its ``latest.pt``
    (taking only ``iterations`` and the ``RESUMABLE`` keys from ``config``).

    Writes ``config.yaml``, ``provenance.jsonl`` (command, commit and versions of each start),
    ``progress.csv`` (one row per meta-iteration), TensorBoard events
    and ``checkpoints/latest.pt`` (+ ``iter_NNNNNN.pt`` every ``checkpoint_every`` iterations;
    with ``iterations`` 0, only the start: ``latest.pt`` and ``iter_000000.pt``).
    Ctrl-C finishes the iteration in flight, saves it and raises KeyboardInterrupt (a second
    Ctrl-C stops at once and saves the last completed iteration).
    """
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    if resume:
        state = checkpoint.load(ckpt_dir / "latest.pt")
        saved = from_dict(state["config"])
        if config is not None:
            if (config.env, config.policy) != (saved.env, saved.policy):
                raise checkpoint.CheckpointError(
                    f"{ckpt_dir / 'latest.pt'} is a {saved.env} policy {saved.policy}, but the "
                    f"run's config asks for {config.env} {config.policy}"
                )
            for key in ("iterations", *RESUMABLE):
                set_key(saved, key, get_key(config, key))
        learner = learner_from_state(state, saved)
        if learner.config.iterations < learner.iteration:
            raise ConfigError(
                f"iterations: {learner.config.iterations} is below the run's {learner.iteration} "
                f"in {ckpt_dir / 'latest.pt'}; give --iterations {learner.iteration} or more"
            )
        _truncate_progress(run_dir / "progress.csv", learner.iteration)
    else:
        if (ckpt_dir / "latest.pt").exists():
            raise FileExistsError(
                f"{run_dir} already holds a run; use --resume to continue it or another --run-dir"
            )
        learner = make_learner(config or Config())
        if learner.config.init_from is not None:
            warm_start(learner, learner.config.init_from)
    cfg = learner.config
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    _record_provenance(run_dir, learner.iteration)

    writer = SummaryWriter(str(run_dir), purge_step=learner.iteration + 1 if resume else None)
    csv_path = run_dir / "progress.csv"
    new_file = not csv_path.exists() or csv_path.stat().st_size == 0
    csv_file = csv_path.open("a", newline="")
    rows = csv.DictWriter(csv_file, fieldnames=PROGRESS_COLUMNS)
    if new_file:
        rows.writeheader()
    last_state = learner.state()
    bar = tqdm(
        total=cfg.iterations, initial=learner.iteration, disable=not progress, unit="it",
        desc=cfg.env.split("/")[-1],
    )  # fmt: skip
    if learner.iteration == cfg.iterations == 0:  # the start alone: to evaluate, or resume from
        checkpoint.save(last_state, ckpt_dir / "latest.pt")
        checkpoint.save(last_state, ckpt_dir / "iter_000000.pt")
    stop = _StopOnCtrlC()
    try:
        while learner.iteration < cfg.iterations and not stop.requested:
            metrics = meta_iteration(learner)
            last_state = learner.state()
            if metrics["nonfinite_episodes"]:
                tqdm.write(
                    f"iteration {learner.iteration}: {metrics['nonfinite_episodes']} episodes cut "
                    "short by NaN/Inf observations or rewards (excluded from the update)",
                    file=sys.stderr,
                )
            rows.writerow(metrics)
            csv_file.flush()
            for key, tag in TENSORBOARD_TAGS.items():
                if key in metrics:
                    writer.add_scalar(tag, metrics[key], learner.iteration)
            writer.add_scalar("returns/env_steps", metrics["env_steps"], learner.iteration)
            bar.update(1)
            bar.set_postfix(
                pre=f"{metrics['return_pre']:.1f}", post=f"{metrics['return_post']:.1f}"
            )
            periodic = learner.iteration % cfg.checkpoint_every == 0
            if periodic or learner.iteration == cfg.iterations or stop.requested:
                checkpoint.save(last_state, ckpt_dir / "latest.pt")
            if periodic:
                checkpoint.save(last_state, ckpt_dir / f"iter_{learner.iteration:06d}.pt")
                checkpoint.prune(ckpt_dir, cfg.keep_checkpoints)
    except KeyboardInterrupt:  # a second Ctrl-C: the iteration in flight is dropped
        checkpoint.save(last_state, ckpt_dir / "latest.pt")
        stop.requested = True
        raise
    finally:
        stop.restore()
        bar.close()
        writer.close()
        csv_file.close()
        learner.sampler.close()
        if stop.requested:
            tqdm.write(
                f"interrupted: saved iteration {last_state['iteration']} to {ckpt_dir}/latest.pt",
                file=sys.stderr,
            )
    if stop.requested:
        raise KeyboardInterrupt
    return run_dir
