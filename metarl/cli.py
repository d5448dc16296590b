"""``metarl train | evaluate``: the command line over the trainer and the evaluation."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from metarl.checkpoint import CheckpointError
from metarl.config import ConfigError, load_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metarl", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="meta-train a policy")
    train.add_argument(
        "config", nargs="?", help="YAML config (default: 2D navigation, paper settings)"
    )
    train.add_argument("--run-dir", help="output folder (default: runs/<config>-<time>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    train.add_argument("--seed", type=int)
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
    ev.add_argument("--seed", type=int, help="seed of the held-out tasks (default: eval.seed)")
    ev.add_argument("--checkpoint", default="latest", help="checkpoint name in RUN_DIR/checkpoints")
    return parser


def _train(args) -> None:
    from metarl.trainer import train

    overrides = list(args.set)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.iterations is not None:
        overrides.append(f"iterations={args.iterations}")
    if args.resume:
        if args.config or args.set or args.seed is not None:
            raise ConfigError("--resume takes only --iterations (the run's config.yaml is kept)")
        config = None
        if args.iterations is not None:
            config = load_config(
                Path(args.resume) / "config.yaml", [f"iterations={args.iterations}"]
            )
        run_dir = train(config, args.resume, resume=True, progress=not args.no_progress)
    else:
        config = load_config(args.config, overrides)
        name = Path(args.config).stem if args.config else "navigation2d"
        run_dir = args.run_dir or f"runs/{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = train(config, run_dir, progress=not args.no_progress)
    print(f"run saved in {run_dir}")


def _evaluate(args) -> None:
    from metarl.evaluate import evaluate

    for name in ("tasks", "episodes"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{name}: must be >= 1, got {getattr(args, name)}")
    if args.steps is not None and args.steps < 0:
        raise ConfigError(f"--steps: must be >= 0, got {args.steps}")
    report = evaluate(
        args.run_dir, args.tasks, args.steps, args.episodes, args.seed, args.checkpoint
    )
    print(json.dumps(report))
    print(f"written to {Path(args.run_dir) / 'evaluation.json'}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        {"train": _train, "evaluate": _evaluate}[args.command](args)
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
