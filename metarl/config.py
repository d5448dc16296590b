"""The run configuration: typed dataclasses, YAML loading, ``key=value`` overrides, validation.

Defaults are the paper's 2D-navigation settings (Finn et al. 2017, appendix A.2). Every error
is a :class:`ConfigError` whose message names the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from metarl.adaptation import LEARN_LR
from metarl.objectives import INNER_LOSSES


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type or out of range."""


@dataclass
class PolicyConfig:
    hidden: list[int] = field(default_factory=lambda: [100, 100])
    activation: str = "relu"  # relu | tanh
    init_std: float = 1.0


@dataclass
class InnerConfig:
    lr: float = 0.1  # α, the inner step size
    steps: int = 1  # gradient steps, each on fresh rollouts
    first_order: bool = False  # drop the second-order term of the meta-gradient
    learn_lr: str = "none"  # none | scalar | layer | param: meta-learn α
    # Form of the inner loss (metarl/objectives.py: pg_loss): reinforce (the paper's) or lvc
    # (ProMP's low-variance curvature): the same inner step; lvc's Hessian adds the term of the
    # pre-update samples' dependence on θ to the meta-gradient and the KL's curvature.
    loss: str = "reinforce"


@dataclass
class ReturnsConfig:
    gamma: float = 0.99
    gae_lambda: float = 1.0
    normalize_advantages: bool = True
    bootstrap_truncated: bool = True  # value of the next state at a time limit, not 0
    baseline_ridge: float = 1e-5
    # Whose fit predicts task n's baseline: "own" (task n's episodes, as the authors' maml_rl
    # sampler: it fits a batch, then predicts it) or "previous_task" (task n-1's; task 0 takes
    # the last task's), as upstream rllab's sampler: it predicts a batch with the coefficients
    # fitted on the batch processed before it, then fits.
    baseline_fit: str = "own"


@dataclass
class TRPOConfig:
    max_kl: float = 0.01
    cg_iters: int = 10
    cg_damping: float = 1e-5
    ls_steps: int = 15
    ls_backtrack: float = 0.8
    # Fraction of the meta-batch's tasks whose KL gives the CG curvature; 1.0 is exact. The
    # mean KL is an average over tasks, so a random subset's Hessian is an unbiased estimate.
    curvature_tasks: float = 1.0
    # How CG's curvature products are computed. Two give the same Hessian-vector products:
    # factored = JᵀFJ through the inner steps (metarl/curvature.py, faster); double_backward =
    # autograd through the whole adaptation (factored falls back to it for a meta-learned α).
    # finite_difference = the MAML authors' code: central differences of the KL's gradient with
    # step 1/‖θ‖ along v, a secant rather than the Hessian (metarl/trpo.py:
    # finite_difference_product).
    hvp: str = "factored"
    # Tasks per batched graph in the meta-step (None: all at once). The same numbers for any
    # value; smaller chunks trade batching for memory locality (faster for large batches).
    task_chunk: int | None = None


@dataclass
class AuxConfig:
    """MeRL (Agarwal et al. 2019): a meta-learned auxiliary reward shaping the inner loop."""

    enabled: bool = False
    score: str = "linear"  # linear | mlp: the score s_φ(features)
    hidden: list[int] = field(default_factory=lambda: [32])  # the mlp's hidden layers
    weighting: str = "softmax"  # softmax | sigmoid (weights on successes) | additive (r + λ s)
    scale: float = 1.0  # λ of the additive weighting
    optimizer: str = "adam"  # adam | sgd: the optimizer of φ (sgd: plain, step = lr · ∇φ)
    lr: float = 0.01  # the optimizer's step size for φ
    # λ of a decoupled weight decay pulling φ back to its initialisation φ_0 (s_φ ≡ 0: plain
    # MAML): after each step φ ← φ - lr λ (φ - φ_0); see metarl/merl.py. 0: none.
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0  # clip ‖∇φ‖ to this (0: no clipping)
    # z of a significance test on φ's meta-gradient: a coordinate counts only where the mean over
    # the meta-batch's tasks exceeds z standard errors over the tasks (merl.significant_mean).
    # 0: off. Without it φ drifts with the noise where there is nothing to learn (README, MeRL).
    gate: float = 3.0
    features: str = "aux_features"  # info key: the trajectory's features [F] at each step
    success: str = "success"  # info key: > 0 at a step where the trajectory succeeded


