"""metarl watch: offscreen frames, labels, videos, Navigation2D trajectories, and bad input."""

import imageio.v3 as iio
import numpy as np
import pytest
import torch

import metarl
from metarl.cli import main
from metarl.evaluate import adapt_to_tasks, reseed
from metarl.watch import label, make_render_env, play, use_offscreen_gl, watch

TINY = ["iterations=1", "meta_batch=2", "episodes=2", "policy.hidden=[8]", "threads=1"]
HORIZON = 10


@pytest.fixture(scope="module")
def cheetah_run(tmp_path_factory):
    torch.set_num_threads(1)
    config = metarl.load_config(None, [*TINY, "env=metarl/HalfCheetahDir-v0", f"horizon={HORIZON}"])
    return metarl.train(config, tmp_path_factory.mktemp("cheetah") / "run", progress=False)


@pytest.fixture(scope="module")
def nav_run(tmp_path_factory):
    torch.set_num_threads(1)
    config = metarl.load_config(None, [*TINY, f"horizon={HORIZON}"])
    return metarl.train(config, tmp_path_factory.mktemp("nav") / "run", progress=False)


def test_offscreen_frames_are_images_and_adaptation_changes_them(cheetah_run):
    use_offscreen_gl()
    learner = metarl.load_learner(cheetah_run)
    reseed(learner, 0)
    result = adapt_to_tasks(learner, [{"direction": -1.0}], steps=1, episodes=2)
    learner.sampler.close()
    env = make_render_env(learner, width=64, height=48)
    episodes = []
    for params in result.params:
        frames, returns = [], []
        for ret in play(env, learner.policy, params, {"direction": -1.0}, seed=0):
            frames.append(env.render())
            returns.append(ret)
        episodes.append((np.stack(frames), returns))
    assert env.unwrapped.task == {"direction": -1.0}
    *_, forward = play(env, learner.policy, result.params[0], {"direction": 1.0}, seed=0)
    env.close()
    (before, returns_before), (after, _) = episodes
    assert before.shape == (HORIZON + 1, 48, 64, 3) and before.dtype == np.uint8
    assert returns_before[0] == 0.0 and len(returns_before) == HORIZON + 1
    assert forward != pytest.approx(returns_before[-1])  # the task is the one asked for
    for frame in (before[0], before[-1], after[-1]):
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 10  # not one colour
    assert np.array_equal(before[0], after[0])  # same seed: the same start
    assert np.abs(before[-1].astype(int) - after[-1]).mean() > 0.5  # θ and θ' move differently


def test_label_writes_on_the_top_left_only():
    frame = np.full((48, 64, 3), 128, np.uint8)
    out = label(frame, ["task", "return 1.0"])
    assert out.shape == frame.shape and (frame == 128).all()
    changed = (out != frame).any(-1)
    assert changed[:10, :10].any() and not changed[-5:].any()


def test_watch_writes_side_by_side_mp4_and_sequence_gif(cheetah_run, tmp_path, capsys):
    result = watch(
        cheetah_run, {"direction": 1}, steps=1, out=tmp_path / "w.mp4", width=96, height=64
    )
    frames = np.stack(list(iio.imiter(tmp_path / "w.mp4")))
    hold = 20  # one second at the family's 20 frames per second
    assert frames.shape == (HORIZON + 1 + hold, 64, 2 * 96, 3) == (result.frames, 64, 192, 3)
    assert result.returns.shape == result.shown.shape == (2,)
    last = frames[-1, 20:].astype(int)  # below the labels
    assert np.abs(last[:, :96] - last[:, 96:]).mean() > 0.5  # before vs after adaptation
    # The info terms' means per step account for the mean return (no early ends, horizon steps).
    terms = result.terms
    assert {"x_velocity", "reward_forward", "reward_ctrl"} <= set(terms)
    np.testing.assert_allclose(terms["reward_forward"], terms["x_velocity"])  # direction +1
    per_step = terms["reward_forward"] + terms["reward_ctrl"]
    np.testing.assert_allclose(result.returns, per_step * HORIZON, rtol=1e-4)

    out = tmp_path / "w.gif"
    assert main(["watch", str(cheetah_run), "--out", str(out), "--layout", "sequence",
                 "--steps", "1", "--width", "64", "--height", "48"]) == 0  # fmt: skip
    assert iio.imread(out, index=0).shape == (48, 64, 3)
    assert iio.immeta(out)["loop"] == 0
    assert "mean per step: " in capsys.readouterr().out


def test_watch_navigation_png_and_gif(nav_run, tmp_path):
    result = watch(nav_run, {"goal": [0.3, -0.2]}, steps=2, out=tmp_path / "nav.gif")
    assert result.out == [tmp_path / "nav.png", tmp_path / "nav.gif"]
    assert result.returns.shape == (3,) and result.shown is None
    png = iio.imread(tmp_path / "nav.png")
    assert png.ndim == 3 and len(np.unique(png.reshape(-1, png.shape[-1]), axis=0)) > 10
    gif = iio.imread(tmp_path / "nav.gif", index=None)
    assert len(gif) > 2 and not np.array_equal(gif[0], gif[-1])  # the trajectories grow


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "velocity"], "expected KEY=VALUE"),
        (["--task", "velocity=fast"], "must be numbers"),
        (["--task", "velocity=1.5"], "HalfCheetahDir-v0 tasks, which take direction"),
        (["--out", "x.avi"], "can be written as .mp4, .gif, .png, not .avi"),
        (["--layout", "grid"], "--layout: must be one of side, sequence"),
        (["--seed", "-1"], "--seed: must be >= 0, got -1"),
        (["--steps", "-1"], "--steps: must be >= 0, got -1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cheetah_run, tmp_path, capsys, args, message):
    assert main(["watch", str(cheetah_run), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (cheetah_run / "watch.mp4").exists()


def test_missing_run_dir_wrong_nav_suffix_and_live_without_display(
    nav_run, tmp_path, capsys, monkeypatch
):
    assert main(["watch", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["watch", str(nav_run), "--out", "x.mp4"]) == 2
    assert "can be written as .png, .gif, not .mp4" in capsys.readouterr().err
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["watch", str(nav_run), "--live"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--live needs a display" in err[0]
