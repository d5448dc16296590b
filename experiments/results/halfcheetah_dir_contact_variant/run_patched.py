"""Diagnostic, not part of the package: `metarl` with HalfCheetahDir's contacts made stiffer and
twice as frictional, to test whether MAML's gain follows what a gradient step buys in the
simulator.

Every geom's contact impedance (`solimp`) is set to MuJoCo's default (0.9, 0.95, 0.001, 0.5, 2)
instead of the model's (0, 0.8, 0.01), and its sliding friction to 0.8 instead of 0.4. With
these, a randomly initialised policy gains +48.3 after one step of the test protocol (paper
+57.6, the unpatched model +33.1; plan.md beside this file).

Run:  python experiments/results/halfcheetah_dir_contact_variant/run_patched.py train|evaluate ...
(the arguments of `metarl`).
"""

import sys

import metarl.envs.mujoco_family as family

from metarl.cli import main

_init = family.MujocoTaskEnv.__init__


def _stiff_frictional(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.model.geom_solimp[:] = (0.9, 0.95, 0.001, 0.5, 2.0)
    self.model.geom_friction[:, 0] = 0.8


family.MujocoTaskEnv.__init__ = _stiff_frictional
sys.exit(main())
