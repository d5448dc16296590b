"""Env-steps per second of the metarl sampler against raw MuJoCo and gymnasium's vector envs.

Issue 3: in one run, on one machine, with one policy (a 2x100 ReLU Gaussian MLP) on
HalfCheetahVel at the paper's meta-batch (40 tasks x 20 episodes x 200 steps), measure

(a) a raw single-thread loop: one ``MjData``, ``mj_step(nstep=frame_skip)`` per control step, no
    observation, reward or policy;
(b) the raw all-threads physics ceiling for the whole batch of copies, no policy and no
    observation/reward work, stepped three ways: ``mujoco.batch.Batch.step`` once per control step,
    and whole open-loop episodes in one call with ``Batch.rollout`` and with ``mujoco.rollout``;
    b is the fastest of the three;
(c) ``metarl.sampler.Sampler.sample``, the policy in the loop, one whole meta-batch per call;
(d) gymnasium's ``SyncVectorEnv`` (one sub-env per episode of the batch) and ``AsyncVectorEnv``
    (one process per sub-env, so a few workers only), the same policy in the loop, for a fixed
    number of env-steps within the horizon;

then the ratios c/b (target >= 0.85) and c/max(d) (target >= 2.5), and, unless --skip-meta, a
full MAML-TRPO meta-iteration at the paper's HalfCheetahVel settings split into sampling,
adaptation and the TRPO meta-step (issue 3, point 4; target: adaptation + meta-step <= sampling),
once with exact curvature (the config's default) and once with the curvature from a quarter of
the tasks, as the locomotion presets.

The raw loops replay one batch the sampler produced: the same initial states and the same
controls (the policy's actions, clipped as the env clips them), so that (b) and (c) step the same
motion. The physics' cost per step depends on it: a flailing policy's controls (clipped Gaussian
noise of standard deviation 1, a third of them at the limits) and uniform random ones (what
``--controls random`` replays) make different contacts. Earlier versions used random controls.

Env-steps are control steps (``frame_skip`` physics steps each). Every figure is the median over
--repeats timed runs after one untimed warm-up run; building the envs is never timed. Resets are
timed only inside (c), where they are part of ``sample``. The (b) variants and (c) run in
interleaved rounds and c/b is the median of the per-round ratios: this machine's speed drifts by
up to a third over minutes, which sequential blocks would turn into a ratio error.

Run:  python experiments/benchmark_sampler.py        # full size: about ten minutes on 2 cores
      python experiments/benchmark_sampler.py --tasks 4 --episodes 5 --horizon 50 --skip-meta
Prints a table, the ratios against their targets and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import mujoco
import mujoco.rollout
import numpy as np
import torch
from cpu_steal import cpu_times, steal_fraction
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from mujoco.batch import Batch

import metarl  # registers the task families
from metarl.episodes import Episodes
from metarl.policy import GaussianMLP, Params
from metarl.sampler import Sampler, set_tasks

ENV_ID = "metarl/HalfCheetahVel-v0"
# The family's unwrapped single env (a MujocoTaskEnv): model, frame_skip, initial_state, spaces.
TaskEnv = gym.Env
TARGETS = {"c_over_b": 0.85, "c_over_max_d": 2.5}
CONTROLS = {
    "policy": "the initial states and clipped controls of one batch the sampler produced",
    "random": "initial states as the env draws them, controls uniform in the actuators' range",
}

# The paper's HalfCheetahVel settings besides the sizes (Finn et al. 2017, sec. 5.3, app. A.2).
PAPER_CONFIG = [
    f"env={ENV_ID}",
    "policy.hidden=[100, 100]",
    "policy.activation=relu",
    "inner.lr=0.1",
    "inner.steps=1",
    "trpo.max_kl=0.01",
    "trpo.cg_iters=10",
]
# The meta-iteration's variants: the config's default, and the locomotion presets' curvature from
# 10 of the 40 tasks (experiments/halfcheetah_vel.yaml; why, and what it costs: README, "Speed").
META_VARIANTS = {"exact": [], "quarter_curvature": ["trpo.curvature_tasks=0.25"]}

# A timed run returns (env-steps, seconds); the caller turns repeats of it into a rate.
Run = Callable[[], tuple[int, float]]


def measure(run: Run, repeats: int) -> float:
    """Median env-steps/s over ``repeats`` runs, after one untimed warm-up run."""
    run()  # caches, thread pools, first-touch allocations
    rates = []
    for _ in range(repeats):
        steps, seconds = run()
        rates.append(steps / seconds)
    return statistics.median(rates)


def interleaved(runs: dict[str, Run], repeats: int) -> list[dict[str, float]]:
    """Env-steps/s of every run in each of ``repeats`` rounds (one run of each per round), after
    one untimed warm-up run of each."""
    for run in runs.values():
        run()
    rounds = []
    for _ in range(repeats):
        rates = {}
        for key, run in runs.items():
            steps, seconds = run()
            rates[key] = steps / seconds
        rounds.append(rates)
    return rounds


# --- raw physics ----------------------------------------------------------------------------------
@dataclass
class Workload:
    """What the raw loops step: initial states and the control of every control step.

    ``qpos [n, nq]``, ``qvel [n, nv]``, ``controls [n, horizon, nu]`` for ``n`` copies.
    """

    qpos: np.ndarray
    qvel: np.ndarray
    controls: np.ndarray

    @classmethod
    def from_states(
        cls, states: list[tuple[np.ndarray, np.ndarray]], controls: np.ndarray
    ) -> Workload:
        """From ``n`` ``(qpos, qvel)`` pairs (``initial_state``'s) and ``controls``."""
        return cls(np.stack([q for q, _ in states]), np.stack([v for _, v in states]), controls)

    def first(self, n: int) -> Workload:
        return Workload(self.qpos[:n], self.qvel[:n], self.controls[:n])


def random_workload(single: TaskEnv, n: int, horizon: int, seed: int) -> Workload:
    """Initial states drawn as the env's reset draws them, controls uniform in the actuators'
    ranges (drawn before any clock starts, so the raw loops time physics, not the generator)."""
    rng = np.random.default_rng(seed)
    states = [single.initial_state(rng) for _ in range(n)]
    low, high = single.model.actuator_ctrlrange.T
    controls = rng.uniform(low, high, (n, horizon, single.model.nu))
    return Workload.from_states(states, controls)


def policy_workload(single: TaskEnv, seeds: np.ndarray, eps: Episodes) -> Workload:
    """The workload of a sampled batch ``eps`` whose copies were reset with ``seeds``: the
    initial states they reset to and the controls the policy sent, clipped as the env clips them.

    The physics' cost per step depends on the motion (contacts, constraint iterations), so the
    raw loops replay this to time the very steps the sampler takes.
    """
    low, high = single.action_space.low, single.action_space.high
    controls = np.clip(eps.actions.numpy().swapaxes(0, 1), low, high)
    states = [single.initial_state(seeding.np_random(int(s))[0]) for s in seeds]
    return Workload.from_states(states, controls)


def raw_single_thread(single: TaskEnv, work: Workload) -> Run:
    """(a) One ``MjData`` stepped by ``mj_step`` in a Python loop through each copy of ``work``."""
    model, data, skip = single.model, mujoco.MjData(single.model), single.frame_skip
    qpos, qvel, controls = work.qpos, work.qvel, work.controls
    episodes, horizon = controls.shape[:2]

    def run() -> tuple[int, float]:
        seconds = 0.0
        for e in range(episodes):
            mujoco.mj_resetData(model, data)
            data.qpos[:], data.qvel[:] = qpos[e], qvel[e]
            mujoco.mj_forward(model, data)
            start = time.perf_counter()
            for t in range(horizon):
                data.ctrl[:] = controls[e, t]
                mujoco.mj_step(model, data, nstep=skip)
            seconds += time.perf_counter() - start
        return episodes * horizon, seconds

    return run


def reset_batch(batch: Batch, qpos: np.ndarray, qvel: np.ndarray) -> None:
    """Put every copy of ``batch`` at its initial state, as ``MujocoVectorEnv.reset`` does."""
    batch.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
    batch.bind("qpos")[:] = qpos
    batch.bind("qvel")[:] = qvel
    batch.forward()


def raw_batch_step(single: TaskEnv, work: Workload, nthread: int) -> Run:
    """(b) The copies of ``work`` in a ``Batch``, one ``step(nstep=frame_skip)`` per control step.

    No position stage after the step (the vector env adds one for its observation), so this is
    the closed-loop ceiling: the least a control step of the whole batch can cost.
    """
    copies, horizon = work.controls.shape[:2]
    batch = Batch(single.model, copies, nthread)
    controls = np.ascontiguousarray(work.controls.swapaxes(0, 1))  # [horizon, copies, nu]
    ctrl = batch.bind("ctrl")

    def run() -> tuple[int, float]:
        reset_batch(batch, work.qpos, work.qvel)
        start = time.perf_counter()
        for t in range(horizon):
            ctrl[:] = controls[t]
            batch.step(nstep=single.frame_skip)
        return copies * horizon, time.perf_counter() - start

    return run


def raw_batch_rollout(single: TaskEnv, work: Workload, nthread: int) -> Run:
    """(b) Whole open-loop episodes in one ``Batch.rollout`` call, recording nothing."""
    copies, horizon = work.controls.shape[:2]
    batch = Batch(single.model, copies, nthread)
    # Each control is held for frame_skip substeps, as in a control step.
    controls = np.repeat(work.controls, single.frame_skip, 1)

    def run() -> tuple[int, float]:
        reset_batch(batch, work.qpos, work.qvel)
        start = time.perf_counter()
        batch.rollout(horizon * single.frame_skip, controls, record=())
        return copies * horizon, time.perf_counter() - start

    return run


def raw_mujoco_rollout(single: TaskEnv, work: Workload, pool: mujoco.rollout.Rollout) -> Run:
    """(b) Whole open-loop episodes in one ``mujoco.rollout`` call on the thread pool ``pool``.

    ``mujoco.rollout`` always records the full physics state of every substep; its output array
    is allocated once, outside the clock.
    """
    model, skip = single.model, single.frame_skip
    copies, horizon = work.controls.shape[:2]
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    scratch = mujoco.MjData(model)
    initial = np.empty((copies, mujoco.mj_stateSize(model, spec)))
    for i in range(copies):
        scratch.qpos[:], scratch.qvel[:] = work.qpos[i], work.qvel[i]
        mujoco.mj_getState(model, scratch, initial[i], spec)
    controls = np.repeat(work.controls, skip, 1)
    state = np.empty((copies, horizon * skip, initial.shape[1]))
    datas = [mujoco.MjData(model) for _ in range(pool.nthread)]  # one scratch MjData per thread

    def run() -> tuple[int, float]:
        start = time.perf_counter()
        pool.rollout(model, datas, initial, controls, state=state)
        return copies * horizon, time.perf_counter() - start

    return run


# --- the policy in the loop -----------------------------------------------------------------------
def make_policy(single: TaskEnv, seed: int) -> tuple[GaussianMLP, Params]:
    """The paper's 2x100 ReLU Gaussian MLP and its initial parameters."""
    policy = GaussianMLP(
        obs_dim=gym.spaces.flatdim(single.observation_space),
        act_dim=gym.spaces.flatdim(single.action_space),
        hidden=(100, 100),
        activation="relu",
    )
    return policy, policy.init_params(torch.Generator().manual_seed(seed))


def sampler_run(
    single: TaskEnv,
    policy: GaussianMLP,
    params: Params,
    tasks: int,
    episodes: int,
    horizon: int,
    nthread: int,
    seed: int,
) -> tuple[Run, Sampler, Workload]:
    """(c) One ``Sampler.sample`` of the whole meta-batch per run; env-steps = ``mask.sum()``.

    Also returns the workload of one more (untimed) batch, for the raw loops to replay.
    """
    sampler = Sampler(ENV_ID, horizon, {"nthread": nthread})
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    task_list = single.sample_tasks(tasks, rng)

    def sample() -> tuple[np.ndarray, Episodes, float]:
        seeds = rng.integers(0, 2**31 - 1, size=tasks * episodes)
        start = time.perf_counter()
        eps = sampler.sample(policy, params, task_list, episodes, seeds, generator)
        return seeds, eps, time.perf_counter() - start

    def run() -> tuple[int, float]:
        _, eps, seconds = sample()
        return int(eps.mask.sum().item()), seconds

    seeds, eps, _ = sample()  # also builds the vector env, so that no run times its construction
    return run, sampler, policy_workload(single, seeds, eps)


def gymnasium_run(
    vec: gym.vector.VectorEnv,
    policy: GaussianMLP,
    params: Params,
    env_steps: int,
    horizon: int,
    seed: int,
) -> Run:
    """(d) ``vec`` stepped with the policy's actions until ``env_steps`` env-steps are done.

    The same forward pass, noise and clipping as the sampler, for all sub-envs at once with shared
    parameters. An episode runs at most ``horizon`` steps, so no sub-env ever needs a reset inside
    it (autoreset is disabled); the resets between episodes are outside the clock.
    """
    low = torch.as_tensor(vec.single_action_space.low, dtype=torch.float32)
    high = torch.as_tensor(vec.single_action_space.high, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    n = vec.num_envs

    @torch.no_grad()
    def actions(obs: np.ndarray) -> np.ndarray:
        dist = policy.distribution(torch.as_tensor(obs, dtype=torch.float32), params)
        noise = torch.randn(n, policy.act_dim, generator=generator)
        return torch.clamp(dist.mean + dist.std * noise, low, high).numpy()

    def run() -> tuple[int, float]:
        done, seconds, episode = 0, 0.0, 0
        while done < env_steps:
            obs, _ = vec.reset(seed=seed + episode * n)
            steps = min(horizon, math.ceil((env_steps - done) / n))
            start = time.perf_counter()
            for _ in range(steps):
                obs, *_ = vec.step(actions(obs))
            seconds += time.perf_counter() - start
            done += steps * n
            episode += 1
        return done, seconds

    return run


def make_gymnasium_vec(mode: str, num_envs: int, horizon: int) -> gym.vector.VectorEnv:
    """gymnasium's own ``SyncVectorEnv`` or ``AsyncVectorEnv`` of the single env, no autoreset."""
    return gym.make_vec(
        ENV_ID,
        num_envs,
        vectorization_mode=mode,
        vector_kwargs={"autoreset_mode": AutoresetMode.DISABLED},
        max_episode_steps=horizon,
    )


# --- the meta-iteration split ---------------------------------------------------------------------
def time_meta_iteration(
    tasks: int,
    episodes: int,
    horizon: int,
    threads: int,
    iterations: int,
    warmup: int,
    overrides: list[str],
) -> dict[str, float]:
    """Median seconds of sampling / adaptation / TRPO meta-step / whole meta-iteration."""
    sizes = [f"meta_batch={tasks}", f"episodes={episodes}", f"horizon={horizon}"]
    config = metarl.load_config(None, PAPER_CONFIG + sizes + [f"threads={threads}", *overrides])
    learner = metarl.make_learner(config)
    try:
        rows = [metarl.meta_iteration(learner) for _ in range(warmup + iterations)][warmup:]
    finally:
        learner.sampler.close()
    return {
        phase: statistics.median(row[f"time_{phase}"] for row in rows)
        for phase in ("sample", "adapt", "meta", "iteration")
    }


def meta_target_met(split: dict[str, float]) -> bool:
    """Issue 3's meta-step target: adaptation + TRPO meta-step take no longer than sampling."""
    return split["adapt"] + split["meta"] <= split["sample"]


# --- report ---------------------------------------------------------------------------------------
def ratio_line(name: str, value: float, target: float) -> str:
    verdict = "met" if value >= target else "NOT met"
    return f"{name:12s} {value:8.2f}   target >= {target:<5g} {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40, help="tasks in the meta-batch")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per task")
    parser.add_argument("--horizon", type=int, default=200, help="control steps per episode")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median)")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="torch intra-op threads"
    )
    parser.add_argument(
        "--physics-threads", type=int, default=0, help="Batch threads for (b) and (c); 0: all"
    )
    parser.add_argument(
        "--single-episodes", type=int, help="episodes per run of (a); default min(50, batch)"
    )
    parser.add_argument(
        "--vec-env-steps", type=int, help="env-steps per run of each (d); default batch / 4"
    )
    parser.add_argument(
        "--async-envs", type=int, nargs="+", default=[2, 4, 8], help="AsyncVectorEnv sizes"
    )
    parser.add_argument("--skip-meta", action="store_true", help="skip the meta-iteration split")
    parser.add_argument("--meta-iterations", type=int, default=1, help="timed meta-iterations")
    parser.add_argument("--meta-warmup", type=int, default=1, help="untimed meta-iterations first")
    parser.add_argument(
        "--meta-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for both meta-iteration variants, e.g. trpo.task_chunk=8",
    )
    parser.add_argument(
        "--controls",
        choices=sorted(CONTROLS),
        default="policy",
        help="what the raw loops (a) and (b) step: a batch of the sampler's, or random controls",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    copies = args.tasks * args.episodes
    # One thread and gymnasium's vector envs are slow: a part of the batch gives their rate.
    single_episodes = args.single_episodes or min(50, copies)
    vec_env_steps = args.vec_env_steps or copies * args.horizon // 4
    cores = os.cpu_count()
    physics = args.physics_threads or cores
    single = gym.make(ENV_ID).unwrapped
    policy, params = make_policy(single, args.seed)
    print(
        f"{ENV_ID}: {args.tasks} tasks x {args.episodes} episodes x {args.horizon} steps = "
        f"{copies * args.horizon} env-steps per meta-batch (frame_skip {single.frame_skip})\n"
        f"torch threads {torch.get_num_threads()}, physics threads {physics} of {cores} cores, "
        f"median of {args.repeats} runs; mujoco {mujoco.__version__}, "
        f"gymnasium {gym.__version__}, torch {torch.__version__}\n"
    )

    rates: dict[str, float] = {}

    def record(key: str, label: str, run: Run) -> None:
        rates[key] = measure(run, args.repeats)
        print(f"{label:58s} {rates[key]:12,.0f}", flush=True)

    start = cpu_times()
    h, s = args.horizon, args.seed
    run, sampler, work = sampler_run(
        single, policy, params, args.tasks, args.episodes, h, args.physics_threads, s
    )
    if args.controls == "random":
        work = random_workload(single, copies, h, s)
    print(f"raw loops: {CONTROLS[args.controls]}\n")
    print(f"{'measurement':58s} {'env-steps/s':>12s}")
    record(
        "a_raw_single_thread",
        "(a) raw mj_step loop, 1 thread",
        raw_single_thread(single, work.first(single_episodes)),
    )
    # (b) and (c) run in rounds, one run of each per round, so that a drift in the machine's speed
    # (frequency scaling, neighbours on a shared host) moves them alike; c/b is the median of the
    # per-round ratios.
    side_by_side = {
        "b_batch_step": (
            f"(b) raw Batch.step, {copies} copies, {physics} threads",
            raw_batch_step(single, work, args.physics_threads),
        ),
        "b_batch_rollout": (
            f"(b) raw Batch.rollout, open loop, {physics} threads",
            raw_batch_rollout(single, work, args.physics_threads),
        ),
    }
    pool = mujoco.rollout.Rollout(nthread=physics)  # physics, as 0 is not "all cores" here
    side_by_side["b_mujoco_rollout"] = (
        f"(b) raw mujoco.rollout, open loop, {physics} threads",
        raw_mujoco_rollout(single, work, pool),
    )
    side_by_side["c_sampler"] = ("(c) metarl Sampler, policy in the loop", run)
    try:
        rounds = interleaved({k: r for k, (_, r) in side_by_side.items()}, args.repeats)
    finally:
        sampler.close()
        pool.close()
    b_keys = ("b_batch_step", "b_batch_rollout", "b_mujoco_rollout")
    for key, (label, _) in side_by_side.items():
        rates[key] = statistics.median(r[key] for r in rounds)
        print(f"{label:58s} {rates[key]:12,.0f}", flush=True)
    rates["b_ceiling"] = max(rates[k] for k in b_keys)
    print(f"{'(b) physics ceiling = the fastest (b)':58s} {rates['b_ceiling']:12,.0f}")
    ceilings = [max(r[k] for k in b_keys) for r in rounds]
    per_round = [r["c_sampler"] / b for r, b in zip(rounds, ceilings, strict=True)]
    c_over_b = statistics.median(per_round)
    # No closed-loop sampler on Batch.step can beat raw Batch.step: its ratio to the ceiling is
    # the best c/b a round allowed, which shows how much of a miss is the open loop's advantage.
    closed_loop = [r["b_batch_step"] / b for r, b in zip(rounds, ceilings, strict=True)]
    print(f"{'c / b per round':58s} {' '.join(f'{x:.2f}' for x in per_round)}")
    print(
        f"{'raw Batch.step / b per round (closed-loop bound)':58s} "
        f"{' '.join(f'{x:.2f}' for x in closed_loop)}"
    )

    sync = make_gymnasium_vec("sync", copies, h)
    # Sub-env i runs the task of its episode in the meta-batch, as in the sampler.
    tasks = single.sample_tasks(args.tasks, np.random.default_rng(s))
    set_tasks(sync, [task for task in tasks for _ in range(args.episodes)])
    try:
        record(
            "d_sync",
            f"(d) SyncVectorEnv, {copies} envs, policy in the loop",
            gymnasium_run(sync, policy, params, vec_env_steps, h, s),
        )
    finally:
        sync.close()
    for n in args.async_envs:
        vec = make_gymnasium_vec("async", n, h)  # sub-envs keep the default task
        try:
            record(
                f"d_async_{n}",
                f"(d) AsyncVectorEnv, {n} processes, policy in the loop",
                gymnasium_run(vec, policy, params, vec_env_steps, h, s),
            )
        finally:
            vec.close()
    rates["d_max"] = max(v for k, v in rates.items() if k.startswith("d_"))
    print(f"{'(d) best gymnasium vector env':58s} {rates['d_max']:12,.0f}\n")

    ratios = {
        "c_over_b": c_over_b,
        "c_over_max_d": rates["c_sampler"] / rates["d_max"],
    }
    print(ratio_line("c / b", ratios["c_over_b"], TARGETS["c_over_b"]))
    print(ratio_line("c / max(d)", ratios["c_over_max_d"], TARGETS["c_over_max_d"]))

    meta = {}
    if not args.skip_meta:
        runs = f"median of {args.meta_iterations} after {args.meta_warmup} warm-up"
        print(f"\nmeta-iteration split (s, {runs}; target: adapt + meta <= sample)")
        print(f"{'variant':18s} {'sample':>8s} {'adapt':>8s} {'meta':>8s} {'total':>8s}")
        for name, variant in META_VARIANTS.items():
            meta[name] = split = time_meta_iteration(
                args.tasks,
                args.episodes,
                h,
                args.threads,
                args.meta_iterations,
                args.meta_warmup,
                variant + args.meta_set,
            )
            times = " ".join(f"{split[k]:8.3f}" for k in ("sample", "adapt", "meta", "iteration"))
            print(f"{name:18s} {times}   {'met' if meta_target_met(split) else 'NOT met'}")

    steal = steal_fraction(start, cpu_times())
    if steal is not None:
        print(f"CPU time taken by the hypervisor (steal) during the run: {steal:.0%}")
    result = {
        "env": ENV_ID,
        "tasks": args.tasks,
        "episodes": args.episodes,
        "horizon": h,
        "env_steps_per_batch": copies * h,
        "torch_threads": torch.get_num_threads(),
        "physics_threads": physics,
        "cpu_count": cores,
        "repeats": args.repeats,
        "raw_controls": args.controls,
        "single_thread_env_steps_per_run": single_episodes * h,
        "vector_env_steps_per_run": vec_env_steps,
        "versions": {
            "mujoco": mujoco.__version__,
            "gymnasium": gym.__version__,
            "torch": torch.__version__,
        },
        "env_steps_per_second": {k: round(v, 1) for k, v in rates.items()},
        "meta_iteration_seconds": {
            name: {k: round(v, 3) for k, v in split.items()} for name, split in meta.items()
        },
        "meta_variants": {name: META_VARIANTS[name] + args.meta_set for name in meta},
        "meta_targets_met": {name: meta_target_met(split) for name, split in meta.items()},
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "rounds": [{k: round(v, 1) for k, v in r.items()} for r in rounds],
        "targets": TARGETS,
        "targets_met": {k: ratios[k] >= TARGETS[k] for k in TARGETS},
        "cpu_steal": steal,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
