"""Tasks given by hand: ``--task KEY=VALUE`` (``metarl watch``) and task files (``metarl evaluate
--task-file``), checked against a family's own task form before any work starts."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np

from metarl.config import ConfigError


def parse_task_args(specs: list[str]) -> dict[str, float | list[float]]:
    """``["velocity=1.5"]`` -> ``{"velocity": 1.5}``; ``["goal=0.3,-0.2"]`` -> a list value."""
    task: dict[str, float | list[float]] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ConfigError(
                f"--task {spec!r}: expected KEY=VALUE, e.g. --task velocity=1.5, --task "
                "direction=-1 or --task goal=0.3,-0.2"
            )
        if key in task:
            raise ConfigError(f"--task {spec!r}: {key} is given twice")
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            raise ConfigError(
                f"--task {spec!r}: the value must be numbers separated by commas"
            ) from None
        task[key] = values[0] if len(values) == 1 else values
    return task


def _format_value(value) -> str:
    return ",".join(f"{float(v):.3g}" for v in np.ravel(value))


def format_task(task: dict) -> str:
    """``{"goal": array([0.3, -0.2])}`` -> ``"goal=0.3,-0.2"``."""
    return " ".join(f"{key}={_format_value(value)}" for key, value in task.items())


def check_task(task: dict, family: gym.Env, env_id: str, source: str = "--task") -> dict:
    """``task`` (numbers or lists, from the command line or a file) in the family's own form.

    The family's current ``task`` is the template: the same keys, each with the same number of
    values. Anything else is a :class:`ConfigError` that starts with ``source`` and names the
    keys the family has.
    """
    template = family.task
    allowed = ", ".join(
        f"{key} ({np.size(value)} number{'s' if np.size(value) > 1 else ''}, e.g. "
        f"{key}={_format_value(value)})"
        for key, value in template.items()
    )
    if not isinstance(task, dict):
        raise ConfigError(f"{source}: expected a task such as {{{allowed}}}, got {task!r}")
    unknown, missing = sorted(set(task) - set(template)), sorted(set(template) - set(task))
    if unknown:
        raise ConfigError(
            f"{source} {', '.join(unknown)}: not a key of {env_id} tasks, which take {allowed}"
        )
    if missing:
        raise ConfigError(f"{source}: {env_id} tasks also need {', '.join(missing)}: {allowed}")
    checked = {}
    for key, value in template.items():
        try:
            given = np.asarray(task[key], dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise ConfigError(f"{source} {key}: expected numbers, got {task[key]!r}") from None
        if given.size != np.size(value):
            raise ConfigError(f"{source} {key}: {env_id} expects {allowed}, got {given.size}")
        checked[key] = float(given[0]) if np.ndim(value) == 0 else given.reshape(np.shape(value))
    return checked


def load_task_file(path: str | Path, family: gym.Env, env_id: str) -> list[dict]:
    """The tasks of a JSON file, each checked by :func:`check_task`.

    The file holds a list of tasks (``[{"goal": [0.1, -0.3]}, ...]``) or an object whose
    ``"tasks"`` is that list (other keys, e.g. where the tasks come from, are ignored).
    """
    try:
        content = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"--task-file {path}: not a readable JSON file ({e})") from None
    tasks = content.get("tasks") if isinstance(content, dict) else content
    if not isinstance(tasks, list) or not tasks:
        raise ConfigError(
            f"--task-file {path}: expected a non-empty list of tasks, or an object whose "
            '"tasks" is one'
        )
    return [
        check_task(task, family, env_id, f"--task-file {path}, task {i}")
        for i, task in enumerate(tasks)
    ]


def task_to_json(task: dict) -> dict:
    """A checked task with its arrays as lists, for a JSON report."""
    return {key: np.asarray(value).tolist() for key, value in task.items()}
