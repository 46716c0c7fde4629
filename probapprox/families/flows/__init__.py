"""Normalizing flows as pure JAX maths: bijections, bases and the composed flow.

Every layer has ``forward`` (with ``log|det J|``), ``inverse`` and ``inverse_vjp`` (for the
forward-carried score of Vaitl et al. 2024). No NumPyro here: the guide
:class:`probapprox.guides.AutoNormalizingFlow` wraps a :class:`Flow`.
"""

from probapprox.families.flows._autoregressive import MaskedAffine as MaskedAffine
from probapprox.families.flows._autoregressive import MaskedSpline as MaskedSpline
from probapprox.families.flows._base import NormalBase as NormalBase
from probapprox.families.flows._base import StudentTBase as StudentTBase
from probapprox.families.flows._bijection import Bijection as Bijection

# the valid names; not in __all__ (guides.AutoNormalizingFlow checks its arguments with them)
from probapprox.families.flows._build import BASE_NAMES as BASE_NAMES
from probapprox.families.flows._build import FLOW_NAMES as FLOW_NAMES
from probapprox.families.flows._build import make_flow as make_flow
from probapprox.families.flows._coupling import AffineCoupling as AffineCoupling
from probapprox.families.flows._coupling import SplineCoupling as SplineCoupling
from probapprox.families.flows._elementwise import ElementwiseAffine as ElementwiseAffine
from probapprox.families.flows._elementwise import FixedAffine as FixedAffine
from probapprox.families.flows._elementwise import Permute as Permute
from probapprox.families.flows._elementwise import TriangularAffine as TriangularAffine
from probapprox.families.flows._elementwise import triangular_factor as triangular_factor
from probapprox.families.flows._flow import Flow as Flow
from probapprox.families.flows._planar import Planar as Planar
from probapprox.families.flows._radial import Radial as Radial

__all__ = [
    "AffineCoupling",
    "Bijection",
    "ElementwiseAffine",
    "FixedAffine",
    "Flow",
    "MaskedAffine",
    "MaskedSpline",
    "NormalBase",
    "Permute",
    "Planar",
    "Radial",
    "SplineCoupling",
    "StudentTBase",
    "TriangularAffine",
    "make_flow",
]
