"""Helpers of ``bench_flows.py``: the guides, FlowJAX peers (optional) and timing.

FlowJAX is a benchmark-only dependency: it is imported here, guarded, and every FlowJAX row
is skipped (with a note) when it is not installed.
"""

from __future__ import annotations

import io
import statistics
import time
import warnings
from contextlib import redirect_stderr

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import optax
from jax.flatten_util import ravel_pytree
from numpyro.infer import Trace_ELBO
from numpyro.infer.autoguide import AutoBNAFNormal, AutoIAFNormal, AutoMultivariateNormal
from numpyro.infer.util import initialize_model

import probapprox as pa
from probapprox.estimators import PathELBO
from probapprox.families.flows import make_flow
from probapprox.guides import AutoNormalizingFlow

try:
    import equinox as eqx
    import flowjax
    import paramax
    from flowjax.bijections import Chain, RationalQuadraticSpline, TriangularAffine
    from flowjax.distributions import Normal as FjxNormal
    from flowjax.distributions import StandardNormal, Transformed
    from flowjax.flows import coupling_flow, masked_autoregressive_flow
    from flowjax.train import fit_to_key_based_loss
    from flowjax.train.losses import ElboLoss

    FLOWJAX = getattr(flowjax, "__version__", "installed")
except ImportError:  # pragma: no cover - depends on the environment
    FLOWJAX = None

OURS = ("planar", "radial", "affine_coupling", "spline", "maf", "maf_spline")
DEFAULT = "default"  # AutoNormalizingFlow(model) with every default, and pa.fit's defaults
GAUSSIAN = "AutoMultivariateNormal"  # the full-rank Gaussian at its defaults (pa.fit's too)
NUMPYRO = ("AutoIAFNormal", "AutoBNAFNormal")
FJX = ("fjx_maf", "fjx_spline_coupling")
BOUND = 5.0  # spline interval half-width, ours and FlowJAX's
PEER_LR = 5e-3  # peers' Adam step unless --lr: AutoNormalizingFlow's default for couplings


def peer_lr(cfg):
    return PEER_LR if cfg["lr"] is None else cfg["lr"]


def adam(lr, steps):
    """Adam with a cosine-decayed step ``lr → lr/100``: the same optimiser for every guide."""
    return optax.adam(optax.cosine_decay_schedule(lr, decay_steps=max(steps, 1), alpha=1e-2))


def make_guide(name, model, cfg):
    if name == DEFAULT:
        return AutoNormalizingFlow(model)
    if name == GAUSSIAN:
        return AutoMultivariateNormal(model)
    if name in OURS:
        layers = cfg["planar_layers"] if name in ("planar", "radial") else cfg["layers"]
        return AutoNormalizingFlow(
            model,
            flow=name,
            num_layers=layers,
            init_scale=1.0,
            learning_rate=cfg["lr"],  # None: the guide's own default
            num_particles=cfg["particles"],
            hidden_dims=cfg["hidden"],
            num_bins=cfg["bins"],
            bound=BOUND,
            made_skip=cfg.get("made_skip", True),
        )
    if name == "AutoIAFNormal":
        return AutoIAFNormal(model, num_flows=cfg["layers"], hidden_dims=list(cfg["hidden"]))
    return AutoBNAFNormal(model, num_flows=1, hidden_factors=[8, 8])


def fit_guide(name, bm, cfg, *, loss=None, steps=None, chunk_size=None, callback=None):
    """``pa.fit`` of one guide; ours with its default loss unless ``loss`` is given.

    ``default`` and ``AutoMultivariateNormal`` run every default of ``pa.fit`` (its step
    cap and stopping rule too); the others run ``cfg["steps"]`` steps.
    """
    steps = cfg["steps"] if steps is None else steps
    guide = make_guide(name, bm.model, cfg)
    kw = {} if name in (DEFAULT, GAUSSIAN) and steps == cfg["steps"] else {"num_steps": steps}
    if name in NUMPYRO:  # peers: the standard estimator, our flows' optimiser
        kw |= {"loss": Trace_ELBO(cfg["particles"]), "optimizer": adam(peer_lr(cfg), steps)}
    if loss is not None:
        kw["loss"] = loss
    if chunk_size is not None:  # a timing run: every step, no stopping rule
        kw["early_stop"] = False
    with redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pa.fit(
            bm.model,
            guide,
            *bm.args,
            seed=cfg["seed"],
            progress=False,
            chunk_size=chunk_size,
            callback=callback,
            **kw,
            **bm.kwargs,
        )
    return guide, res


