"""The paper's "random initialisation" baseline: adapt an untrained policy to held-out tasks.

Finn et al. (2017, Figure 5) report, beside MAML, a randomly initialised policy adapted with the
same test protocol (their `maml_examples/test_maml_*.py`: 20 episodes per step, vanilla policy
gradient steps of α then α/2; the committed scripts use α = 0.5 for it). Nothing is
meta-learned, so the figure depends only on the environment (physics, reward, observation), the
policy's initialisation and the policy-gradient step: comparing ours with the paper's isolates
those from meta-training when our MAML falls short.

Run:  python experiments/random_init_adaptation.py experiments/halfcheetah_dir.yaml --lr 0.5
Prints the mean return (± standard error over tasks) after 0..steps gradient steps, with the
paper's random-initialisation and MAML rows, and a last line of JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import metarl
from metarl.evaluate import held_out_returns
from metarl.plots import paper_results
from metarl.trainer import make_learner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="a preset, e.g. experiments/halfcheetah_dir.yaml")
    parser.add_argument("--lr", type=float, default=0.5, help="α of the first step (α/2 after)")
    parser.add_argument("--seeds", type=int, default=1, help="policy initialisations (0, 1, ...)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    rows = []
    for seed in range(args.seeds):
        overrides = [f"inner.lr={args.lr}", f"seed={seed}", *args.set]
        config = metarl.load_config(args.config, overrides)
        ev = config.eval
        mean, se = held_out_returns(make_learner(config), ev.tasks, ev.steps, ev.episodes, ev.seed)
        rows.append({"seed": seed, "mean_return": mean.tolist(), "stderr": se.tolist()})
        cells = "  ".join(f"{m:8.2f} ± {s:5.2f}" for m, s in zip(mean, se, strict=True))
        print(f"random init, seed {seed}, α = {args.lr}:  {cells}", flush=True)
    family = paper_results(config.env)
    if family is not None:
        for name in ("random_init", "maml"):
            print(f"paper {name}:" + "".join(f"{x:18.2f}" for x in family[name]))
    print(json.dumps({"config": str(args.config), "lr": args.lr, "set": args.set, "runs": rows}))


if __name__ == "__main__":
    main()
