"""Plots: evaluation.png beside the paper's curves, learning_curve.png from progress.csv."""

import csv
import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch

import metarl
from metarl.cli import main
from metarl.config import ConfigError
from metarl.plots import (
    PAPER_FAMILIES,
    _interp,
    differs_from_paper,
    evaluation_figure,
    learning_curve_figure,
    paper_results,
    plot_evaluation,
    plot_learning_curve,
    read_progress,
)
from metarl.trainer import PROGRESS_COLUMNS


def is_picture(path) -> bool:
    image = iio.imread(path)
    return image.ndim == 3 and len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 10


def test_paper_results_ship_with_the_package():
    for env_id in PAPER_FAMILIES:
        paper = paper_results(env_id)
        assert all(len(paper[key]) == 4 for key in ("maml", "pretrained", "random_init"))
        assert isinstance(paper["oracle"], float)
        assert paper["horizon"] in (100, 200) and isinstance(paper["env_kwargs"], dict)
    assert paper_results("metarl/Navigation2D-v0")["maml"][1] == -11.68  # Finn et al., Fig. 5
    assert paper_results("example/Reach1D-v0") is None


@pytest.mark.parametrize("family", ["metarl/HalfCheetahVel-v0", "example/Reach1D-v0"])
def test_plot_evaluation(tmp_path, family):
    report = {
        "family": family,
        "steps": [0, 1, 2],
        "mean_return": [-100.0, -70.0, -65.0],
        "stderr": [5.0, 4.0, 4.0],
        "num_tasks": 40,
        "iteration": 500,
    }
    assert is_picture(plot_evaluation(report, tmp_path / "evaluation.png"))
    labels = [t.get_text() for t in evaluation_figure(report).legends[0].get_texts()]
    paper_curves = 4 if family == "metarl/HalfCheetahVel-v0" else 0  # MAML, two baselines, oracle
    assert len(labels) == 1 + paper_curves and labels[0] == "metarl (iteration 500)"


def test_paper_curves_only_for_the_papers_settings(tmp_path):
    report = {
        "family": "metarl/Navigation2D-v0",
        "steps": [0, 1],
        "mean_return": [-40.0, -12.0],
        "stderr": [2.0, 1.0],
        "num_tasks": 40,
        "iteration": 100,
    }
    assert differs_from_paper(report) == ""  # a report from before the fields existed
    assert differs_from_paper({**report, "horizon": 100, "env_kwargs": {}}) == ""
    assert "horizon 50" in differs_from_paper({**report, "horizon": 50})
    assert "max_action" in differs_from_paper({**report, "env_kwargs": {"max_action": 0.2}})
    # The locomotion families need the authors' control step: frame_skip 1 (both models).
    cheetah = {**report, "family": "metarl/HalfCheetahDir-v0", "horizon": 200}
    assert differs_from_paper({**cheetah, "env_kwargs": {"frame_skip": 1}}) == ""
    assert "frame_skip" in differs_from_paper({**cheetah, "env_kwargs": {}})
    ant = {**report, "family": "metarl/AntDir-v2", "horizon": 200, "env_kwargs": {"frame_skip": 1}}
    assert differs_from_paper(ant) == ""
    assert "frame_skip" in differs_from_paper({**ant, "env_kwargs": {"frame_skip": 2}})
    assert "paper's families" in differs_from_paper({**report, "family": "example/Reach1D-v0"})
    with_paper = iio.imread(plot_evaluation(report, tmp_path / "a.png"))
    without = iio.imread(plot_evaluation({**report, "horizon": 50}, tmp_path / "b.png"))
    assert not np.array_equal(with_paper, without)


def test_evaluate_writes_evaluation_png(tmp_path):
    torch.set_num_threads(1)
    config = metarl.load_config(
        None, ["iterations=1", "meta_batch=2", "episodes=2", "policy.hidden=[8]", "horizon=10"]
    )
    run = metarl.train(config, tmp_path / "run", progress=False)
    metarl.evaluate(run, tasks=2, steps=1, episodes=2)
    assert is_picture(run / "evaluation.png")
    # A real progress.csv has empty cells (aux_grad_norm without MeRL).
    assert np.isnan(read_progress(run)["aux_grad_norm"]).all()
    assert is_picture(plot_learning_curve(run))


def test_env_step_axis_maps_iterations_both_ways_beyond_the_data():
    # The top axis of learning_curve.png: iterations 0..3 -> env steps, uneven increments.
    its, steps = np.array([0.0, 1, 2, 3]), np.array([0.0, 100, 250, 300])
    np.testing.assert_allclose(_interp(np.array([1.5, 3.0]), its, steps), [175, 300])
    x = np.linspace(-0.5, 3.5, 41)  # the plot's margins lie outside the data
    mapped = _interp(x, its, steps)
    assert (np.diff(mapped) > 0).all()
    np.testing.assert_allclose(mapped[[0, -1]], [-50, 350])  # the mean slope, 100 per iteration
    np.testing.assert_allclose(_interp(mapped, steps, its), x)


def test_learning_curve_shows_sigma_under_the_returns_when_logged():
    progress = {
        "iteration": np.array([1.0, 2, 3]),
        "env_steps": np.array([100.0, 200, 300]),
        "return_pre": np.array([-50.0, -45, -40]),
        "return_post": np.array([-30.0, -20, -10]),
        "std_pre": np.array([1.0, 0.9, 0.8]),
    }
    returns, sigma = learning_curve_figure(progress).axes
    np.testing.assert_array_equal(sigma.lines[0].get_ydata(), [1.0, 0.9, 0.8])
    assert [line.get_label() for line in returns.lines] == ["before adaptation", "after adaptation"]
    assert sigma.get_xlabel() == "meta-iteration" and returns.get_xlabel() == ""
    # A run from before σ was logged: its column reads as NaN, or is absent.
    for old in (
        {**progress, "std_pre": np.full(3, np.nan)},
        {k: v for k, v in progress.items() if k != "std_pre"},
    ):
        (only,) = learning_curve_figure(old).axes
        assert only.get_xlabel() == "meta-iteration" and len(only.lines) == 2


def test_plot_command_writes_learning_curve(tmp_path, capsys):
    with (tmp_path / "progress.csv").open("w", newline="") as f:
        rows = csv.DictWriter(f, fieldnames=PROGRESS_COLUMNS)
        rows.writeheader()
        for i in range(1, 6):
            row = dict.fromkeys(PROGRESS_COLUMNS, 0.0)
            row.update(iteration=i, env_steps=1000 * i, return_pre=-40 + i, return_post=-30 + 2 * i)
            rows.writerow(row)
    assert main(["plot", str(tmp_path)]) == 0
    assert is_picture(tmp_path / "learning_curve.png")
    assert not (tmp_path / "evaluation.png").exists()

    report = {"family": "metarl/AntDir-v2", "steps": [0, 1], "mean_return": [1.0, 2.0],
              "stderr": [0.1, 0.1], "num_tasks": 2, "iteration": 5}  # fmt: skip
    (tmp_path / "evaluation.json").write_text(json.dumps(report))
    assert main(["plot", str(tmp_path)]) == 0
    assert is_picture(tmp_path / "evaluation.png")
    assert "learning_curve.png" in capsys.readouterr().out


def test_plot_without_progress_is_one_line_exit_2(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no progress.csv" in err[0]
    (tmp_path / "progress.csv").write_text(",".join(PROGRESS_COLUMNS) + "\n")
    with pytest.raises(ConfigError, match="no rows"):
        plot_learning_curve(tmp_path)
