"""Accuracy of the Gaussian-over-logits predictives against Monte Carlo references.

0. Network Gaussians (``_laplace_logit_kl.py``; skip with ``--no-network``): the digits MLP
   of ``bench_laplace_digits.py``, fitted with last-layer and all-layer KFAC, diagonal and
   (last layer) full Laplace with a marglik prior precision; mean KL of every softmax
   predictive from a ``--ref-samples`` Monte Carlo reference on the test and 30°-rotated
   test logit Gaussians, and the seconds of each on the last-layer KFAC test Gaussians. The
   defaults (``sigma_points`` as the recommended predictive, the bridge's ``correction``)
   are chosen from this table, not from the synthetic ones below.

Synthetic logit Gaussians: ``--points`` random (μ, σ²) with C = ``--classes`` classes and
diagonal covariance, in four regimes. In the first three, μ ~ N(0, 2²) and
σ² = s·exp(0.5·N(0, 1)) with s ∈ {0.1, 1, 10}. The fourth ("confident") has μ ~ N(0, 1)
plus 5 on one class, with s = 1.

1. Softmax methods: mean KL(MC ‖ approx), where MC is a ``--ref-samples``-sample Monte
   Carlo of E[softmax(z)] (its own KL to the truth is about (C−1)/(2S), i.e. 5e-5 for 1e5
   draws). Methods: ``mc`` with 10/100/1000 draws (another key), ``mean_field`` (plain and
   pairwise), and ``laplace_bridge`` with each ``correction``.
2. Link methods: for g = Φ and g = σ, mean KL between the MC estimate of
   E[g(z_c)]/Σ_k E[g(z_k)] and ``predictive(method="probit" | "sigmoid")``, plus the largest
   per-class |E[g] − closed form|.
3. The sigmoid approximation E[σ(z)] ≈ σ(μ/√(1+πσ²/8)) against a fine trapezoid quadrature
   of the exact integral, on a grid of σ² ∈ [1e-2, 1e4] and μ = t·√(1+σ²), t ∈ [−4, 4] (the
   error depends on μ mostly through t, and peaks along such rays for large σ²): maximum
   absolute error and where it occurs, and the maximum for each σ².

Writes ``benchmarks/results/bench_logit_predictives.json`` and ``.md`` (``--quick``: fewer
points and draws, ``bench_logit_predictives_quick.json`` only).

Run: ``python benchmarks/bench_logit_predictives.py [--quick]``.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)

import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _meta import write_results  # noqa: E402
from scipy.special import expit, ndtr  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _laplace_logit_kl import network_lines, network_section  # noqa: E402

from probapprox import logits as pl  # noqa: E402

BRIDGE_CORRECTIONS = ("zero_sum", "none", "sum_norm", "mean_norm")

REGIMES = {"s=0.1": (0.1, False), "s=1": (1.0, False), "s=10": (10.0, False)}
REGIMES["confident, s=1"] = (1.0, True)


def draw(rng, n, c, scale, confident):
    if confident:
        mu = rng.normal(size=(n, c))
        mu[np.arange(n), rng.integers(0, c, n)] += 5.0
    else:
        mu = 2.0 * rng.normal(size=(n, c))
    return mu, scale * np.exp(0.5 * rng.normal(size=(n, c)))


def kl(p, q):
    q = np.maximum(q, np.finfo(float).tiny)
    return float(
        np.mean(np.sum(np.where(p > 0, p * (np.log(np.maximum(p, 1e-300)) - np.log(q)), 0), -1))
    )


def link_mc(key, mu, var, samples, link, chunk=2000):
    """MC means of g(z) per class (unnormalised), and their standard errors."""
    total, total_sq = np.zeros_like(mu), np.zeros_like(mu)
    for i, k in enumerate(jax.random.split(key, -(-samples // chunk))):
        m = min(chunk, samples - i * chunk)
        z = mu + np.sqrt(var) * np.asarray(jax.random.normal(k, (m, *mu.shape)))
        g = link(z)
        total += g.sum(0)
        total_sq += (g**2).sum(0)
    mean = total / samples
    return mean, np.sqrt(np.maximum(total_sq / samples - mean**2, 0) / samples)


def softmax_rows(args, key, mu, var):
    ref = np.asarray(pl.predictive(mu, var, "mc", key=key, num_samples=args.ref_samples))
    out = {f"sigma_points-{n}": kl(ref, np.asarray(pl.predictive(mu, var, "sigma_points",
                                                                   num_points=n)))
           for n in (256, 512)}  # fmt: skip
    for s in (10, 100, 1000):
        p = pl.predictive(mu, var, "mc", key=jax.random.fold_in(key, s), num_samples=s)
        out[f"mc-{s}"] = kl(ref, np.asarray(p))
    out["mean_field"] = kl(ref, np.asarray(pl.predictive(mu, var, "mean_field")))
    pw = pl.predictive(mu, var, "mean_field", pairwise=True)
    out["mean_field pairwise"] = kl(ref, np.asarray(pw))
    for corr in BRIDGE_CORRECTIONS:
        p = pl.predictive(mu, var, "laplace_bridge", correction=corr)
        out[f"laplace_bridge {corr}"] = kl(ref, np.asarray(p))
    return out


def link_rows(args, key, mu, var):
    out = {}
    for name, link in (("probit", ndtr), ("sigmoid", expit)):
        m, se = link_mc(jax.random.fold_in(key, len(name)), mu, var, args.ref_samples, link)
        ref = m / m.sum(-1, keepdims=True)
        closed = (pl.expected_normcdf if name == "probit" else pl.expected_sigmoid)(mu, var)
        out[name] = {
            "kl": kl(ref, np.asarray(pl.predictive(mu, var, name))),
            "max_abs_expectation_error": float(np.max(np.abs(np.asarray(closed) - m))),
            "max_mc_se": float(se.max()),
        }
    return out


def sigmoid_map(args):
    """Grid in (t, σ²) with μ = t·√(1+σ²): the error is a function of t for large σ²."""
    ts = np.linspace(-4, 4, 41 if args.quick else 121)
    variances = np.logspace(-2, 4, 25 if args.quick else 61)
    x = np.linspace(-12, 12, 48_001)
    w = np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi) * (x[1] - x[0])
    mus = ts[:, None] * np.sqrt(1 + variances[None, :])
    exact = np.array(
        [
            [np.sum(w * expit(mus[i, j] + np.sqrt(v) * x)) for j, v in enumerate(variances)]
            for i in range(len(ts))
        ]
    )
    err = np.abs(np.asarray(pl.expected_sigmoid(mus, variances[None, :])) - exact)
    i, j = np.unravel_index(np.argmax(err), err.shape)
    return {
        "max_abs_error": float(err.max()),
        "at_t": float(ts[i]),
        "at_mu": float(mus[i, j]),
        "at_var": float(variances[j]),
        "max_abs_error_by_var": {
            f"{v:.3g}": float(err[:, k].max()) for k, v in enumerate(variances)
        },
        "grid": {"t": [-4, 4, len(ts)], "var_log10": [-2, 4, len(variances)]},
    }


def tables(res):
    regimes = list(res["softmax"])
    lines = ["## Softmax methods: mean KL(MC-ref ‖ approx)", ""]
    lines.append("| method | " + " | ".join(regimes) + " |")
    lines.append("|---|" + "---|" * len(regimes))
    for method in res["softmax"][regimes[0]]:
        vals = " | ".join(f"{res['softmax'][r][method]:.3g}" for r in regimes)
        lines.append(f"| {method} | {vals} |")
    lines += ["", "## Link methods against their own MC", ""]
    lines.append("| link | " + " | ".join(f"{r}: KL / max abs err" for r in regimes) + " |")
    lines.append("|---|" + "---|" * len(regimes))
    for link in ("probit", "sigmoid"):
        cells = [res["links"][r][link] for r in regimes]
        vals = " | ".join(f"{c['kl']:.2g} / {c['max_abs_expectation_error']:.2g}" for c in cells)
        lines.append(f"| {link} | {vals} |")
    se = max(res["links"][r][lk]["max_mc_se"] for r in regimes for lk in ("probit", "sigmoid"))
    lines.append(f"\n(largest MC standard error of a per-class expectation: {se:.2g})")
    sm = res["sigmoid_map"]
    by_var = sm["max_abs_error_by_var"]
    picks = [k for k in by_var if k in ("0.01", "0.1", "1", "10", "100", "1e+03", "1e+04")]
    lines += [
        "",
        "## Sigmoid approximation σ(μ/√(1+πσ²/8)) vs exact E[σ(z)]",
        "",
        f"Max abs error {sm['max_abs_error']:.4f} at σ² = {sm['at_var']:.3g}, "
        f"μ = {sm['at_mu']:.3g} (t = μ/√(1+σ²) = {sm['at_t']:.2f}); grid σ² ∈ [1e-2, 1e4], "
        f"t ∈ [-4, 4].",
        "",
        "| σ² | " + " | ".join(picks) + " |",
        "|---|" + "---|" * len(picks),
        "| max abs error over t | " + " | ".join(f"{by_var[k]:.4f}" for k in picks) + " |",
    ]
    return lines


def main(args):
    t0, load0 = time.perf_counter(), os.getloadavg()
    rng = np.random.default_rng(args.seed)
    key = jax.random.key(args.seed)
    res = {"softmax": {}, "links": {}}
    lines = []
    if args.network:
        res["network"] = network_section(args)
        lines = network_lines(res["network"]) + [""]
    for i, (name, (scale, confident)) in enumerate(REGIMES.items()):
        mu, var = draw(rng, args.points, args.classes, scale, confident)
        k = jax.random.fold_in(key, i)
        res["softmax"][name] = softmax_rows(args, k, jnp.asarray(mu), jnp.asarray(var))
        res["links"][name] = link_rows(args, jax.random.fold_in(k, 99), mu, var)
        print(name, "done", flush=True)
    res["sigmoid_map"] = sigmoid_map(args)
    total = time.perf_counter() - t0
    lines += ["## Synthetic Gaussians (diagonal covariance)", ""] + tables(res)
    lines.append(
        f"\n({args.points} points, C = {args.classes}, reference {args.ref_samples:.0e} draws, "
        f"seed {args.seed}; {jax.devices()[0]}; total {total:.0f} s; load average "
        f"{load0[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end on "
        f"{os.cpu_count()} cores)"
    )
    result = {
        "benchmark": "logit_predictives",
        "points": args.points,
        "classes": args.classes,
        "ref_samples": args.ref_samples,
        "seed": args.seed,
        "quick": args.quick,
        "loadavg_before": load0,
        "loadavg_after": os.getloadavg(),
        "regimes": {k: {"var_scale": s, "confident": c} for k, (s, c) in REGIMES.items()},
        **res,
        "total_seconds": total,
        "platform": platform.platform(),
        "jax": jax.__version__,
    }
    write_results("bench_logit_predictives", result, lines, quick=args.quick)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=200)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--ref-samples", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=7, help="timing repeats (network section)")
    p.add_argument("--no-network", dest="network", action="store_false",
                   help="skip the digits-MLP Laplace Gaussians")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="fast smoke run")
    args = p.parse_args()
    if args.quick:
        args.points, args.ref_samples = 50, 20_000
    main(args)
