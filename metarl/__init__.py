"""metarl: meta-reinforcement learning with MAML-TRPO on Gymnasium and MuJoCo.

The public API::

    import metarl
    config = metarl.load_config("experiments/navigation2d.yaml", ["iterations=50"])
    run_dir = metarl.train(config, "runs/nav")
    report = metarl.evaluate(run_dir)                      # 0..3-step returns on held-out tasks
    learner = metarl.load_learner(run_dir)
    result = metarl.adapt_to_tasks(learner, [{"goal": [0.3, -0.2]}], steps=1, episodes=20)

Importing metarl registers the task families (``metarl/<Name>-v0``) with Gymnasium.
"""

from metarl import envs  # noqa: F401  (registers the families)
from metarl.config import Config, ConfigError, load_config
from metarl.evaluate import Adaptation, adapt_to_tasks, evaluate
from metarl.trainer import Learner, load_learner, make_learner, meta_iteration, train

__all__ = [
    "Adaptation",
    "Config",
    "ConfigError",
    "Learner",
    "adapt_to_tasks",
    "evaluate",
    "load_config",
    "load_learner",
    "make_learner",
    "meta_iteration",
    "train",
]