@dataclass
class EvalConfig:
    tasks: int = 40  # held-out tasks
    steps: int = 3  # gradient steps; first_scale · α for the first, later_scale · α after
    # The first step's size as a multiple of α: 1, the paper's (other values measure whether
    # the meta-learned α suits the held-out tasks: results README, HalfCheetahVel by goal).
    first_scale: float = 1.0
    # The later steps' step size as a multiple of α: the paper's α/2. (The authors' AntDir test
    # script took 0.01; README, AntVel.)
    later_scale: float = 0.5
    episodes: int = 40  # per task per step
    seed: int = 1  # seed of the held-out task stream (independent of training)
    # The baseline of the adaptation steps: "own" (each step's own fit, as in training and as
    # the authors' test scripts with their maml_rl sampler) or "rllab" (those scripts run on
    # upstream rllab's predict-then-fit sampler: a fresh baseline per task predicts 0 for the
    # first step, and each later step predicts with the fit on the step before's episodes).
    baseline: str = "own"
    # Each step's batch: "episodes" (exactly `episodes` per task) or "samples" (the authors'
    # rllab sampler: `episodes` envs per task in lockstep, an ended episode followed by the
    # next, until the ended ones hold episodes x horizon steps; episodes that end early, e.g. at
    # the goal, then weigh more in the step and in the mean return).
    batch: str = "episodes"


EVAL_BASELINES = ("own", "rllab")  # the values of eval.baseline (also the CLIs' --baseline)
BATCHES = ("episodes", "samples")  # the values of batch and eval.batch (the CLIs' --batch)

# What a resumed run may change: how it runs, not what it learns (with `iterations`, its length).
# trpo.curvature_tasks only changes how well CG approximates the KL's curvature: the objective,
# the data and the trust region stay (a run can go on with the exact curvature, say).
RESUMABLE = ("threads", "checkpoint_every", "keep_checkpoints", "trpo.curvature_tasks")


