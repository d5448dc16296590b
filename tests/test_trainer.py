"""A short meta-training run on 2D navigation improves the adapted policy."""

import csv
import json
import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from metarl.envs.navigation2d import Navigation2DEnv

import metarl
from metarl import trainer
from metarl.config import ConfigError
from metarl.evaluate import adapt_to_tasks, reseed
from metarl.trainer import load_learner
from metarl.trpo import flat_grad, hessian_vector_product

SMALL = [
    "meta_batch=10",
    "episodes=10",
    "policy.hidden=[32, 32]",
    "threads=1",
    "checkpoint_every=5",
]


def post_adaptation_return(learner, seed=7):
    reseed(learner, seed)
    tasks = learner.family.sample_tasks(10, learner.rng)
    return adapt_to_tasks(learner, tasks, steps=1, episodes=10).returns[1].mean()


def test_short_training_raises_the_post_adaptation_return(tmp_path):
    config = metarl.load_config(None, SMALL + ["iterations=10"])
    before = post_adaptation_return(metarl.make_learner(config))
    run_dir = metarl.train(config, tmp_path / "run", progress=False)
    after = post_adaptation_return(load_learner(run_dir))
    # Random init scores about -50 after one step on these tasks; 10 meta-iterations gain >10.
    assert after > before + 10, (before, after)

    with open(run_dir / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 11))
    assert all(float(r["kl"]) <= 0.01 for r in rows)
    assert all(float(r["time_meta"]) > 0 for r in rows)
    # σ of the policy that sampled: init_std at first, then the previous meta-step's θ.
    assert float(rows[0]["std_pre"]) == pytest.approx(1.0)
    theta5 = load_learner(run_dir, "iter_000005").params
    assert float(rows[5]["std_pre"]) == pytest.approx(theta5["log_std"].exp().mean().item())
    assert all(float(r["std_post"]) != float(r["std_pre"]) for r in rows)  # the inner step moves σ
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "iter_000005.pt",
        "iter_000010.pt",
        "latest.pt",
    ]
    assert (run_dir / "config.yaml").exists()
    assert any(p.name.startswith("events.out.tfevents") for p in run_dir.iterdir())


