"""``metarl train | evaluate | watch | plot``: the command line over the trainer, the evaluation,
the rendering of an adaptation and the plots of a run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

from metarl.checkpoint import CheckpointError
from metarl.config import (
    BATCHES,
    EVAL_BASELINES,
    RESUMABLE,
    ConfigError,
    load_config,
    parse_override,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metarl", description="Meta-reinforcement learning with MAML on Gymnasium and MuJoCo."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    # The versions that decide a run's numbers, for a bug report in one line.
    versions = ", ".join(f"{pkg} {version(pkg)}" for pkg in ("torch", "gymnasium", "mujoco"))
    parser.add_argument(
        "--version", action="version", version=f"metarl {version('metarl')} ({versions})"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="meta-train a policy")
    train.add_argument(
        "config", nargs="?", help="YAML config (default: 2D navigation, paper settings)"
    )
    train.add_argument("--run-dir", help="output folder (default: runs/<config>-<time>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    train.add_argument("--seed", type=int, help="the run's seed (default: the config's seed)")
    train.add_argument("--iterations", type=int, help="total meta-iterations")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set inner.lr=0.5 (repeatable)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    ev = sub.add_parser("evaluate", help="0..K-step returns on held-out tasks -> evaluation.json")
    ev.add_argument("run_dir")
    ev.add_argument("--tasks", type=int, help="held-out tasks (default: the run's eval.tasks, 40)")
    ev.add_argument("--steps", type=int, help="gradient steps (default: eval.steps, 3)")
    ev.add_argument(
        "--episodes", type=int, help="episodes per task and step (default: eval.episodes)"
    )
    ev.add_argument(
        "--seed",
        type=int,
        help="seed of the held-out tasks and their episodes (default: eval.seed)",
    )
    ev.add_argument(
        "--task-file",
        help='a JSON file with the held-out tasks, a list such as [{"goal": [0.1, -0.3]}, ...] '
        '(or an object whose "tasks" is one), in place of --tasks drawn ones',
    )
    ev.add_argument("--checkpoint", default="latest", help="checkpoint name in RUN_DIR/checkpoints")
    ev.add_argument(
        "--baseline",
        choices=EVAL_BASELINES,
        help="the adaptation steps' baseline: own = each step's own fit (default: eval.baseline); "
        "rllab = upstream rllab's predict-then-fit order (0 for the first step, then the "
        "previous step's fit)",
    )
    ev.add_argument(
        "--batch",
        choices=BATCHES,
        help="each step's batch: episodes = exactly --episodes per task (default: eval.batch); "
        "samples = the authors' rllab sampler (--episodes x horizon steps, ended episodes "
        "followed by the next)",
    )
    ev.add_argument(
        "--first-scale",
        type=float,
        help="the first step's size as a multiple of α (default: eval.first_scale, 1: the "
        "paper's α)",
    )
    ev.add_argument(
        "--later-scale",
        type=float,
        help="the step size of the steps after the first, as a multiple of α (default: "
        "eval.later_scale, 0.5: the paper's α/2)",
    )
    ev.add_argument(
        "--out",
        help="the report's path, a .json file (default: RUN_DIR/evaluation.json); its plot is "
        "written beside it with the suffix .png",
    )

    watch = sub.add_parser(
        "watch",
        help="adapt to one task and render the policy before and after each gradient step",
    )
    watch.add_argument("run_dir")
    watch.add_argument(
        "--task",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="the task, e.g. velocity=1.5, direction=-1, goal=0.3,-0.2 (default: one sampled "
        "with --seed)",
    )
    watch.add_argument("--seed", type=int, default=0, help="seed of the task and the episodes")
    watch.add_argument("--steps", type=int, default=1, help="gradient steps (α, then α/2)")
    watch.add_argument(
        "--episodes", type=int, help="episodes per adaptation step (default: the run's episodes)"
    )
    watch.add_argument(
        "--out",
        help="FILE.mp4, .gif or .png (Navigation2D: .png, or .gif for PNG + animation); "
        "default RUN_DIR/watch.mp4 (Navigation2D: watch.png)",
    )
    watch.add_argument(
        "--layout",
        default="side",
        help="MuJoCo videos: panels side by side (side) or one after another (sequence)",
    )
    watch.add_argument("--live", action="store_true", help="play in MuJoCo's interactive viewer")
    watch.add_argument("--width", type=int, default=320, help="pixels per panel")
    watch.add_argument("--height", type=int, default=240, help="pixels per panel")
    watch.add_argument(
        "--checkpoint", default="latest", help="checkpoint name in RUN_DIR/checkpoints"
    )

    plot = sub.add_parser(
        "plot", help="learning_curve.png from progress.csv (and evaluation.png if evaluated)"
    )
    plot.add_argument("run_dir")
    return parser


def _train(args) -> None:
    from metarl.trainer import train

    overrides = list(args.set)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.iterations is not None:
        overrides.append(f"iterations={args.iterations}")
    if args.resume:
        changed = sorted({".".join(parse_override(o)[0]) for o in args.set} - set(RESUMABLE))
        if args.config or args.seed is not None or changed:
            what = f"--set {changed[0]}" if changed else "a CONFIG or --seed"
            raise ConfigError(
                f"--resume keeps the run's config.yaml and takes --iterations and --set of "
                f"{', '.join(RESUMABLE)} only; got {what}"
            )
        # The run's config.yaml, checked against its checkpoint by train().
        saved = Path(args.resume) / "config.yaml"
        config = load_config(saved, overrides) if saved.is_file() else None
        run_dir = train(config, args.resume, resume=True, progress=not args.no_progress)
    else:
        config = load_config(args.config, overrides)
        name = Path(args.config).stem if args.config else "navigation2d"
        run_dir = args.run_dir or f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = train(config, run_dir, progress=not args.no_progress)
    print(f"run saved in {run_dir}")


def _evaluate(args) -> None:
    from metarl.evaluate import evaluate, report_path

    report = evaluate(
        args.run_dir,
        tasks=args.tasks,
        steps=args.steps,
        episodes=args.episodes,
        seed=args.seed,
        checkpoint=args.checkpoint,
        baseline=args.baseline,
        batch=args.batch,
        first_scale=args.first_scale,
        later_scale=args.later_scale,
        out=args.out,
        task_file=args.task_file,
    )
    rows = zip(report["steps"], report["mean_return"], report["stderr"], strict=True)
    for k, mean, stderr in rows:
        print(f"after {k} step{'' if k == 1 else 's'}: {mean:10.2f} ± {stderr:.2f}")
    print(f"over {report['num_tasks']} tasks, written to {report_path(args.run_dir, args.out)}")


def _watch(args) -> None:
    from metarl.tasks import parse_task_args
    from metarl.watch import step_text, watch

    task = parse_task_args(args.task) if args.task else None
    result = watch(
        args.run_dir,
        task,
        steps=args.steps,
        seed=args.seed,
        episodes=args.episodes,
        out=args.out,
        layout=args.layout,
        live=args.live,
        checkpoint=args.checkpoint,
        width=args.width,
        height=args.height,
    )
    for k, mean in enumerate(result.returns):
        shown = "" if result.shown is None else f", the episode shown {result.shown[k]:.1f}"
        terms = ", ".join(f"{key} {v[k]:.3g}" for key, v in result.terms.items())
        terms = f"\n    mean per step: {terms}" if terms else ""
        print(f"{step_text(k)}: mean return {mean:.1f} over the adaptation episodes{shown}{terms}")
    for path in result.out:
        print(
            f"written to {path}" + ("" if path.suffix == ".png" else f" ({result.frames} frames)")
        )


def _plot(args) -> None:
    from metarl.evaluate import report_path
    from metarl.plots import plot_evaluation, plot_learning_curve

    print(f"written to {plot_learning_curve(args.run_dir)}")
    evaluation = report_path(args.run_dir)
    if evaluation.is_file():
        report = json.loads(evaluation.read_text())
        print(f"written to {plot_evaluation(report, evaluation.with_suffix('.png'))}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        commands = {"train": _train, "evaluate": _evaluate, "watch": _watch, "plot": _plot}
        commands[args.command](args)
    except (ConfigError, CheckpointError, FileExistsError) as e:
        if args.debug:
            raise
        print(f"metarl: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("metarl: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