@dataclass
class Config:
    env: str = "metarl/Navigation2D-v0"
    env_kwargs: dict = field(default_factory=dict)
    seed: int = 0
    iterations: int = 500  # meta-iterations (0: write the start, iter_000000.pt, and stop)
    meta_batch: int = 20  # tasks per meta-iteration
    episodes: int = 20  # per task, for each inner step and for the post-adaptation batch
    # Each training batch: "episodes" (exactly `episodes` per task) or "samples" (the authors'
    # training in one process, rllab's VectorizedSampler: one env per task, an ended episode
    # followed by the next, all tasks stopped together once the ended ones hold
    # meta_batch x episodes x horizon steps; README, "The command line").
    batch: str = "episodes"
    horizon: int | None = None  # None: the env's registered max_episode_steps
    threads: int | None = None  # torch intra-op threads; None: torch's default
    checkpoint_every: int = 10  # meta-iterations between checkpoints
    keep_checkpoints: int = 50  # periodic checkpoints kept (latest.pt is always kept)
    # info key of the task's true reward, for families whose env reward (the inner loop's) is
    # underspecified: the meta-objective, the logged returns and evaluation use it. None: reward.
    true_reward: str | None = None
    # A checkpoint (a .pt file, or a run folder: its checkpoints/latest.pt) whose θ starts
    # training instead of a random initialisation, e.g. a meta-policy of a related family with
    # the same observation and action sizes. α, the random streams and the counters start anew.
    init_from: str | None = None
    # Whether the warm start takes the action noise σ (log_std) from the checkpoint too; false:
    # σ = policy.init_std, as at a random initialisation, and only the mean's weights are copied.
    init_from_std: bool = True
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    inner: InnerConfig = field(default_factory=InnerConfig)
    returns: ReturnsConfig = field(default_factory=ReturnsConfig)
    trpo: TRPOConfig = field(default_factory=TRPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    aux: AuxConfig = field(default_factory=AuxConfig)


# (key, test, what is allowed) checked after types.
_RANGES = [
    ("seed", lambda c: c.seed >= 0, ">= 0"),
    ("iterations", lambda c: c.iterations >= 0, ">= 0"),
    ("meta_batch", lambda c: c.meta_batch >= 1, ">= 1"),
    ("episodes", lambda c: c.episodes >= 1, ">= 1"),
    ("batch", lambda c: c.batch in BATCHES, " or ".join(BATCHES)),
    ("horizon", lambda c: c.horizon is None or c.horizon >= 1, ">= 1 or null"),
    ("threads", lambda c: c.threads is None or c.threads >= 1, ">= 1 or null"),
    ("checkpoint_every", lambda c: c.checkpoint_every >= 1, ">= 1"),
    ("keep_checkpoints", lambda c: c.keep_checkpoints >= 1, ">= 1"),
    (
        "init_from_std",
        lambda c: c.init_from_std or c.init_from is not None,
        "true unless init_from is set (it resets a warm start's σ)",
    ),
    ("policy.hidden", lambda c: all(h >= 1 for h in c.policy.hidden), "a list of sizes >= 1"),
    ("policy.activation", lambda c: c.policy.activation in ("relu", "tanh"), "relu or tanh"),
    ("policy.init_std", lambda c: c.policy.init_std > 0, "> 0"),
    ("inner.lr", lambda c: c.inner.lr > 0, "> 0"),
    ("inner.steps", lambda c: c.inner.steps >= 1, ">= 1"),
    (
        "inner.learn_lr",
        lambda c: c.inner.learn_lr in LEARN_LR,
        "one of " + ", ".join(LEARN_LR),
    ),
    ("inner.loss", lambda c: c.inner.loss in INNER_LOSSES, " or ".join(INNER_LOSSES)),
    (
        "inner.loss",
        lambda c: c.inner.loss == "reinforce" or not c.inner.first_order,
        "reinforce when inner.first_order is set (lvc changes only ∇²L, which first order drops)",
    ),
    ("returns.gamma", lambda c: 0 < c.returns.gamma <= 1, "in (0, 1]"),
    ("returns.gae_lambda", lambda c: 0 <= c.returns.gae_lambda <= 1, "in [0, 1]"),
    ("returns.baseline_ridge", lambda c: c.returns.baseline_ridge > 0, "> 0"),
    (
        "returns.baseline_fit",
        lambda c: c.returns.baseline_fit in ("own", "previous_task"),
        "own or previous_task",
    ),
    ("trpo.max_kl", lambda c: c.trpo.max_kl > 0, "> 0"),
    ("trpo.cg_iters", lambda c: c.trpo.cg_iters >= 1, ">= 1"),
    ("trpo.cg_damping", lambda c: c.trpo.cg_damping >= 0, ">= 0"),
    ("trpo.ls_steps", lambda c: c.trpo.ls_steps >= 1, ">= 1"),
    ("trpo.ls_backtrack", lambda c: 0 < c.trpo.ls_backtrack < 1, "in (0, 1)"),
    ("trpo.curvature_tasks", lambda c: 0 < c.trpo.curvature_tasks <= 1, "in (0, 1]"),
    (
        "trpo.hvp",
        lambda c: c.trpo.hvp in ("factored", "double_backward", "finite_difference"),
        "factored, double_backward or finite_difference",
    ),
    (
        "trpo.task_chunk",
        lambda c: c.trpo.task_chunk is None or c.trpo.task_chunk >= 1,
        ">= 1 or null",
    ),
    ("aux.score", lambda c: c.aux.score in ("linear", "mlp"), "linear or mlp"),
    ("aux.hidden", lambda c: all(h >= 1 for h in c.aux.hidden), "a list of sizes >= 1"),
    (
        "aux.weighting",
        lambda c: c.aux.weighting in ("softmax", "sigmoid", "additive"),
        "one of softmax, sigmoid, additive",
    ),
    ("aux.optimizer", lambda c: c.aux.optimizer in ("adam", "sgd"), "adam or sgd"),
    ("aux.lr", lambda c: c.aux.lr >= 0, ">= 0"),
    ("aux.weight_decay", lambda c: c.aux.weight_decay >= 0, ">= 0"),
    ("aux.max_grad_norm", lambda c: c.aux.max_grad_norm >= 0, ">= 0"),
    ("aux.gate", lambda c: c.aux.gate >= 0, ">= 0"),
    (
        "meta_batch",
        lambda c: not (c.aux.enabled and c.aux.gate > 0) or c.meta_batch >= 2,
        ">= 2 with aux.gate > 0 (its test needs two tasks' gradients)",
    ),
    ("eval.tasks", lambda c: c.eval.tasks >= 1, ">= 1"),
    ("eval.steps", lambda c: c.eval.steps >= 0, ">= 0"),
    ("eval.seed", lambda c: c.eval.seed >= 0, ">= 0"),
    ("eval.episodes", lambda c: c.eval.episodes >= 1, ">= 1"),
    ("eval.first_scale", lambda c: c.eval.first_scale >= 0, ">= 0"),
    ("eval.later_scale", lambda c: c.eval.later_scale >= 0, ">= 0"),
    ("eval.baseline", lambda c: c.eval.baseline in EVAL_BASELINES, " or ".join(EVAL_BASELINES)),
    ("eval.batch", lambda c: c.eval.batch in BATCHES, " or ".join(BATCHES)),
]


def _check_type(key: str, value, hint):
    """``value`` converted to ``hint`` where lossless (int -> float), else ConfigError."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        (hint,) = [h for h in options if h is not type(None)]
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {hint.__name__} keys, got {value!r}")
        return _build(hint, value, key + ".")
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list of {item.__name__}, got {value!r}")
        return [_check_type(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        # YAML 1.1 reads 1e-5 (no dot) as a string; a float field takes it as the number it is.
        try:
            return float(value)
        except ValueError:
            pass
    expected = origin or hint
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {expected.__name__}, got {value!r}")
    return value


def _build(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        allowed = ", ".join(prefix + k for k in hints)
        raise ConfigError(f"unknown key {prefix}{unknown[0]} (allowed: {allowed})")
    return cls(**{k: _check_type(prefix + k, v, hints[k]) for k, v in data.items()})


def from_dict(data: dict) -> Config:
    """A validated Config from plain data (missing keys take their defaults)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of keys to values, got {data!r}")
    config = _build(Config, data)
    validate(config)
    return config


def to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)


