r"""Build a :class:`~._flow.Flow` by name.

Names: ``planar``, ``radial`` (Rezende & Mohamed 2015), ``affine_coupling``, ``spline``
(coupling layers), ``maf``, ``maf_spline`` (masked autoregressive layers, affine or
rational-quadratic spline transformers). Layouts (``K = num_layers``):

* ``planar`` / ``radial``: base → ``K`` layers → triangular affine;
* couplings: base → ``K`` × (layer, permutation) → triangular affine;
* autoregressive layers: base → layer → reversal → layer → … → layer → triangular affine.

Autoregressive layers follow the latent's own order, which for a NumPyro model is the order
its sites are sampled in, a topological order of the model's dependencies (a hierarchical
scale comes before the coordinates it scales). The last layer conditions each coordinate on
the ones before it in that order, the layer before it on the ones after, and so on, so every
pair is ordered both ways once ``K ≥ 2``. An affine layer in the model's order represents a
funnel or a centred hierarchy exactly (:math:`x_i \mid v \sim \mathcal N(0, e^{v})` is
:math:`x_i = e^{v/2}\varepsilon_i` with :math:`v` before :math:`x_i`; the MADE's linear skip
gives the log-scale :math:`v/2` without asking ``tanh`` units to be linear over the funnel's
range, see :mod:`._made`), which a pseudo-random order does only for the coordinates it
happens to put after :math:`v`; this is the ordering of Papamakarios et al. (2017), who
reverse the order between layers.

Every flow ends with the same :class:`~._elementwise.TriangularAffine` ``affine``: its
layers work on standardised coordinates (the splines' interval ``[-bound, bound]`` covers the
bulk of the mass), and with the layers at the identity the flow is the Gaussian
:math:`\mathcal N(\mu, LL^\top)`, which is where ``pa.fit``'s warm start puts it.
"""

from __future__ import annotations

from probapprox._checks import check_choice, check_int, check_positive
from probapprox.families.flows._autoregressive import MaskedAffine, MaskedSpline
from probapprox.families.flows._base import NormalBase, StudentTBase
from probapprox.families.flows._coupling import AffineCoupling, SplineCoupling
from probapprox.families.flows._elementwise import (
    Permute,
    TriangularAffine,
    default_permutation,
)
from probapprox.families.flows._flow import Flow
from probapprox.families.flows._planar import Planar
from probapprox.families.flows._radial import Radial

__all__ = ["FLOW_NAMES", "BASE_NAMES", "make_flow"]

FLOW_NAMES = ("planar", "radial", "affine_coupling", "spline", "maf", "maf_spline")
BASE_NAMES = ("normal", "student_t")


def make_flow(
    name: str,
    dim: int,
    num_layers: int,
    *,
    base: str = "normal",
    hidden_dims: tuple[int, ...] | None = None,
    num_bins: int = 8,
    bound: float = 5.0,
    init_df: float = 30.0,
    made_skip: bool = True,
) -> Flow:
    """Flow of ``num_layers`` layers of kind ``name`` on ``R^dim``.

    Args:
        name: one of :data:`FLOW_NAMES`.
        dim: dimension ``D``.
        num_layers: ``K >= 1``.
        base: ``"normal"`` or ``"student_t"`` (learnable per-dimension tails).
        hidden_dims: coupling / MADE conditioner widths (default ``(max(32, 2D),) * 2``).
        num_bins: spline bins.
        bound: spline interval half-width (identity outside).
        init_df: initial Student-t degrees of freedom.
        made_skip: the MADE conditioners' masked linear skip (``maf``, ``maf_spline``).

    """
    owner = "make_flow"
    check_choice(owner, "name", name, FLOW_NAMES)
    check_choice(owner, "base", base, BASE_NAMES)
    dim = check_int(owner, "dim", dim)
    num_layers = check_int(owner, "num_layers", num_layers)
    num_bins = check_int(owner, "num_bins", num_bins, minimum=2)
    bound = check_positive(owner, "bound", bound)
    init_df = check_positive(owner, "init_df", init_df)
    if init_df <= 1.0:
        raise ValueError(f"{owner}(init_df=...) must be > 1 (ν = 1 + exp(·)); got {init_df}.")
    if hidden_dims is None:
        hidden_dims = (max(32, 2 * dim),) * 2
    hidden = tuple(check_int(owner, "hidden_dims", int(h)) for h in hidden_dims)
    base_dist = NormalBase(dim) if base == "normal" else StudentTBase(dim, init_df)
    affine = ("affine", TriangularAffine(dim))
    if name in ("planar", "radial"):
        cls = Planar if name == "planar" else Radial
        return Flow(base_dist, (*((f"layer{k}", cls(dim)) for k in range(num_layers)), affine))
    layers = []
    for k in range(num_layers):
        if name == "affine_coupling":
            layer = AffineCoupling(dim, hidden)
        elif name == "spline":
            layer = SplineCoupling(dim, hidden, num_bins=num_bins, bound=bound)
        elif name == "maf":
            layer = MaskedAffine(dim, hidden, skip=made_skip)
        else:
            layer = MaskedSpline(dim, hidden, skip=made_skip, num_bins=num_bins, bound=bound)
        layers.append((f"layer{k}", layer))
        if name in ("maf", "maf_spline"):
            if k < num_layers - 1:  # the last layer runs in the latent's order
                layers.append((f"perm{k}", Permute(tuple(range(dim))[::-1])))
        else:
            layers.append((f"perm{k}", Permute(default_permutation(dim, k))))
    return Flow(base_dist, (*layers, affine))
