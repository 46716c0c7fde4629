r"""``FitHooks``: the optional members through which a guide, loss or optimiser steers ``fit``.

:func:`probapprox.fit` runs any NumPyro guide. A guide (and the loss and optimiser it runs
with) may refine what ``fit`` does by defining some of the members of :class:`FitHooks`; none
is required. ``fit`` looks each member up separately, on the object its docstring names, in
one place (``probapprox.infer``'s hook resolver), and uses the documented default when it is
missing. This module has no dependency above ``guides``, so a guide implements the hooks
without importing ``probapprox.infer``.

The whitening hook returns a :class:`Whitener`: an exact affine re-parameterisation of the
guide, :math:`\phi_u \mapsto \phi_z`, such that the guide with parameters :math:`\phi_u` on
:math:`u = C^{-1}(z - z_*)` is the guide with parameters :math:`\phi_z` on :math:`z` (for a
Gaussian: :math:`m = z_* + C m_u`, :math:`L = C L_u`). The optimiser then runs on
:math:`\phi_u`, preconditioned by the curvature factor :math:`C` at the MAP :math:`z_*`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

__all__ = ["FitHooks", "Whitener"]

Params = dict[str, Any]


class Whitener(NamedTuple):
    """How one guide's parameters move between whitened and model coordinates.

    Attributes:
        structure: ``"dense"`` (lower-triangular :math:`C`, shape ``(D, D)``) or ``"diag"``
            (:math:`C` a vector of shape ``(D,)``) factor.
        to_model: ``(params_u, shift, factor) -> params_z`` on constrained parameters;
            traceable (it runs inside the jitted step).
        init: ``(params, *, unit_scale) -> params_u``: the guide's own initial parameters
            re-centred at :math:`u = 0`, with unit scale (the Laplace scale, for an accepted
            warm start) or with their own scale (for a start whose factor is the identity).
        latent_site: the guide's flat latent sample site, when the guide in model coordinates
            is exactly the guide in whitened coordinates followed by :math:`z = z_* + C u` on
            that site's draws. The fit's loss then applies that map to the draws
            (:math:`O(D^2)` per draw) instead of ``to_model`` to the parameters (for a
            triangular factor, the :math:`O(D^3)` product :math:`C L_u` per step); the site's
            distribution is wrapped by its ``with_outer_affine(shift, factor)`` or by a
            NumPyro affine transform. ``None``: the loss maps the parameters.

    """

    structure: str
    to_model: Callable[[Params, Any, Any], Params]
    init: Callable[..., Params]
    latent_site: str | None = None


class FitHooks(Protocol):
    """Optional hooks of a guide (G), its loss (L) or its optimiser (O), with their defaults.

    Implement any subset; ``fit`` looks every member up on its own and falls back to the
    default given here. The guide hooks of probapprox's families are the reference
    implementations (``AutoNormalizingFlow``, ``AutoIsoGaussianMixture``, ``AutoSIC``,
    ``AutoLaplace``).

    Attributes:
        init_scale: (G) the scale of the guide's own starting Gaussian around its initial
            point; the warm start is accepted only if the Laplace Gaussian's ELBO beats that
            Gaussian's. Default: NumPyro's ``_init_scale`` of its autoguides, else ``0.1``.
        uses_step: (L) the loss needs the step number; ``fit`` passes it as the keyword
            ``probapprox_step`` (``probapprox.estimators.STEP_KWARG``) of ``loss.loss``.
            Default ``False``.
        path_warmup: (L) steps of a schedule inside the loss (e.g. ``PathELBO``'s standard
            gradient warm-up); the stopping rule never fires before it ends. Default ``None``.
        anneal_steps: (L) steps of likelihood tempering; the rule waits for it as for
            ``path_warmup``, and the warm start is skipped (tempering wants a wide start, not
            the MAP). Default ``None``.
        stick_the_landing: (L) the gradient noise vanishes at the optimum, so stopping early
            loses nothing. Default: ``True`` for ``PathELBO``, else ``False`` (point-mass
            guides, ``AutoDelta`` and ``AutoLaplace``, settle with any loss).

    """

    init_scale: float
    uses_step: bool
    path_warmup: int | None
    anneal_steps: int | None
    stick_the_landing: bool

    def default_loss(self, num_steps: int) -> Any:
        """(G) The ELBO estimator ``fit`` uses when it is given no ``loss``.

        Called once, before the fit, with the step budget (a hook that takes no argument is
        called without it). Default: ``PathELBO()`` (sticking the landing) for NumPyro's
        Gaussian autoguides, ``Trace_ELBO()`` for other guides.
        """
        ...

    def default_optimizer(self, num_steps: int) -> Any:
        """(G) The optimiser ``fit`` uses when it is given none.

        Called once, before the fit, with the step budget. Default: Adam with a step size
        decayed (cosine) from ``2e-2`` to ``2e-4`` over ``num_steps``.
        """
        ...

    def whitener(self, flat: Any, *, dense_max: int) -> tuple[Whitener | None, str]:
        """(G) How the warm start may whiten this guide: ``(Whitener, "")`` or ``(None, why)``.

        Called once, before the starts are built, on the initialised guide. ``flat`` is the
        layout of the flat unconstrained latent (``flat.shapes``: site -> unconstrained
        shape, in model order; ``flat.dim``; ``flat.unpack(z)`` splits a ``(D,)`` vector
        into sites), or ``None`` when the guide does not expose NumPyro's ``_init_locs``.
        ``dense_max`` is the largest latent dimension for a dense factor. Return
        ``(None, reason)`` to run unwhitened; ``reason`` goes into ``info["warm_start"]``.
        Default: ``probapprox.infer``'s table for NumPyro's autoguides (Gaussian guides
        whiten exactly; other guides are not whitened).
        """
        ...

    def post_fit(self, params: Params, *args: Any, **kwargs: Any) -> Params:
        """(G) Finish the fitted parameters (constrained, model coordinates) after the loop.

        Called once per kept run with the model's arguments; e.g. ``AutoLaplace`` adds its
        curvature factors at the MAP. Default: the parameters unchanged.
        """
        ...

    def paired_loss(self) -> Any:
        """(O) The loss this optimiser must run with (e.g. ``FBGVI``, whose update lives in it).

        Called once, before the fit, when ``fit`` is given no ``loss``. An optimiser with a
        paired loss updates the guide's parameters itself, so the warm start is skipped.
        Default: none (the guide's ``default_loss``).
        """
        ...
