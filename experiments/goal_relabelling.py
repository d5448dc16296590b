"""What one pre-update batch tells a velocity task's first step about the goal: relabel it.

A meta-policy does not observe the goal, so its pre-update episodes have one distribution for
every task; only the reward differs (HalfCheetahVel: ``-|v_x - g| + ctrl``). This draws
``--repeats`` pre-update batches of the run's ``episodes`` (on one task), gives each batch the
rewards of every goal in ``--goals`` (``reward - reward_forward + forward_reward(v_x, g)``, from
the episodes' own ``info``), takes the evaluation's first step (``α``, or ``--scale`` times it;
the run's baseline and advantages) for each goal, and rolls each adapted policy out on its
goal. Per goal, mean over the batches:

- ``above``: the fraction of the batch's steps faster than the goal;
- ``cos_last``: the cosine of the step ``θ' - θ`` with the last goal's step, ``norm`` its norm;
- ``speed``, ``return``: the adapted policy's mean ``x_velocity`` per step and its return.

Also the batch's speed distribution: quantiles of ``x_velocity`` over its steps, and the
standard deviation of the episodes' mean speeds.

Run:  python experiments/goal_relabelling.py \\
          experiments/results/halfcheetah_vel_rerun:iter_000420 [RUN:CHECKPOINT ...] --out F.json
Prints a table per checkpoint; ``--out`` writes every number as JSON, ``--plot`` draws the
adapted speed and return against the goal (PNG).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from metarl.adaptation import adapt_detached
from metarl.checkpoint import CheckpointError
from metarl.config import ConfigError
from metarl.episodes import Episodes
from metarl.evaluate import mean_and_stderr, reseed
from metarl.trainer import (
    Learner,
    collect,
    for_inner,
    load_learner,
    rollout,
    true_rewards,
    with_advantages,
)

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def relabelled(learner: Learner, batch: Episodes, goals: list[float]) -> Episodes:
    """One task's episodes ``batch`` as ``len(goals)`` tasks, task ``n`` rewarded for goal ``n``,
    with the run's advantages; ``[T, G * E]``."""
    eps = batch.select_tasks([0] * len(goals))
    speed, mask = eps.info["x_velocity"], eps.mask
    rewards = eps.rewards - eps.info["reward_forward"]
    e = batch.episodes_per_task
    for n, goal in enumerate(goals):
        cols = slice(n * e, (n + 1) * e)
        forward = learner.family.forward_reward(speed[:, cols].numpy(), {"velocity": goal})
        rewards[:, cols] += torch.as_tensor(forward, dtype=rewards.dtype) * mask[:, cols]
    eps.rewards = rewards
    return for_inner(learner, with_advantages(learner, eps))


def flat_steps(adapted: dict, theta: dict) -> torch.Tensor:
    """``[G, P]``: each task's ``θ' - θ``, all parameters in one row."""
    return torch.cat([(adapted[k] - theta[k]).flatten(1) for k in theta], dim=1)


def measure(
    learner: Learner, goals: list[float], repeats: int, seed: int, scale: float = 1.0
) -> dict:
    """The per-goal table of the module docstring, ``[R, G]`` per entry, and the batches'
    speed distribution; the step is ``scale · α`` (the evaluation's first: 1)."""
    theta = {k: v.detach() for k, v in learner.params.items()}
    episodes = learner.config.episodes
    tasks = [{"velocity": float(g)} for g in goals]
    keys = ("above", "cos_last", "norm", "speed", "return")
    table = {key: np.zeros((repeats, len(goals))) for key in keys}
    quantiles, spread, own = np.zeros((repeats, len(QUANTILES))), np.zeros(repeats), []
    for r in range(repeats):
        reseed(learner, seed + 1000 * r)
        batch = collect(learner, theta, tasks[-1:], episodes)
        inner = relabelled(learner, batch, goals)
        # At the batch's own goal (the last) the relabelled rewards are the env's.
        own.append(float((inner.rewards[:, -episodes:] - batch.rewards).abs().max()))
        speed = batch.info["x_velocity"][batch.mask > 0]
        quantiles[r] = np.quantile(speed.numpy(), QUANTILES)
        per_episode = (batch.info["x_velocity"] * batch.mask).sum(0) / batch.lengths
        spread[r] = float(per_episode.std())
        goal_of_column = torch.tensor(goals).repeat_interleave(episodes)
        above = inner.by_task((inner.info["x_velocity"] > goal_of_column) * inner.mask)
        table["above"][r] = (above.sum(1) / inner.by_task(inner.mask).sum(1)).numpy()
        adapted = adapt_detached(learner.policy, theta, learner.step_sizes, [inner], [scale])
        steps = flat_steps(adapted, theta)
        table["norm"][r] = steps.norm(dim=1).numpy()
        table["cos_last"][r] = torch.nn.functional.cosine_similarity(steps, steps[-1:]).numpy()
        post = rollout(learner, adapted, tasks, episodes)
        table["speed"][r] = post.task_step_means()["x_velocity"].numpy()
        table["return"][r] = post.task_returns(true_rewards(learner, post)).numpy()
    learner.sampler.close()
    stats = {key: mean_and_stderr(value.T) for key, value in table.items()}  # over the batches
    return {
        "goals": goals,
        "scale": scale,
        "max_relabel_error": max(own),
        "speed_quantiles": dict(zip(map(str, QUANTILES), quantiles.mean(0).tolist(), strict=True)),
        "episode_speed_sd": float(spread.mean()),
        "mean": {key: mean.tolist() for key, (mean, _) in stats.items()},
        "stderr": {key: stderr.tolist() for key, (_, stderr) in stats.items()},
    }


