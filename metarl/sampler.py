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
        # The per-step bookkeeping is numpy on [B] arrays, masked once at the end: as torch ops it
        # took a quarter of the time between physics calls (1.57x faster sampling on Navigation2D).
        obs_buf = np.zeros((T, B, policy.obs_dim), np.float32)
        act_buf = torch.zeros(T, B, policy.act_dim)
        rew_buf = np.zeros((T, B), np.float32)
        mask = np.zeros((T, B), bool)
        last_obs = np.zeros((B, policy.obs_dim), np.float32)
        terminated = np.zeros(B, bool)
        info_buf: dict[str, np.ndarray] = {}
        obs, nonfinite = _finite(obs_np)
        alive = ~nonfinite
        for t in range(T):
            obs_buf[t] = obs
            obs_t = torch.from_numpy(obs_buf[t]).reshape(n, episodes, -1)
            dist = policy.distribution(obs_t, params)
            mean, std = dist.mean.reshape(B, -1), dist.std.reshape(B, -1)
            noise = torch.randn(B, policy.act_dim, generator=generator)
            act_buf[t] = actions = mean + std * noise

            clipped = torch.maximum(torch.minimum(actions, high), low)
            obs_np, rew_np, term_np, trunc_np, info = vec.step(clipped.numpy())
            next_obs, bad_obs = _finite(obs_np)
            rewards, bad_rew = _finite(rew_np)
            # A NaN/Inf (e.g. an unstable simulation) cuts the episode before this transition:
            # it ends, truncated, at its last finite observation and is counted in `nonfinite`.
            cut = alive & (bad_obs | bad_rew)
            if cut.any():
                last_obs[cut] = obs[cut]
                nonfinite |= cut
                alive &= ~cut
            mask[t] = alive
            rew_buf[t] = rewards

            for key, value in info.items():  # recorded for families' own metrics and MeRL
                if _is_step_array(value, B):
                    if key not in info_buf:
                        info_buf[key] = np.zeros((T, *value.shape), np.float32)
                    info_buf[key][t] = value

            ended = term_np | trunc_np | (t == T - 1)
            last_obs[alive & ended] = next_obs[alive & ended]
            terminated |= alive & term_np
            alive &= ~ended
            if not alive.any():
                break
            done = term_np | trunc_np | bad_obs
            if isinstance(vec, SyncVectorEnv) and done.any():
                # Gymnasium's vector env needs a finished copy reset before the next step; a
                # family's own steps it on (or not at all: MujocoVectorEnv). What a finished copy
                # does afterwards is masked out.
                obs_np, _ = vec.reset(options={"reset_mask": done})
                next_obs, _ = _finite(obs_np)
            obs = next_obs
        # After an episode ends its copy may be reset or stepped on, by the vector env's rules:
        # zeros there (NaN included) make the padding the same on every path.
        for buf in (obs_buf, rew_buf, *info_buf.values()):
            buf[~mask] = 0.0
        act_buf[torch.from_numpy(~mask)] = 0.0
        return Episodes(
            torch.from_numpy(obs_buf),
            act_buf,
            torch.from_numpy(rew_buf),
            torch.from_numpy(mask.astype(np.float32)),
            torch.from_numpy(last_obs),
            torch.from_numpy(terminated),
            num_tasks=n,
            nonfinite=torch.from_numpy(nonfinite),
            info={key: torch.from_numpy(value) for key, value in info_buf.items()},
        )


def _is_step_array(value, num_envs: int) -> bool:
    """A numeric per-copy ``info`` entry (gymnasium's ``_key`` masks are bools, so left out)."""
    return (
        isinstance(value, np.ndarray)
        and value.ndim >= 1
        and value.shape[0] == num_envs
        and np.issubdtype(value.dtype, np.number)
    )


def _finite(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` ``[B, ...]`` as a float32 copy (a vector env may reuse its output arrays) with
    NaN/Inf set to 0, and which rows ``[B]`` had any."""
    x = np.array(x, dtype=np.float32)
    finite = np.isfinite(x)
    if finite.all():
        return x, np.zeros(len(x), bool)
    return np.where(finite, x, np.float32(0)), ~finite.reshape(len(x), -1).all(1)