def test_resume_continues_where_the_checkpoint_left(tmp_path):
    config = metarl.load_config(
        None, SMALL + ["iterations=4", "checkpoint_every=2", "keep_checkpoints=1"]
    )
    straight = metarl.train(config, tmp_path / "a", progress=False)
    config.iterations = 2
    half = metarl.train(config, tmp_path / "b", progress=False)
    config.iterations = 4
    resumed = metarl.train(config, half, resume=True, progress=False)

    def returns(run):
        with open(run / "progress.csv") as f:
            return np.array(
                [[float(r["return_pre"]), float(r["return_post"])] for r in csv.DictReader(f)]
            )

    np.testing.assert_allclose(returns(resumed), returns(straight), rtol=1e-5)
    assert sorted(p.name for p in (resumed / "checkpoints").iterdir()) == [
        "iter_000004.pt",
        "latest.pt",
    ]
    # One provenance line per start: the fresh run, then the resume from iteration 2.
    lines = (resumed / "provenance.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["from_iteration"] for r in records] == [0, 2]
    assert all(r["versions"]["torch"] == torch.__version__ for r in records)
    assert all(r["commit"] is None or len(r["commit"]) >= 40 for r in records)


def test_zero_iterations_writes_the_start_and_a_resume_trains_from_it(tmp_path):
    config = metarl.load_config(None, SMALL + ["iterations=0", "seed=4"])
    start = metarl.train(config, tmp_path / "start", progress=False)
    assert sorted(p.name for p in (start / "checkpoints").iterdir()) == [
        "iter_000000.pt",
        "latest.pt",
    ]
    saved = load_learner(start, "iter_000000")
    fresh = metarl.make_learner(config)
    assert saved.iteration == 0 and saved.env_steps == 0
    for k, v in fresh.params.items():
        assert torch.equal(v, saved.params[k]), k
    assert (start / "progress.csv").read_text().count("\n") == 1  # the header only

    config.iterations = 2
    straight = metarl.train(config, tmp_path / "straight", progress=False)
    resumed = metarl.train(config, start, resume=True, progress=False)
    with open(straight / "progress.csv") as a, open(resumed / "progress.csv") as b:
        rows_a, rows_b = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert [r["return_post"] for r in rows_a] == [r["return_post"] for r in rows_b]
    assert len(rows_b) == 2


def test_resume_to_fewer_iterations_than_the_run_has_is_refused(tmp_path):
    config = metarl.load_config(None, SMALL + ["iterations=2"])
    run = metarl.train(config, tmp_path / "run", progress=False)
    before = (run / "checkpoints" / "latest.pt").read_bytes()
    config.iterations = 1
    with pytest.raises(ConfigError, match="iterations: 1 is below the run's 2 in .*latest.pt"):
        metarl.train(config, run, resume=True, progress=False)
    assert (run / "checkpoints" / "latest.pt").read_bytes() == before


def test_same_seed_and_config_give_identical_progress(tmp_path):
    config = metarl.load_config(None, SMALL + ["iterations=3", "seed=5"])
    runs = [metarl.train(config, tmp_path / name, progress=False) for name in ("a", "b")]

    def metrics(run):
        with open(run / "progress.csv") as f:
            return [
                {k: v for k, v in r.items() if not k.startswith("time_")} for r in csv.DictReader(f)
            ]

    assert metrics(runs[0]) == metrics(runs[1])
    other = metarl.train(
        metarl.load_config(None, SMALL + ["iterations=1", "seed=6"]), tmp_path / "c", progress=False
    )
    assert metrics(other)[0] != metrics(runs[0])[0]


def test_training_survives_an_unstable_environment(tmp_path):
    import test_sampler  # noqa: F401  (registers metarl-test/Unstable-v0)

    config = metarl.load_config(
        None, SMALL + ["iterations=2", "env=metarl-test/Unstable-v0", "horizon=10"]
    )
    run = metarl.train(config, tmp_path / "run", progress=False)
    with open(run / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(int(r["nonfinite_episodes"]) > 0 for r in rows)
    learner = load_learner(run)
    assert all(torch.isfinite(v).all() for v in learner.params.values())


def test_task_chunks_change_speed_not_results(monkeypatch):
    """The meta-objective, its gradient and the KL's Hessian-vector product per chunk size."""
    seen = []

    def record(params, objective, **kwargs):
        loss, kl = objective(True)
        grad = flat_grad(loss, params, retain_graph=True)
        v = torch.linspace(-1, 1, grad.numel())
        seen.append((loss.item(), grad, hessian_vector_product(kl, params)(v)))
        return trainer.TRPOStats(0, 0, 0, 0, False, 0, 0)

    monkeypatch.setattr(trainer, "trpo_step", record)
    for chunk in ("null", "3", "1"):
        config = metarl.load_config(None, SMALL + [f"trpo.task_chunk={chunk}", "meta_batch=7"])
        metarl.meta_iteration(metarl.make_learner(config))
    (loss, grad, hvp), *others = seen
    for other_loss, other_grad, other_hvp in others:
        assert other_loss == pytest.approx(loss, rel=1e-5, abs=1e-8)
        torch.testing.assert_close(other_grad, grad, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(other_hvp, hvp, rtol=1e-4, atol=1e-6)


def budget_batch(budget, tasks, params=None):
    """``trainer.collect``'s batch of 4 episodes per task (horizon 10) with ``budget``."""
    config = metarl.load_config(
        None, ["episodes=4", "horizon=10", "policy.hidden=[8]", "threads=1"]
    )
    learner = metarl.make_learner(config)
    reseed(learner, 3)
    return trainer.collect(learner, params or learner.params, tasks, 4, budget)


def test_pooled_budget_batches_equal_episode_batches_when_no_episode_ends_early():
    # Goals 10 away cannot be reached in 10 steps of at most 0.1: each task's env runs 4
    # episodes to the limit, which are the first round's.
    tasks = [{"goal": [10.0, 10.0]}, {"goal": [-10.0, 5.0]}]
    fixed, pooled = budget_batch(None, tasks), budget_batch("pooled", tasks)
    torch.testing.assert_close(pooled.obs, fixed.obs)
    torch.testing.assert_close(pooled.advantages, fixed.advantages)


def test_pooled_budget_batches_run_each_tasks_env_until_the_budget_of_all_tasks():
    # A policy that stands still: started on its goal an episode ends after one step, 10 away
    # it runs to the limit. One env per task, stopped together once the ended episodes hold
    # 2 tasks x 4 episodes x 10 steps: at step 40, with 40 episodes on task 0 and 4 on task 1.
    learner = metarl.make_learner(metarl.load_config(None, ["policy.hidden=[8]"]))
    still = {
        k: torch.full_like(v, -30.0 if k == "log_std" else 0.0) for k, v in learner.params.items()
    }
    eps = budget_batch("pooled", [{"goal": [0.0, 0.0]}, {"goal": [10.0, 10.0]}], still)
    lengths = eps.lengths.reshape(2, -1)
    assert eps.episodes_per_task == 40
    assert (lengths[0] == 1).all() and eps.terminated[:40].all()
    assert (lengths[1, :4] == 10).all() and (lengths[1, 4:] == 0).all()  # then padding
    assert eps.task_returns()[1] == eps.returns[40:44].mean()  # the padding left out


def test_training_on_sample_budget_batches(tmp_path):
    config = metarl.load_config(None, SMALL + ["iterations=2", "batch=samples"])
    run_dir = metarl.train(config, tmp_path / "run", progress=False)
    with open(run_dir / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for row in rows:
        assert np.isfinite([float(row[k]) for k in ("return_pre", "return_post", "kl")]).all()
        assert float(row["kl"]) <= 0.01


class _TaskList(Navigation2DEnv):
    def sample_tasks(self, n, rng):  # one task too few
        return super().sample_tasks(n - 1, rng)


class _TaskArrays(Navigation2DEnv):
    def sample_tasks(self, n, rng):  # tasks as arrays, not dicts
        return [task["goal"] for task in super().sample_tasks(n, rng)]


class _DiscreteActions(Navigation2DEnv):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.action_space = gym.spaces.Discrete(4)


class _NoTaskAttribute(Navigation2DEnv):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        del self.task


@pytest.mark.parametrize(
    "family, message",
    [
        (_TaskList, "sample_tasks(2, rng) returned 1 tasks, not a list of 2"),
        (_TaskArrays, "tasks must be dicts, sample_tasks returned ['ndarray']"),
        (_DiscreteActions, "has a Discrete action space; metarl's Gaussian policy needs Box"),
        (_NoTaskAttribute, "is not a task family (it has no task attribute)"),
    ],
)
def test_a_family_that_breaks_the_contract_is_refused_before_any_work(tmp_path, family, message):
    env = f"metarl-test/{family.__name__[1:]}-v0"
    gym.register(id=env, entry_point=family, max_episode_steps=10)
    with pytest.raises(ConfigError) as e:
        metarl.train(metarl.Config(env=env, iterations=1), tmp_path / "run", progress=False)
    assert str(e.value).startswith(f"env: {env}") and message in str(e.value)
    assert not (tmp_path / "run").exists()


def test_init_from_starts_training_at_another_runs_parameters(tmp_path):
    source = metarl.train(
        metarl.load_config(None, SMALL + ["iterations=2"]), tmp_path / "source", progress=False
    )
    config = metarl.load_config(None, SMALL + ["iterations=1", "seed=3", f"init_from={source}"])
    expected = metarl.make_learner(config)
    trainer.warm_start(expected, config.init_from)
    saved = load_learner(source)
    for k, v in expected.params.items():
        assert torch.equal(v, saved.params[k]), k
    assert expected.iteration == 0 and expected.env_steps == 0
    first = trainer.meta_iteration(expected)

    run = metarl.train(config, tmp_path / "warm", progress=False)
    with open(run / "progress.csv") as f:
        (row,) = csv.DictReader(f)
    assert float(row["return_pre"]) == pytest.approx(first["return_pre"], rel=1e-6)
    cold = trainer.meta_iteration(metarl.make_learner(metarl.load_config(None, SMALL + ["seed=3"])))
    assert cold["return_pre"] != pytest.approx(first["return_pre"], rel=1e-3)
    assert metarl.load_config(run / "config.yaml").init_from == str(source)


def test_init_from_std_false_keeps_the_mean_and_resets_sigma(tmp_path):
    source = metarl.train(
        metarl.load_config(None, SMALL + ["iterations=2", "policy.init_std=0.5"]),
        tmp_path / "source",
        progress=False,
    )
    saved = load_learner(source).params
    config = metarl.load_config(None, SMALL + [f"init_from={source}", "init_from_std=false"])
    learner = metarl.make_learner(config)
    trainer.warm_start(learner, config.init_from)
    for k, v in learner.params.items():
        if k != "log_std":
            assert torch.equal(v, saved[k]), k
    assert not torch.allclose(saved["log_std"], torch.zeros_like(saved["log_std"]))
    assert torch.equal(learner.params["log_std"], torch.zeros_like(saved["log_std"]))  # σ 1.0
    with pytest.raises(ConfigError, match="^init_from_std: must be true unless init_from is set"):
        metarl.load_config(None, SMALL + ["init_from_std=false"])


def test_init_from_a_missing_or_mismatched_checkpoint_is_refused_before_any_work(tmp_path):
    other = metarl.train(
        metarl.load_config(None, SMALL + ["iterations=1", "policy.hidden=[16, 16]"]),
        tmp_path / "other",
        progress=False,
    )
    for source, message in [
        (tmp_path / "nowhere", "init_from: no checkpoint at"),
        (
            other,
            f"init_from: {other / 'checkpoints' / 'latest.pt'}'s parameters do not match the "
            "configured policy (metarl/Navigation2D-v0, hidden [32, 32]: layers.0.weight is "
            "[16, 2] in the checkpoint, [32, 2] for this config)",
        ),
    ]:
        config = metarl.load_config(None, SMALL + ["iterations=1", f"init_from={source}"])
        with pytest.raises(trainer.checkpoint.CheckpointError, match="^" + re.escape(message)):
            metarl.train(config, tmp_path / "run", progress=False)
        assert not (tmp_path / "run").exists()
