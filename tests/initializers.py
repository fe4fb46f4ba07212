"""Every public initializer as fn(tensor, generator), for the hardening tests
(threads, leaks, temporaries, deterministic mode, properties)."""

import math

import fastinit
import fastinit.init as fi

MIXTURE = fastinit.Mixture([(0.25, fastinit.Uniform(5.0, 10.0)), (0.5, fastinit.Constant(0.0)),
                            (0.25, fastinit.TruncNormal(0.0, 1.0, -2.0, 2.0))])

# name -> fn(tensor, generator); each takes 2-D tensors.
INITIALIZERS = {
    "uniform_": lambda t, g: fi.uniform_(t, -2.0, 3.0, generator=g),
    "normal_": lambda t, g: fi.normal_(t, 0.5, 2.0, generator=g),
    "trunc_normal_": lambda t, g: fi.trunc_normal_(t, 0.0, 0.02, -0.04, 0.04, generator=g),
    "xavier_uniform_": lambda t, g: fi.xavier_uniform_(t, gain=1.5, generator=g),
    "xavier_normal_": lambda t, g: fi.xavier_normal_(t, generator=g),
    "kaiming_uniform_": lambda t, g: fi.kaiming_uniform_(t, a=math.sqrt(5), generator=g),
    "kaiming_normal_": lambda t, g: fi.kaiming_normal_(t, mode="fan_out", generator=g),
    "orthogonal_": lambda t, g: fi.orthogonal_(t, gain=2.0, generator=g),
    "sparse_": lambda t, g: fi.sparse_(t, 0.3, generator=g),
    "mixture_": lambda t, g: fastinit.mixture_(t, MIXTURE, generator=g),
    "constant_": lambda t, g: fi.constant_(t, 0.25),
    "ones_": lambda t, g: fi.ones_(t),
    "zeros_": lambda t, g: fi.zeros_(t),
    "eye_": lambda t, g: fi.eye_(t),
    "dirac_": lambda t, g: fi.dirac_(t.unsqueeze(-1)),
}