def plot(report: dict, path: Path) -> None:
    """Adapted speed and return against the goal, one line per checkpoint, ± standard error."""
    from matplotlib.figure import Figure  # not pyplot: headless, the backend left alone

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    speed_ax, return_ax = fig.subplots(1, 2)
    for spec, out in report.items():
        goals, run = np.array(out["goals"]), Path(spec.rpartition(":")[0]).name
        label = f"{run} {spec.rpartition(':')[2]}"
        for ax, key in ((speed_ax, "speed"), (return_ax, "return")):
            mean, err = np.array(out["mean"][key]), np.array(out["stderr"][key])
            (line,) = ax.plot(goals, mean, label=label, lw=1.2)
            ax.fill_between(goals, mean - err, mean + err, color=line.get_color(), alpha=0.15)
    speed_ax.plot(goals, goals, "k:", lw=1, label="speed = goal")
    speed_ax.set(xlabel="goal velocity (m/s)", ylabel="mean x velocity after one step (m/s)")
    return_ax.set(xlabel="goal velocity (m/s)", ylabel="return after one step")
    speed_ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("One pre-update batch relabelled for every goal, then one step")
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="RUN_DIR:CHECKPOINT, e.g. RUN:iter_000420")
    parser.add_argument("--goals", type=float, nargs="+", default=[i / 10 for i in range(21)])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--scale", type=float, default=1.0, help="the step is SCALE · α")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", type=Path, help="write every number to this JSON file")
    parser.add_argument("--plot", type=Path, help="draw speed and return vs goal to this PNG")
    args = parser.parse_args()
    if args.scale < 0:
        parser.error(f"--scale: must be >= 0, got {args.scale}")
    if args.repeats < 2:
        parser.error(f"--repeats: at least 2 (for standard errors), got {args.repeats}")
    for flag, path in (("--out", args.out), ("--plot", args.plot)):
        if path is not None and not path.parent.is_dir():
            parser.error(f"{flag} {path}: its folder does not exist")
    torch.set_num_threads(args.threads)
    learners = {}
    try:  # every checkpoint loaded and checked before any episode is collected
        for spec in args.runs:
            run, sep, name = spec.rpartition(":")
            if not sep:
                parser.error(f"{spec}: expected RUN_DIR:CHECKPOINT")
            learner = learners[spec] = load_learner(run, name)
            if "velocity" not in getattr(learner.family, "task", {}):
                parser.error(f"{spec}: needs a velocity family (HalfCheetahVel, AntVel)")
    except (CheckpointError, ConfigError) as e:
        parser.error(str(e))
    report = {}
    for spec, learner in learners.items():
        out = report[spec] = measure(learner, args.goals, args.repeats, args.seed, args.scale)
        q = " ".join(f"{v:.2f}" for v in out["speed_quantiles"].values())
        print(
            f"\n{spec}: pre-update x_velocity quantiles {QUANTILES}: {q}; SD of the episodes' "
            f"mean speeds {out['episode_speed_sd']:.3f}; "
            f"relabelling error {out['max_relabel_error']:.1e}"
        )
        print("goal   above  cos_last   norm   speed  return")
        m = out["mean"]
        for i, goal in enumerate(args.goals):
            print(
                f"{goal:4.2f}  {m['above'][i]:6.3f}  {m['cos_last'][i]:7.3f}  {m['norm'][i]:6.3f}"
                f"  {m['speed'][i]:6.3f}  {m['return'][i]:7.1f}",
                flush=True,
            )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    main()