def flat_target(bm):
    """``(log p(x, z), D, constrain)`` on the model's flat unconstrained latent ``z``."""
    info = initialize_model(
        jax.random.PRNGKey(0), bm.model, model_args=bm.args, model_kwargs=bm.kwargs
    )
    z0, unravel = ravel_pytree(info.param_info.z)

    def log_p(z):
        return -info.potential_fn(unravel(z))

    def constrain(z):
        return jax.vmap(lambda u: info.postprocess_fn(unravel(u)))(z)

    return log_p, int(z0.size), constrain


def make_flowjax(kind, dim, cfg, seed=0):
    key = jax.random.PRNGKey(seed)
    kw = {
        "base_dist": FjxNormal(jnp.zeros(dim)),
        "flow_layers": cfg["layers"],
        "nn_width": cfg["hidden"][0],
        "nn_depth": len(cfg["hidden"]),
        "nn_activation": jnp.tanh,
        "invert": False,  # fast forward (sample_and_log_prob), as FlowJAX advises for VI
    }
    if kind == "fjx_maf":
        return masked_autoregressive_flow(key, **kw)
    if kind == "fjx_maf_ours":  # our architecture: parameter-free base, last layer triangular
        maf = masked_autoregressive_flow(key, **kw).bijection
        return Transformed(
            StandardNormal((dim,)), Chain([maf, TriangularAffine(jnp.zeros(dim), jnp.eye(dim))])
        )
    if kind == "fjx_maf_spline":
        spline = RationalQuadraticSpline(knots=cfg["bins"], interval=BOUND)
        return masked_autoregressive_flow(key, transformer=spline, **kw)
    spline = RationalQuadraticSpline(knots=cfg["bins"], interval=BOUND)
    return coupling_flow(key, transformer=spline if kind == "fjx_spline_coupling" else None, **kw)


def flowjax_setup(kind, bm, cfg, *, stl=False):
    """``(flow, ElboLoss, target)``; reuse the loss object so FlowJAX's jitted step is cached."""
    log_p, dim, constrain = flat_target(bm)
    loss = ElboLoss(log_p, cfg["particles"], stick_the_landing=stl)
    return make_flowjax(kind, dim, cfg), loss, (log_p, constrain)


def flowjax_train(flow, loss, cfg, steps, optimizer=None):
    """FlowJAX's own VI loop (``fit_to_key_based_loss``); returns flow, losses, seconds."""
    t0 = time.perf_counter()
    flow, losses = fit_to_key_based_loss(
        jax.random.key(cfg["seed"]),
        flow,
        loss_fn=loss,
        steps=steps,
        optimizer=adam(peer_lr(cfg), steps) if optimizer is None else optimizer,
        show_progress=False,
    )
    return flow, np.asarray(losses), time.perf_counter() - t0


def flowjax_draws(flow, target, n, seed):
    """Constrained draws, per-draw ``log p`` and ``log q`` of a fitted FlowJAX flow."""
    log_p, constrain = target
    z, log_q = flow.sample_and_log_prob(jax.random.key(seed), (n,))
    draws = {k: np.asarray(v) for k, v in constrain(z).items()}
    return draws, np.asarray(jax.vmap(log_p)(z)), np.asarray(log_q)


# ------------------------------------------------------------------------------- timing


def std_normal(d):
    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([d]).to_event(1))

    return model


class _Bundle:
    def __init__(self, d):
        self.model, self.args, self.kwargs = std_normal(d), (), {}


def time_ours(name, d, cfg, chunk, repeats, estimator):
    """Median seconds per jitted step of our guide: ``repeats`` chunks after the compiling one."""
    stamps = []
    loss = {"trace": Trace_ELBO(cfg["particles"]), "path": PathELBO(cfg["particles"])}[estimator]
    t0 = time.perf_counter()
    _, res = fit_guide(
        name,
        _Bundle(d),
        cfg,
        loss=loss,
        steps=chunk * (repeats + 1),
        chunk_size=chunk,
        callback=lambda step, losses: stamps.append(time.perf_counter()),
    )
    assert res.info["loss"] == type(loss).__name__, res.info  # the estimator we asked for
    chunks = [b - a for a, b in zip([t0, *stamps], stamps, strict=False)][1:]
    return statistics.median(chunks) / chunk, chunks


