import pytest

from metarl.config import (
    Config,
    ConfigError,
    EvalConfig,
    apply_overrides,
    from_dict,
    load_config,
    override_eval,
)


def test_defaults_are_the_papers_navigation_settings():
    c = load_config()
    assert c == Config()
    assert (c.meta_batch, c.episodes, c.inner.lr, c.trpo.max_kl, c.trpo.cg_iters) == (
        20,
        20,
        0.1,
        0.01,
        10,
    )


def test_overrides_are_parsed_as_yaml_and_validated():
    c = load_config(None, ["inner.lr=0.5", "policy.hidden=[64, 64]", "horizon=null", "seed=3"])
    assert c.inner.lr == 0.5 and c.policy.hidden == [64, 64] and c.seed == 3
    # YAML 1.1 reads 1e-5 without a dot as a string; float fields take it as a number.
    assert load_config(None, ["trpo.cg_damping=1e-5"]).trpo.cg_damping == 1e-5


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["trpo.max_kl=0"], "trpo.max_kl: must be > 0"),
        (["inner.lr=-1"], "inner.lr: must be > 0"),
        (["horizon=0"], "horizon: must be >= 1"),
        (["meta_batch=0"], "meta_batch: must be >= 1"),
        (["inner.lr=fast"], "inner.lr: expected float"),
        (["iterations=2.5"], "iterations: expected int"),
        (["inner.first_order=1"], "inner.first_order: expected bool"),
        (["trpo.max_k=0.1"], "unknown key trpo.max_k"),
        (["env=metarl/Nope-v0"], "env: 'metarl/Nope-v0' is not a registered Gymnasium id"),
        (["inner.learn_lr=always"], "inner.learn_lr: must be one of"),
        (["inner.loss=dice"], "inner.loss: must be reinforce or lvc, got 'dice'"),
        (
            ["inner.loss=lvc", "inner.first_order=true"],
            "inner.loss: must be reinforce when inner.first_order is set",
        ),
        (["aux.optimizer=rmsprop"], "aux.optimizer: must be adam or sgd, got 'rmsprop'"),
        (["aux.weight_decay=-0.1"], "aux.weight_decay: must be >= 0, got -0.1"),
        (["aux.weight_decay=lots"], "aux.weight_decay: expected float"),
        (["aux.gate=-1"], "aux.gate: must be >= 0, got -1.0"),
        (["eval.seed=-1"], "eval.seed: must be >= 0, got -1"),
        (
            ["aux.enabled=true", "aux.gate=3", "meta_batch=1"],
            "meta_batch: must be >= 2 with aux.gate",
        ),
        (["lr"], "expected key=value"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(None, overrides)


def test_unknown_top_level_key_and_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown key colour"):
        from_dict({"colour": "red"})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("inner: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_apply_overrides_does_not_mutate_its_input():
    data = {"inner": {"lr": 0.1}}
    assert apply_overrides(data, ["inner.lr=0.2"]) == {"inner": {"lr": 0.2}}
    assert data == {"inner": {"lr": 0.1}}


def test_override_eval_checks_the_given_values_and_names_their_flags():
    ev = EvalConfig(episodes=20)
    new = override_eval(ev, first_scale=2, steps=None, seed=5, batch="samples")
    assert (new.first_scale, new.seed, new.batch) == (2, 5, "samples")
    assert (new.steps, new.episodes) == (ev.steps, 20)  # None and unnamed keep the run's value
    assert ev == EvalConfig(episodes=20)  # the run's eval config is not changed
    for values, message in [
        ({"first_scale": -1.0}, "--first-scale: must be >= 0, got -1.0"),
        ({"tasks": 0}, "--tasks: must be >= 1, got 0"),
        ({"seed": -3}, "--seed: must be >= 0, got -3"),
        ({"batch": "steps"}, "--batch: must be episodes or samples, got 'steps'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            override_eval(ev, **values)
