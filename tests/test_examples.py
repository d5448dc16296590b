"""The example scripts in experiments/ run as documented (with few iterations)."""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import metarl

ROOT = Path(__file__).resolve().parents[1]


def run(script, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / "experiments" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )


def test_custom_family_example_trains_and_evaluates(tmp_path):
    out = run("custom_family.py", "--iterations", "2", "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "after 2 gradient steps" in out.stdout
    assert (tmp_path / "r" / "evaluation.json").exists()


def test_custom_mujoco_family_example_trains_and_evaluates(tmp_path):
    out = run("custom_mujoco_family.py", "--iterations", "1", "--horizon", "20",
              "--run-dir", str(tmp_path / "r"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "after 2 gradient steps" in out.stdout
    report = json.loads((tmp_path / "r" / "evaluation.json").read_text())
    assert report["family"] == "example/HopperVel-v0" and len(report["mean_return"]) == 3


def test_navigation_api_example(tmp_path):
    out = run("train_navigation.py", "--iterations", "1", "--run-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "goal [0.3, -0.2]: return" in out.stdout and "after 2 steps" in out.stdout


def test_checkpoint_selection_uses_validation_tasks(tmp_path):
    import metarl

    config = metarl.load_config(None, ["iterations=2", "checkpoint_every=1", "meta_batch=3",
                                       "episodes=3", "policy.hidden=[8]", "eval.tasks=3",
                                       "eval.episodes=2", "eval.steps=1", "threads=1"])  # fmt: skip
    run_dir = metarl.train(config, tmp_path / "r", progress=False)
    out = run("evaluate_checkpoints.py", str(run_dir), "--every", "1")
    assert out.returncode == 0, out.stderr
    report = json.loads((run_dir / "checkpoint_selection.json").read_text())
    assert set(report["validation"]) == {"iter_000001", "iter_000002"}
    assert report["chosen"] in report["validation"]
    assert report["test"]["seed"] == 1 and report["validation_seed"] == 2
    assert len(report["test"]["mean_return"]) == 2 and report["baseline"] == "own"
    out = run(
        "evaluate_checkpoints.py", str(run_dir), "--every", "2", "--baseline", "rllab",
        "--output", "selection_rllab.json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads((run_dir / "selection_rllab.json").read_text())
    assert report["baseline"] == "rllab" and report["chosen"] == "iter_000002"
    for flag, value, message in [
        ("--first-scale", "-1", "--first-scale: must be >= 0"),
        ("--validation-seed", "-2", "--validation-seed: must be >= 0, got -2"),
        ("--test-seed", "-3", "--test-seed: must be >= 0, got -3"),
    ]:
        out = run("evaluate_checkpoints.py", str(run_dir), flag, value, "--output", "bad.json")
        assert out.returncode == 2 and message in out.stderr, out.stderr
    assert not (run_dir / "bad.json").exists()


def test_curvature_and_random_init_experiments_report_every_variant(tmp_path):
    import metarl

    tiny = ["meta_batch=4", "episodes=3", "policy.hidden=[8]", "threads=1"]
    config = metarl.load_config(None, ["iterations=1", *tiny])
    run_dir = metarl.train(config, tmp_path / "r", progress=False)
    out = run("curvature_step_quality.py", str(run_dir), "--batches", "1")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["rows"]) == len(result["means"]) == 4
    assert all(r["kl"] > 0 and 0 < r["step_fraction"] <= 1 for r in result["rows"])

    preset = str(ROOT / "experiments" / "navigation2d.yaml")
    args = ["--seeds", "2", *(f"--set={o}" for o in [*tiny, "eval.tasks=3", "eval.episodes=2"])]
    out = run("random_init_adaptation.py", preset, "--lr", "0.5", *args)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    first, second = (r["mean_return"] for r in result["runs"])
    assert len(first) == 4 and first != second  # eval.steps + 1 figures per initialisation
    assert "paper random_init:" in out.stdout
    # Given tasks: every (initialisation, task) return is reported, and the summary is their mean.
    goals = tmp_path / "goals.json"
    goals.write_text(json.dumps({"tasks": [{"goal": [0.1, -0.3]}, {"goal": [-0.4, 0.2]}]}))
    out = run("random_init_adaptation.py", preset, "--task-file", str(goals), *args)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    returns = np.array([r["task_returns"] for r in result["runs"]])  # [seeds, steps + 1, tasks]
    assert returns.shape == (2, 4, 2) and result["task_file"] == str(goals)
    summary = next(line for line in out.stdout.splitlines() if line.startswith("mean of 2"))
    printed = [float(x) for x in summary.split()[-4:]]
    np.testing.assert_allclose(printed, returns.mean((0, 2)), atol=0.01)
    goals.write_text(json.dumps({"tasks": [{"goal": [0.1]}]}))
    out = run("random_init_adaptation.py", preset, "--task-file", str(goals), *args)
    assert out.returncode == 2 and "random init, seed" not in out.stdout
    assert f"--task-file {goals}, task 0" in out.stderr.splitlines()[-1]


def test_swap_adaptation_data_splits_each_windows_decline(tmp_path):
    import metarl

    config = metarl.load_config(None, ["iterations=2", "checkpoint_every=1", "meta_batch=3",
                                       "episodes=3", "policy.hidden=[8]", "threads=1"])  # fmt: skip
    run_dir = metarl.train(config, tmp_path / "r", progress=False)
    args = ["--tasks", "4", "--repeats", "2", "--threads", "1"]
    out = run("swap_adaptation_data.py", str(run_dir), "--checkpoints", "iter_000001",
              "iter_000002", "latest", *args)  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    moved, same = report["windows"]
    returns = np.array(moved["returns"])  # [repeats, data of, adapted by, tasks]
    assert returns.shape == (2, 2, 2, 4) and len(report["tasks"]) == 4
    j = returns.mean(0)
    np.testing.assert_allclose(moved["summary"]["decline"][0], (j[1, 1] - j[0, 0]).mean())
    np.testing.assert_allclose(
        moved["summary"]["adaptation"][0] + moved["summary"]["data"][0],
        moved["summary"]["decline"][0],
    )
    assert min(moved["kl"]) > 0 and not np.allclose(j[0, 0], j[0, 1])
    # latest is iter_000002: under common seeds every cell is the same, every term exactly 0
    same_returns = np.array(same["returns"])
    assert (same_returns == same_returns[:, :1, :1]).all() and same["kl"] == [0.0, 0.0]
    assert all(same["summary"][k][0] == 0 for k in ("decline", "adaptation", "data"))
    for name in ("decline", "adaptation", "data"):
        assert report["sums"][name][0] == pytest.approx(moved["summary"][name][0], abs=1e-9)
    out = run("swap_adaptation_data.py", str(run_dir), "--checkpoints", "iter_000001", *args)
    assert out.returncode == 2 and "two or more" in out.stderr
    out = run("swap_adaptation_data.py", str(run_dir), "--checkpoints", "iter_000001",
              "iter_000009", *args)  # fmt: skip
    assert out.returncode == 2 and "no checkpoint at" in out.stderr.splitlines()[-1]
    assert "window" not in out.stdout


def test_goal_relabelling_gives_one_batch_every_goal(tmp_path):
    vel = "experiments/results/halfcheetah_vel_rerun:iter_000420"
    args = ["--goals", "0.0", "1.5", "2.0", "--repeats", "2", "--threads", "1"]
    out = run("goal_relabelling.py", vel, *args, "--out", str(tmp_path / "r.json"),
              "--plot", str(tmp_path / "r.png"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r.png").stat().st_size > 0
    result = json.loads((tmp_path / "r.json").read_text())[vel]
    assert result["max_relabel_error"] < 1e-5  # at the batch's own goal: the env's rewards
    mean = result["mean"]
    assert all(len(mean[k]) == 3 for k in ("above", "cos_last", "norm", "speed", "return"))
    assert mean["above"][0] > 0.9 and mean["above"][0] >= mean["above"][1] >= mean["above"][2]
    assert mean["cos_last"][2] == pytest.approx(1.0) and mean["cos_last"][0] < 0
    q = list(result["speed_quantiles"].values())
    assert q == sorted(q) and result["episode_speed_sd"] > 0
    nav = "experiments/results/navigation2d_rerun/exact:iter_000500"
    for spec, message in [(nav, "needs a velocity family"), ("no_colon", "RUN_DIR:CHECKPOINT")]:
        out = run("goal_relabelling.py", vel, spec, *args)
        assert out.returncode == 2 and message in out.stderr.splitlines()[-1], out.stderr
        assert "goal" not in out.stdout
    out = run("goal_relabelling.py", vel, "--repeats", "1")
    assert out.returncode == 2 and "--repeats: at least 2" in out.stderr
    out = run("goal_relabelling.py", vel, *args, "--plot", str(tmp_path / "no" / "r.png"))
    assert out.returncode == 2 and "its folder does not exist" in out.stderr


def test_oracle_policy_is_the_task_appended_to_the_observation(monkeypatch):
    # Folding the task into the first layer's bias must be the policy that observes [s, z].
    import torch

    from metarl.policy import GaussianMLP

    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    import oracle_trpo

    tasks = [{"goal": [0.3, -0.2]}, {"goal": [-0.1, 0.4]}, {"goal": [0.0, 0.5]}]
    z = oracle_trpo.task_features(tasks)
    torch.testing.assert_close(z, torch.tensor([[0.3, -0.2], [-0.1, 0.4], [0.0, 0.5]]))
    wide = GaussianMLP(obs_dim=5 + 2, act_dim=2, hidden=(6, 4))
    params = wide.init_params(torch.Generator().manual_seed(0))
    params["layers.0.bias"] = torch.randn(6)
    narrow = GaussianMLP(obs_dim=5, act_dim=2, hidden=(6, 4))
    split = dict(params, **{"layers.0.weight": params["layers.0.weight"][:, :5]})
    w_z = params["layers.0.weight"][:, 5:]
    obs = torch.randn(3, 7, 5)  # [N tasks, M samples, obs_dim]
    observed = torch.cat([obs, z.unsqueeze(1).expand(3, 7, 2)], -1)
    expected = wide.distribution(observed, params).mean
    folded = narrow.distribution(obs, oracle_trpo.oracle_params(split, w_z, z)).mean
    torch.testing.assert_close(folded, expected)


def test_oracle_experiment_trains_resumes_and_reports(tmp_path):
    from metarl.plots import paper_results

    preset = str(ROOT / "experiments" / "navigation2d.yaml")
    tiny = ["--set=policy.hidden=[8]", "--set=eval.tasks=3", "--set=eval.episodes=2"]
    args = [preset, "--out", str(tmp_path), "--tasks", "3", "--episodes", "2", *tiny]
    out = run("oracle_trpo.py", *args, "--iterations", "2", "--save-every", "1")
    assert out.returncode == 0, out.stderr
    out = run("oracle_trpo.py", *args, "--iterations", "3", "--save-every", "1")
    assert out.returncode == 0, out.stderr
    assert "resuming from iteration 2" in out.stdout
    rows = (tmp_path / "progress.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    report = json.loads((tmp_path / "oracle.json").read_text())
    assert report["iterations"] == 3 and len(report["per_task"]) == 3
    assert (tmp_path / "oracle.png").stat().st_size > 0
    assert report["paper_oracle"] == paper_results("metarl/Navigation2D-v0")["oracle"]
    # Other settings on the same folder: refused in one line, the saved state left alone.
    saved = (tmp_path / "state.pt").read_bytes()
    other = [*args[:-3], "--set=policy.hidden=[16]", *tiny[1:]]
    out = run("oracle_trpo.py", *other, "--iterations", "4")
    assert out.returncode != 0 and "trained with other settings" in out.stderr
    assert (tmp_path / "state.pt").read_bytes() == saved


def test_merl_decoys_experiment_writes_every_figure(tmp_path):
    args = ["--seeds", "1", "--iterations", "2", "--set", "meta_batch=4", "--set", "episodes=6"]
    args += ["--set", "eval.tasks=3", "--set", "eval.episodes=4", "--out", str(tmp_path)]
    args += ["--runs", str(tmp_path / "runs")]
    out = run("merl_decoys.py", *args, "--conditions", "maml", "merl", "oracle")
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "results.json").read_text())
    assert set(report["per_seed"]) == {"maml", "merl", "oracle"}
    row = report["per_seed"]["merl"][0]
    assert {"true_success", "decoy_hit", "true_success_pre", "decoy_hit_pre"} <= set(row)
    assert 0 <= row["true_success"] <= 1 and 0 <= row["decoy_hit"] <= 1
    assert "gap_closed" in report and "| merl |" in out.stdout
    # A second call reuses the finished runs: same figures, no training.
    again = run("merl_decoys.py", *args, "--conditions", "maml", "merl", "oracle")
    assert json.loads((tmp_path / "results.json").read_text())["per_seed"] == report["per_seed"]
    assert again.returncode == 0


def test_benchmarks_run_and_end_with_their_json_line():
    out = run("benchmark_meta_iteration.py", "--iterations", "1", "--warmup", "0",
              "--only", "1/4 of the tasks, factored, 1 thread")  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    (variant,) = result["variants"].values()
    assert variant["seconds_iteration"] > 0 and "cpu_steal" in result

    out = run("benchmark_sampler.py", "--tasks", "2", "--episodes", "2", "--horizon", "5",
              "--repeats", "1", "--async-envs", "2",
              "--meta-iterations", "1", "--meta-warmup", "0")  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(v > 0 for v in result["env_steps_per_second"].values())
    assert set(result["ratios"]) == {"c_over_b", "c_over_max_d"} and "cpu_steal" in result
    (only,) = result["rounds"]  # one round: c/b is that round's c over its fastest (b)
    ceiling = max(v for k, v in only.items() if k.startswith("b_"))
    assert abs(only["c_sampler"] / ceiling - result["ratios"]["c_over_b"]) < 2e-3
    # The meta-iteration split: exact curvature and the presets' quarter, each against its target.
    splits = result["meta_iteration_seconds"]
    assert set(splits) == {"exact", "quarter_curvature"}
    assert result["meta_variants"]["quarter_curvature"] == ["trpo.curvature_tasks=0.25"]
    for name, split in splits.items():
        assert all(split[k] > 0 for k in ("sample", "adapt", "meta", "iteration"))
        met = split["adapt"] + split["meta"] <= split["sample"]
        assert result["meta_targets_met"][name] == met


def test_the_sampler_benchmark_replays_the_samplers_own_motion(monkeypatch):
    # Its raw loops (b) must step what the sampler (c) stepped: same initial states, same
    # clipped controls. Replayed through a plain mj_step loop, copy i reaches the velocities the
    # sampler observed.
    import mujoco
    import numpy as np
    import torch

    import metarl.sampler

    monkeypatch.syspath_prepend(str(ROOT / "experiments"))
    import benchmark_sampler as bench

    single = gym.make(bench.ENV_ID).unwrapped
    policy, params = bench.make_policy(single, 0)
    sampler = metarl.sampler.Sampler(bench.ENV_ID, 12, {"nthread": 1})
    seeds = np.arange(6) + 100
    tasks = single.sample_tasks(2, np.random.default_rng(0))
    eps = sampler.sample(policy, params, tasks, 3, seeds, torch.Generator().manual_seed(0))
    sampler.close()
    work = bench.policy_workload(single, seeds, eps)
    model, data = single.model, mujoco.MjData(single.model)
    for i in range(6):
        data.qpos[:], data.qvel[:] = work.qpos[i], work.qvel[i]
        mujoco.mj_forward(model, data)
        for t in range(11):
            data.ctrl[:] = work.controls[i, t]
            mujoco.mj_step(model, data, nstep=single.frame_skip)
        np.testing.assert_allclose(data.qvel, eps.obs[11, i, 8:17].numpy(), atol=1e-4)
    assert np.abs(work.controls).max() <= 1 and (np.abs(work.controls) == 1).any()


# The control step of the paper's rllab envs (Finn et al. 2017's code): the presets must match it.
PAPER_DT = {
    "metarl/HalfCheetahVel-v0": 0.01,
    "metarl/HalfCheetahDir-v0": 0.01,
    "metarl/AntVel-v2": 0.02,
    "metarl/AntDir-v2": 0.02,
}


@pytest.mark.parametrize(
    "preset", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.name
)
def test_presets_load_and_build_a_clean_env(preset):
    config = metarl.load_config(preset)
    env = gym.make(config.env, **config.env_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
    if config.env in PAPER_DT:
        assert env.unwrapped.dt == pytest.approx(PAPER_DT[config.env])


@pytest.mark.parametrize(
    "preset", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.name
)
def test_presets_train_a_tiny_iteration(preset, tmp_path):
    # Everything but the batch sizes stays the preset's (threads, model, features), so a preset
    # that hangs or fails on its first iteration (as the Ant presets once did in the baseline's
    # solve at 2 threads) fails here.
    out = subprocess.run(
        [sys.executable, "-m", "metarl.cli", "train", str(preset), "--run-dir", str(tmp_path / "r"),
         "--iterations", "1", "--no-progress",
         *(f"--set={o}" for o in ["meta_batch=2", "episodes=2", "horizon=5"])],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "r" / "progress.csv").read_text().splitlines()) == 2


PAPER_TEST_TASKS = {
    # file: (key, the authors' test script's draw after np.random.seed(1) -> our task values)
    "navigation2d_paper_test_goals.json": ("goal", lambda r: r.uniform(-0.5, 0.5, (40, 2))),
    "halfcheetah_vel_paper_test_goals.json": ("velocity", lambda r: r.uniform(0.0, 2.0, 40)),
    "halfcheetah_dir_paper_test_goals.json": (
        "direction",
        lambda r: np.where(r.uniform(0.0, 2.0, 40) < 1.0, -1.0, 1.0),
    ),
}


@pytest.mark.parametrize("name", PAPER_TEST_TASKS)
def test_paper_test_tasks_are_the_authors_draw(name):
    """The task files in experiments/ hold the tasks of the authors' test scripts
    (cbfinn/maml_rl, maml_examples/test_maml_*.py), bit for bit."""
    key, draw = PAPER_TEST_TASKS[name]
    content = json.loads((ROOT / "experiments" / name).read_text())
    values = np.array([task[key] for task in content["tasks"]])
    np.testing.assert_array_equal(values, draw(np.random.RandomState(1)))


SCRIPTS = sorted(
    p.name for p in (ROOT / "experiments").glob("*.py") if '__name__ == "__main__"' in p.read_text()
)


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_help_prints_usage(script):
    # argparse formats help with %-interpolation: a bare "%" in a help string breaks only -h
    out = run(script, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage:")
