"""Plots of a run: return vs gradient steps (``evaluation.png``) and the learning curve.

Figures are drawn on a bare ``matplotlib.figure.Figure`` (the Agg canvas), never through pyplot,
so they work headless and leave the caller's matplotlib backend alone.
"""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from metarl.config import ConfigError

# The paper's families under metarl's env ids; keys of paper_results.json.
PAPER_FAMILIES = {
    "metarl/Navigation2D-v0": "navigation2d",
    "metarl/HalfCheetahVel-v0": "halfcheetah_vel",
    "metarl/HalfCheetahDir-v0": "halfcheetah_dir",
    "metarl/AntVel-v2": "ant_vel",
    "metarl/AntDir-v2": "ant_dir",
}
# How the paper's comparison curves are drawn: (key, label, colour, line style).
_PAPER_CURVES = [
    ("maml", "MAML (paper)", "tab:blue", "--"),
    ("pretrained", "pretrained (paper)", "tab:orange", ":"),
    ("random_init", "random init (paper)", "tab:gray", ":"),
]


def paper_results(env_id: str) -> dict | None:
    """The paper's numbers for ``env_id`` (``maml``, ``pretrained``, ``random_init``: returns
    after 0..3 steps; ``oracle``: one number) and the settings they hold for (``horizon``,
    ``env_kwargs`` of metarl's env), or None for a family the paper did not run.

    Source: Finn et al. 2017, Figure 5 / Tables 4-5, kept in ``metarl/paper_results.json``.
    """
    key = PAPER_FAMILIES.get(env_id)
    if key is None:
        return None
    text = resources.files("metarl").joinpath("paper_results.json").read_text()
    return json.loads(text)["families"][key]


def differs_from_paper(report: dict) -> str:
    """Why the paper's numbers do not apply to ``report``'s run: '' when its ``horizon`` and
    ``env_kwargs`` are the paper's (e.g. HalfCheetah's ``frame_skip`` 1, the authors' control
    step), else which differs. Reports that predate those fields are not judged on them."""
    paper = paper_results(report["family"])
    if paper is None:
        return "not one of the paper's families"
    if report.get("horizon", paper["horizon"]) != paper["horizon"]:
        return f"horizon {report['horizon']}, the paper's is {paper['horizon']}"
    env_kwargs = report.get("env_kwargs", paper["env_kwargs"])
    if env_kwargs != paper["env_kwargs"]:
        return f"env_kwargs {env_kwargs}, the paper's are {paper['env_kwargs']}"
    return ""


def plot_evaluation(report: dict, path: str | Path) -> Path:
    """Average return vs gradient steps with stderr bars, beside the paper's curves if known and
    the run used the paper's horizon and env settings.

    ``report`` is the content of ``evaluation.json`` (``steps``, ``mean_return``, ``stderr``,
    ``family``, ``num_tasks``, ``iteration``); writes a PNG to ``path`` and returns it.
    """
    path = Path(path)
    evaluation_figure(report).savefig(path)
    return path