def get_key(config: Config, key: str):
    """The value of the dotted ``key`` (``"trpo.max_kl"``) in ``config``."""
    return functools.reduce(getattr, key.split("."), config)


def set_key(config: Config, key: str, value) -> None:
    """Set the dotted ``key`` of ``config`` to ``value``, in place."""
    *path, name = key.split(".")
    setattr(functools.reduce(getattr, path, config), name, value)


def validate(config: Config) -> None:
    """Range checks, and that ``config.env`` is a registered Gymnasium id."""
    for key, ok, allowed in _RANGES:
        if not ok(config):
            raise ConfigError(f"{key}: must be {allowed}, got {get_key(config, key)!r}")
    registered_id(config.env)


def override_eval(config: EvalConfig, **values) -> EvalConfig:
    """``config`` with the given fields replaced (``None``: kept), range-checked as a config is.

    For the evaluation's command-line flags and keyword arguments (``first_scale=2.0``): an
    error names the flag (``--first-scale``) rather than the config key.
    """
    given = {key: value for key, value in values.items() if value is not None}
    checked = Config(eval=dataclasses.replace(config, **given))
    for key, ok, allowed in _RANGES:
        section, _, name = key.partition(".")
        if section == "eval" and name in given and not ok(checked):
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag}: must be {allowed}, got {given[name]!r}")
    return checked.eval


def registered_id(env: str) -> str:
    """The Gymnasium id of ``env``, importing ``module`` first for ``"module:Name-v0"`` ids.

    The ``module:`` prefix is Gymnasium's own way to name a family that registers on import,
    so runs of your own families can be resumed and evaluated from the command line.
    """
    import importlib

    import gymnasium as gym

    import metarl.envs  # noqa: F401  (registers the families)

    module, _, name = env.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ConfigError(f"env: cannot import {module!r} to register {name!r} ({e})") from None
    if name not in gym.registry:
        families = ", ".join(sorted(k for k in gym.registry if k.startswith("metarl/")))
        raise ConfigError(
            f"env: {env!r} is not a registered Gymnasium id (metarl families: {families}; "
            "your own: 'your.module:Name-v0')"
        )
    return name


def parse_override(text: str) -> tuple[list[str], object]:
    """``"inner.lr=0.5"`` -> (``["inner", "lr"]``, ``0.5``); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. inner.lr=0.5")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({e})") from None
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set each ``a.b=value`` into the nested mapping ``data`` (a copy is returned)."""
    data = yaml.safe_load(yaml.safe_dump(data))
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {part} is not a section")
        node[path[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (``None``: the defaults), apply ``overrides``, validate."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from None
    return from_dict(apply_overrides(data, overrides or []))


def save_config(config: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