def time_maths(name, d, cfg, repeats, calls=500):
    """Median seconds of the jitted gradient of the flow-only ELBO surrogate, by estimator.

    Same flow as the guide (``make_flow``), target a standard normal, ``particles`` draws:
    ``standard`` uses ``sample_and_log_prob``; ``path`` the forward-carried score (what
    ``FlowDistribution.path_log_prob`` does). No NumPyro tracing, no optimiser.
    """
    layers = cfg["planar_layers"] if name in ("planar", "radial") else cfg["layers"]
    flow = make_flow(name, d, layers, hidden_dims=cfg["hidden"], num_bins=cfg["bins"])
    params, n = flow.init(jax.random.PRNGKey(0), jnp.float64), cfg["particles"]

    def standard(p, key):
        z, log_q = flow.sample_and_log_prob(p, key, (n,))
        return jnp.mean(log_q + 0.5 * jnp.sum(z**2, -1))

    def path(p, key):
        z, log_q, score = flow.sample_with_score(p, key, (n,))
        log_q, score, z_bar = (jax.lax.stop_gradient(t) for t in (log_q, score, z))
        return jnp.mean(log_q + jnp.sum((z - z_bar) * score, -1) + 0.5 * jnp.sum(z**2, -1))

    out = {}
    for label, fn in (("standard", standard), ("path", path)):

        @jax.jit
        def run(p, keys, fn=fn):  # ``calls`` gradients in one scan; their sum is kept (no DCE)
            def body(acc, key):
                return jax.tree.map(jnp.add, acc, jax.grad(fn)(p, key)), None

            return jax.lax.scan(body, jax.tree.map(jnp.zeros_like, p), keys)[0]

        keys = jax.random.split(jax.random.PRNGKey(0), calls)
        jax.block_until_ready(run(params, keys))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(run(params, keys))
            times.append((time.perf_counter() - t0) / calls)
        out[label] = statistics.median(times)
    return out


def time_flowjax(kind, d, cfg, chunk, repeats, *, scanned=False):
    """Median seconds per step of FlowJAX: its own loop, or the same step in a ``lax.scan``."""
    b = _Bundle(d)
    opt = adam(peer_lr(cfg), chunk * (repeats + 1))
    if not scanned:
        flow, loss, _ = flowjax_setup(kind, b, cfg)
        chunks = [flowjax_train(flow, loss, cfg, chunk, opt)[2] for _ in range(repeats + 1)]
        return statistics.median(chunks[1:]) / chunk, chunks[1:]  # the first one compiles
    log_p, dim, _ = flat_target(b)
    flow = make_flowjax(kind, dim, cfg)
    params, static = eqx.partition(
        flow, eqx.is_inexact_array, is_leaf=lambda x: isinstance(x, paramax.NonTrainable)
    )
    loss_fn = ElboLoss(log_p, cfg["particles"])

    @jax.jit
    def run(params, opt_state, key):
        def body(carry, k):
            p, s = carry
            val, g = eqx.filter_value_and_grad(loss_fn)(p, static, k)
            upd, s = opt.update(g, s, p)
            return (eqx.apply_updates(p, upd), s), val

        return jax.lax.scan(body, (params, opt_state), jax.random.split(key, chunk))

    state, chunks = (params, opt.init(params)), []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        state, vals = run(*state, jax.random.key(i))
        jax.block_until_ready(vals)
        chunks.append(time.perf_counter() - t0)
    return statistics.median(chunks[1:]) / chunk, chunks[1:]


__all__ = [
    "DEFAULT",
    "FJX",
    "FLOWJAX",
    "GAUSSIAN",
    "NUMPYRO",
    "OURS",
    "adam",
    "flowjax_setup",
    "flowjax_train",
    "fit_guide",
    "flat_target",
    "flowjax_draws",
    "make_guide",
    "time_flowjax",
    "time_maths",
    "time_ours",
]
