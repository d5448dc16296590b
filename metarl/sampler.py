"""Batched rollouts: every episode of every task in a meta-batch advanced together.

Each control step is one policy forward for all ``N`` tasks x ``E`` episodes (per-task parameters
stacked on a leading axis) and one ``step`` of a Gymnasium vector env of ``N * E`` copies. A family
that registers a ``vector_entry_point`` (e.g. the numpy Navigation2D) is stepped through it; any
other registered family through ``gymnasium.vector.SyncVectorEnv``, so every env with the task
contract works.
"""

from __future__ import annotations

from contextlib import contextmanager

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from metarl.episodes import Episodes
from metarl.policy import GaussianMLP, Params


@contextmanager
def _one_torch_thread():
    """Run the policy on one thread while sampling: its per-step forward is small, and idle
    OpenMP workers spinning after each op would take the cores from the physics threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def make_vector_env(env_id: str, num_envs: int, horizon: int, env_kwargs: dict | None = None):
    """A vector env of ``num_envs`` copies, autoreset disabled, time limit ``horizon``."""
    kwargs = dict(env_kwargs or {})
    if gym.spec(env_id).vector_entry_point is not None:
        return gym.make_vec(env_id, num_envs, max_episode_steps=horizon, **kwargs)
    return gym.make_vec(
        env_id,
        num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.DISABLED},
        max_episode_steps=horizon,
        **kwargs,
    )


def set_tasks(vec: gym.vector.VectorEnv, tasks: list[dict]) -> None:
    """Give copy ``i`` the task ``tasks[i]``."""
    if isinstance(vec, SyncVectorEnv):
        for env, task in zip(vec.envs, tasks, strict=True):
            env.unwrapped.set_task(task)
    else:
        vec.unwrapped.set_tasks(tasks)


class Sampler:
    """Collects ``episodes_per_task`` episodes for each task of a meta-batch in one pass.

    ``sample`` returns :class:`Episodes` with ``T = horizon`` and ``B = len(tasks) * episodes``.
    Actions are ``a = μ + σ ε`` with ``ε`` from ``generator``; the env receives them clipped to
    its action space, the episodes keep them unclipped (their log-probability is what the
    gradient needs). Copy ``b`` is reset with ``seeds[b]``. The env's numeric ``info`` arrays
    (``[B, ...]`` per step) are kept in ``Episodes.info`` as ``[T, B, ...]``.
    """

    def __init__(self, env_id: str, horizon: int, env_kwargs: dict | None = None):
        self.env_id = env_id
        self.horizon = horizon
        self.env_kwargs = dict(env_kwargs or {})
        self._vecs: dict[int, gym.vector.VectorEnv] = {}

    def vector_env(self, num_envs: int) -> gym.vector.VectorEnv:
        if num_envs not in self._vecs:
            self._vecs[num_envs] = make_vector_env(
                self.env_id, num_envs, self.horizon, self.env_kwargs
            )
        return self._vecs[num_envs]

    def close(self) -> None:
        for vec in self._vecs.values():
            vec.close()
        self._vecs.clear()

    @torch.no_grad()
    @_one_torch_thread()
    def sample(
        self,
        policy: GaussianMLP,
        params: Params,
        tasks: list[dict],
        episodes: int,
        seeds: np.ndarray,
        generator: torch.Generator,
    ) -> Episodes:
        """``params`` shared ``[...]`` or per task ``[N, ...]``; ``seeds`` ``[N * episodes]``."""
        n = len(tasks)
        B, T = n * episodes, self.horizon
        vec = self.vector_env(B)
        set_tasks(vec, [task for task in tasks for _ in range(episodes)])
        low = torch.as_tensor(vec.single_action_space.low, dtype=torch.float32)
        high = torch.as_tensor(vec.single_action_space.high, dtype=torch.float32)

        obs_np, _ = vec.reset(seed=[int(s) for s in seeds])
        obs_buf = torch.zeros(T, B, policy.obs_dim)
        act_buf = torch.zeros(T, B, policy.act_dim)
        rew_buf = torch.zeros(T, B)
        mask = torch.zeros(T, B)
        last_obs = torch.zeros(B, policy.obs_dim)
        terminated = torch.zeros(B, dtype=torch.bool)
        info_buf: dict[str, torch.Tensor] = {}
        obs, nonfinite = _finite(obs_np)
        alive = ~nonfinite
        for t in range(T):
            dist = policy.distribution(obs.reshape(n, episodes, -1), params)
            mean, std = dist.mean.reshape(B, -1), dist.std.reshape(B, -1)
            noise = torch.randn(B, policy.act_dim, generator=generator)
            actions = mean + std * noise
            obs_buf[t], act_buf[t], mask[t] = obs, actions, alive.float()

            clipped = torch.maximum(torch.minimum(actions, high), low)
            obs_np, rew_np, term_np, trunc_np, info = vec.step(clipped.numpy())
            next_obs, bad_obs = _finite(obs_np)
            rewards, bad_rew = _finite(rew_np)
            # A NaN/Inf (e.g. an unstable simulation) cuts the episode before this transition:
            # it ends, truncated, at its last finite observation and is counted in `nonfinite`.
            cut = alive & (bad_obs | bad_rew)
            mask[t, cut] = 0.0
            last_obs[cut] = obs[cut]
            nonfinite |= cut
            alive &= ~cut

            for key, value in info.items():  # recorded for families' own metrics and MeRL
                if _is_step_array(value, B):
                    step = torch.as_tensor(value, dtype=torch.float32)
                    if key not in info_buf:
                        info_buf[key] = torch.zeros(T, *step.shape)
                    live = alive.reshape(B, *[1] * (step.dim() - 1))
                    info_buf[key][t] = torch.where(live, step, 0.0)

            term = torch.as_tensor(term_np)
            ended = term | torch.as_tensor(trunc_np) | (t == T - 1)
            rew_buf[t] = rewards * alive
            last_obs[alive & ended] = next_obs[alive & ended]
            terminated |= alive & term
            alive &= ~ended
            if not alive.any():
                break
            done = term_np | trunc_np | bad_obs.numpy()
            if done.any():
                # Autoreset is disabled, so a finished copy must be reset before the next step;
                # what it does afterwards is masked out.
                obs_np, _ = vec.reset(options={"reset_mask": done})
                next_obs, _ = _finite(obs_np)
            obs = next_obs
        return Episodes(
            obs_buf,
            act_buf,
            rew_buf,
            mask,
            last_obs,
            terminated,
            num_tasks=n,
            nonfinite=nonfinite,
            info=info_buf,
        )


def _is_step_array(value, num_envs: int) -> bool:
    """A numeric per-copy ``info`` entry (gymnasium's ``_key`` masks are bools, so left out)."""
    return (
        isinstance(value, np.ndarray)
        and value.ndim >= 1
        and value.shape[0] == num_envs
        and np.issubdtype(value.dtype, np.number)
    )


def _finite(x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` as float32 with NaN/Inf set to 0, and which rows ``[B]`` had any."""
    x = torch.as_tensor(x, dtype=torch.float32)
    bad = ~torch.isfinite(x)
    bad_rows = bad.reshape(len(x), -1).any(1)
    return torch.where(bad, 0.0, x), bad_rows
