"""``FitResult``: what :func:`probapprox.fit` returns."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import jax.numpy as jnp
import numpy as np
import xarray as xr
from numpyro.infer.util import log_likelihood as _pointwise_log_likelihood

from probapprox.diagnostics import ApproximationWarning, Diagnostics, diagnose, to_datatree
from probapprox.infer._draws import latent_sites, make_sampler
from probapprox.infer._plan import split_args
from probapprox.infer._psis_stack import Stack, make_stack_sampler
from probapprox.infer._subsample import evaluation_pair, trace_model
from probapprox.infer._validate import check_draws

__all__ = ["FitResult"]

_MAX_LOGLIK_ENTRIES = 50_000_000

_NO_DATA = (
    "This fit was loaded without the model's data, so log p(x, θ) cannot be evaluated. "
    "Pass the model arguments when loading: probapprox.load(path, model, *args, **kwargs), "
    "or save with include_data=True."
)


@dataclass
class FitResult:
    """A fitted guide with its optimisation trace.

    Attributes:
        model: the NumPyro model.
        guide: the fitted guide (initialised).
        params: fitted guide parameters, constrained, keyed by NumPyro param name.
        losses: −ELBO estimate per step (NaN where a step was skipped).
        args: model positional arguments used for the fit (empty after a data-free load).
        kwargs: model keyword arguments.
        seed: the fit's seed.
        num_skipped: steps skipped because of non-finite values (``skip_nonfinite=True``).
        seconds: wall-clock time of the optimisation loop.
        state: final ``SVIState`` (``None`` after load).
        has_data: whether the model's data are available (``False`` after a data-free load).
        info: descriptive metadata (guide, loss and optimiser names, what the warm start did,
            multi-start statistics, ...).
        converged: whether the stopping rule found the loss settled (``None``: not checked).
        converged_at: the step count at which it did (the fit stopped there when
            ``early_stop`` was on), else ``None``.
        starts: per start of a multi-start fit, its :class:`~._multistart.StartSummary`.
        stack: for ``multi_start="stack"``, the runs and their weights; ``sample``,
            ``diagnostics`` and ``to_arviz`` then use the mixture, and ``params`` holds the
            best run.

    """

    model: Callable
    guide: Any
    params: dict[str, Any]
    losses: np.ndarray
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    num_skipped: int = 0
    seconds: float = float("nan")
    state: Any = None
    has_data: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    converged: bool | None = None
    converged_at: int | None = None
    starts: list[Any] | None = None
    stack: Stack | None = None
    _sampler: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def latent_sites(self) -> list[str]:
        """Names of the model's latent sample sites."""
        return latent_sites(self.guide)

    def _draws(self, num_samples: int, seed: int, *, need_model: bool) -> Any:
        return self._draws_noted(num_samples, seed, need_model=need_model)[0]

    def _draws_noted(self, num_samples: int, seed: int, *, need_model: bool) -> tuple[Any, str]:
        """Draws and a note (non-empty when ``log p`` is a subsampled estimate)."""
        num_samples, seed = check_draws(num_samples, seed)
        if need_model and not self.has_data:
            raise ValueError(_NO_DATA)
        model = self.model if self.has_data else None
        # subsampled plates: full-data model and guide where affordable (see _subsample)
        model, guide, note = evaluation_pair(model, self.guide, self.args, self.kwargs, num_samples)
        if self._sampler is None:
            self._sampler = {}
        if bool(note) not in self._sampler:
            if self.stack is not None:
                sampler = make_stack_sampler(model, guide, self.args, self.kwargs, self.stack)
            else:
                sampler = make_sampler(model, guide, self.args, self.kwargs)
            self._sampler[bool(note)] = sampler
        return self._sampler[bool(note)](num_samples, seed, self.params), note

    def sample(self, num_samples: int = 1000, seed: int = 1) -> dict[str, np.ndarray]:
        """Draw from the approximation.

        Returns:
            site name -> constrained draws of shape ``(num_samples, *site_shape)``, for the
            latent sites and (when the model's data are available) the deterministic sites.
            The same ``seed`` gives the same draws, also after save/load.

        """
        d = self._draws(num_samples, seed, need_model=False)
        missing = self.info.get("deterministic_sites", [])
        if not self.has_data and missing:
            warnings.warn(
                f"Deterministic sites {missing} need the model's data and are not returned. "
                + _NO_DATA.split(". ", 1)[1],
                stacklevel=2,
            )
        return {**d.latent, **d.deterministic}

    def diagnostics(
        self, num_samples: int = 10_000, seed: int = 2, *, warn: bool = True
    ) -> Diagnostics:
        """PSIS k̂, importance ESS and the ELBO with its standard error.

        Args:
            num_samples: draws from q (k̂ is noisy below ~10⁴).
            seed: seed of the draws.
            warn: also emit the plain-language warnings as :class:`ApproximationWarning`.

        """
        d, note = self._draws_noted(num_samples, seed, need_model=True)
        diag = diagnose(d.log_p, d.log_q)
        if note:
            diag = replace(diag, warnings=(*diag.warnings, note))
        if self.info.get("auto"):
            from probapprox.infer._auto_report import format_ladder

            diag = replace(diag, ladder=format_ladder(self.info["auto"]))
        if warn:
            for message in diag.warnings:
                warnings.warn(message, ApproximationWarning, stacklevel=2)
        return diag

    def to_arviz(
        self, num_samples: int = 1000, seed: int = 1, *, log_likelihood: bool = True
    ) -> xr.DataTree:
        """Export draws to an ArviZ ``DataTree``.

        Groups: ``posterior`` (one chain of ``num_samples`` independent draws, latent and
        deterministic sites), ``sample_stats`` (``log_p``, ``log_q``, ``log_weight`` per
        draw; ``loss`` per optimisation step), ``observed_data`` and ``log_likelihood``
        (pointwise, for ``arviz.loo``) when the model has observations and its data are
        available.
        """
        d, note = self._draws_noted(num_samples, seed, need_model=False)
        observed, loglik = {}, {}
        if self.has_data:
            model, _, _ = evaluation_pair(self.model, self.guide, self.args, self.kwargs, 1)
            proto = self.guide.prototype_trace
            if model is not self.model:  # subsampled plates: all observations
                proto = trace_model(model, self.args, self.kwargs)
            observed = {
                n: np.asarray(s["value"])
                for n, s in proto.items()
                if s["type"] == "sample" and s["is_observed"]
            }
            size = num_samples * sum(np.size(v) for v in observed.values())
            if log_likelihood and size > _MAX_LOGLIK_ENTRIES:
                warnings.warn(
                    f"Skipping the log_likelihood group: {num_samples} draws x "
                    f"{size // num_samples} observations is too large; pass fewer num_samples "
                    "or log_likelihood=False.",
                    stacklevel=2,
                )
            elif log_likelihood and note:
                warnings.warn(f"Skipping the log_likelihood group: {note}.", stacklevel=2)
            elif log_likelihood and observed:
                dynamic, rebuild = split_args(self.args, self.kwargs)
                a, kw = rebuild([jnp.asarray(x) for x in dynamic])  # indexable by traced idx
                ll = _pointwise_log_likelihood(model, d.latent, *a, batch_ndims=1, **kw)
                loglik = {k: np.asarray(v) for k, v in ll.items()}
        return to_datatree(
            {**d.latent, **d.deterministic},
            log_p=d.log_p,
            log_q=d.log_q,
            losses=self.losses,
            observed=observed,
            log_likelihood=loglik,
            attrs={"guide": self.info.get("guide", type(self.guide).__name__), "seed": self.seed},
        )

    def save(self, path: str | os.PathLike, *, include_data: bool = True) -> None:
        """Save the fit to one ``.npz`` file (no pickled code); see :func:`probapprox.load`.

        Args:
            path: destination file.
            include_data: also store the model's array arguments, so that the loaded fit
                can compute diagnostics and deterministic sites without being given the
                data again. With ``False`` the loaded fit can still ``sample`` the latent sites.

        """
        from probapprox.infer._serialize import save_fit

        save_fit(self, path, include_data=include_data)
