"""Normalizing flows as pure JAX maths: bijections, bases and the composed flow.

Every layer has ``forward`` (with ``log|det J|``), ``inverse`` and ``inverse_vjp`` (for the
forward-carried score of Vaitl et al. 2024). No NumPyro here: the guide
:class:`probapprox.guides.AutoNormalizingFlow` wraps a :class:`Flow`.
"""

from probapprox.families.flows._autoregressive import MaskedAffine as MaskedAffine
from probapprox.families.flows._autoregressive import MaskedSpline as MaskedSpline
from probapprox.families.flows._base import NormalBase as NormalBase
from probapprox.families.flows._base import StudentTBase as StudentTBase
from probapprox.families.flows._base import student_t_df as student_t_df
from probapprox.families.flows._bijection import Bijection as Bijection
from probapprox.families.flows._bijection import score_step as score_step
from probapprox.families.flows._build import BASE_NAMES as BASE_NAMES
from probapprox.families.flows._build import FLOW_NAMES as FLOW_NAMES
from probapprox.families.flows._build import make_flow as make_flow
from probapprox.families.flows._coupling import AffineCoupling as AffineCoupling
from probapprox.families.flows._coupling import SplineCoupling as SplineCoupling
from probapprox.families.flows._elementwise import ElementwiseAffine as ElementwiseAffine
from probapprox.families.flows._elementwise import Permute as Permute
from probapprox.families.flows._elementwise import TriangularAffine as TriangularAffine
from probapprox.families.flows._elementwise import triangular_factor as triangular_factor
from probapprox.families.flows._flow import Flow as Flow
from probapprox.families.flows._planar import Planar as Planar
from probapprox.families.flows._planar import planar_u_hat as planar_u_hat
from probapprox.families.flows._radial import Radial as Radial
from probapprox.families.flows._radial import radial_alpha_beta as radial_alpha_beta
from probapprox.families.flows._spline import spline_forward as spline_forward
from probapprox.families.flows._spline import spline_inverse as spline_inverse

__all__ = [
    "BASE_NAMES",
    "FLOW_NAMES",
    "AffineCoupling",
    "Bijection",
    "ElementwiseAffine",
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
    "planar_u_hat",
    "radial_alpha_beta",
    "score_step",
    "spline_forward",
    "spline_inverse",
    "student_t_df",
    "triangular_factor",
]