def evaluation_figure(report: dict) -> Figure:
    """The figure of :func:`plot_evaluation`, not yet saved."""
    fig = Figure(figsize=(5.5, 4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ours = ax.errorbar(
        report["steps"],
        report["mean_return"],
        yerr=report["stderr"],
        marker="o",
        capsize=3,
        color="tab:red",
        label=f"metarl (iteration {report['iteration']})",
    )
    paper = paper_results(report["family"])
    differs = differs_from_paper(report)
    if paper is not None and differs:
        ax.text(0.02, 0.02, f"paper curves omitted: {differs}", transform=ax.transAxes, fontsize=7)
    elif paper is not None:
        for key, label, color, style in _PAPER_CURVES:
            values = paper[key]
            ax.plot(range(len(values)), values, style, marker=".", color=color, label=label)
        # A line over the steps rather than axhline, so that the axis limits take it in.
        ends, oracle = [report["steps"][0], report["steps"][-1]], [paper["oracle"]] * 2
        ax.plot(ends, oracle, "-.", color="black", lw=0.8, label="oracle (paper)")
    ax.set_xticks(report["steps"])
    ax.set_xlabel("number of gradient steps")
    ax.set_ylabel("average return")
    ax.set_title(f"{report['family']}: {report['num_tasks']} held-out tasks", fontsize=10)
    ax.grid(alpha=0.3)
    # Below the axes: inside, five entries cover some curve whatever the corner. Ours first:
    # matplotlib would list an errorbar container after the plain lines.
    handles = [ours, *(h for h in ax.get_legend_handles_labels()[0] if h is not ours)]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    return fig


def read_progress(run_dir: str | Path) -> dict[str, np.ndarray]:
    """``run_dir/progress.csv`` as ``{column: [rows] float array}``; ConfigError if absent.

    An empty cell (a column that does not apply to the run, such as ``aux_grad_norm`` without
    MeRL, or one added after a resumed run's first rows) reads as NaN.
    """
    path = Path(run_dir) / "progress.csv"
    if not path.is_file():
        raise ConfigError(f"no progress.csv in {run_dir} (expected a run folder of metarl train)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ConfigError(f"{path} has no rows yet: train at least one meta-iteration")
    return {key: np.array([float(row[key] or "nan") for row in rows]) for key in rows[0]}


def _interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp`` continued past both ends at the mean slope instead of held constant.

    A secondary axis places its ticks through the inverse of its mapping, so the mapping must
    stay invertible over the plot's margins, beyond the data."""
    slope = (fp[-1] - fp[0]) / (xp[-1] - xp[0])
    outside = np.minimum(x - xp[0], 0) + np.maximum(x - xp[-1], 0)
    return np.interp(x, xp, fp) + slope * outside


def plot_learning_curve(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write :func:`learning_curve_figure` of ``run_dir/progress.csv`` to ``path`` (default
    ``run_dir/learning_curve.png``)."""
    fig = learning_curve_figure(read_progress(run_dir))
    path = Path(run_dir) / "learning_curve.png" if path is None else Path(path)
    fig.savefig(path)
    return path


def learning_curve_figure(progress: dict[str, np.ndarray]) -> Figure:
    """Mean return before and after adaptation vs meta-iteration, env steps on the top axis,
    and below it the policy's action standard deviation σ before adaptation when logged.

    ``progress`` is :func:`read_progress`'s ``{column: [rows]}``. σ is the exploration the
    meta-gradient does not account for, so it sits under the returns on the same iterations;
    runs from before it was logged (``std_pre`` absent or empty) get the returns alone.
    """
    iteration, env_steps = progress["iteration"], progress["env_steps"]
    sigma = progress.get("std_pre")
    has_sigma = sigma is not None and np.isfinite(sigma).any()
    fig = Figure(figsize=(6, 5.2 if has_sigma else 4), dpi=100, layout="constrained")
    if has_sigma:
        ax, ax_sigma = fig.subplots(2, sharex=True, height_ratios=[3, 1])
    else:
        ax = fig.add_subplot()
    marker = "o" if len(iteration) == 1 else None  # a line of one point draws nothing
    for key, color, label in [
        ("return_pre", "tab:gray", "before adaptation"),
        ("return_post", "tab:red", "after adaptation"),
    ]:
        ax.plot(iteration, progress[key], color=color, marker=marker, label=label)
    # Env steps grow monotonically but not linearly (episodes may end early), so the top
    # axis maps iterations to steps by interpolation, from (0, 0): before the first
    # iteration no step was taken.
    its, steps = np.r_[0, iteration], np.r_[0, env_steps]
    top = ax.secondary_xaxis(
        "top",
        functions=(lambda i: _interp(i, its, steps), lambda s: _interp(s, steps, its)),
    )
    top.xaxis.set_major_formatter(EngFormatter())  # 200k, 1.6M, 160M
    top.set_xlabel("env steps")
    ax.set_ylabel("mean return (meta-batch)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    bottom = ax
    if has_sigma:
        ax_sigma.plot(iteration, sigma, color="tab:blue", marker=marker)
        ax_sigma.set_ylabel("σ (mean)")
        ax_sigma.grid(alpha=0.3)
        bottom = ax_sigma
    bottom.set_xlabel("meta-iteration")
    return fig
