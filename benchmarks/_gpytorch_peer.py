"""GPyTorch SVGP / VNNGP peer for ``bench_latent_gp.py`` (runs in the ``.venv-torch`` venv).

Reads one sim1 data set from an ``.npz`` (``X, y, X_test``, the true lengthscales, the
likelihood name and its noise variance) and a JSON list of runs, fits each with the kernel
fixed at the truth, and writes the test-point means and variances of q(f) plus the fit
seconds to an output ``.npz`` (``<i>_mean``, ``<i>_var``, and ``meta``: a JSON string).

Setup, as the DKLGP authors run these baselines (``external/competing_methods/gps`` of
katzfuss-group/DKL-GP @52c3fc9), in float64:

* kernel ``ScaleKernel(MaternKernel(nu=1.5, ard_num_dims=5))`` at the true ℓ and variance 1,
  frozen (``train_prior=False``); the 1e-4 nugget of the model is added to the predictive
  variance of f (GPyTorch's own jitter stays as it is);
* likelihoods: ``GaussianLikelihood`` with the noise frozen at the truth; Bernoulli-**logit**
  and Poisson-log as ``_OneDimensionalLikelihood`` subclasses (GPyTorch's
  ``BernoulliLikelihood`` is probit), whose expected log-likelihood GPyTorch computes by
  20-point Gauss–Hermite;
* SVGP: ``VariationalStrategy`` + ``NaturalVariationalDistribution`` with m inducing points
  drawn uniformly in [min x, max x] and learned; NGD (lr) on q and Adam (adam_lr) on the
  inducing locations, two passes per batch, ``MultiStepLR`` ×0.1 at 75 % and 90 % of the epochs;
* VNNGP: ``NNVariationalStrategy`` with inducing points = the training inputs, k = m
  neighbours, ``MeanFieldVariationalDistribution`` initialised at N(y₀, 0.5 I) with y₀ = y
  (Gaussian), 2y − 1 (Bernoulli) or log(y + 0.5) (Poisson; the authors have no Poisson),
  Adam (lr) with the same milestones, GPyTorch's default jitter 1e-3.

Usage: ``python _gpytorch_peer.py DATA.npz RUNS.json OUT.npz`` where each run is
``{"method": "svgp" | "vnngp", "m": int, "epochs": int, "lr": float, "batch_size": int,
"seed": int, "threads": int}``.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import sys
import time

import gpytorch
import numpy as np
import torch
from gpytorch.likelihoods import _OneDimensionalLikelihood
from gpytorch.models import ApproximateGP
from gpytorch.variational import (
    MeanFieldVariationalDistribution,
    NaturalVariationalDistribution,
    NNVariationalStrategy,
    VariationalStrategy,
)

torch.set_default_dtype(torch.float64)


class LogitBernoulli(_OneDimensionalLikelihood):
    def forward(self, function_samples, *args, **kwargs):
        return torch.distributions.Bernoulli(logits=function_samples)


class PoissonLog(_OneDimensionalLikelihood):
    def forward(self, function_samples, *args, **kwargs):
        return torch.distributions.Poisson(rate=function_samples.exp())


def make_kernel(lengthscale, variance):
    k = gpytorch.kernels.ScaleKernel(
        gpytorch.kernels.MaternKernel(nu=1.5, ard_num_dims=len(lengthscale))
    )
    k.base_kernel.lengthscale = torch.as_tensor(lengthscale)
    k.outputscale = float(variance)
    for p in k.parameters():
        p.requires_grad_(False)
    return k


def make_likelihood(name, noise_var):
    if name == "gaussian":
        lik = gpytorch.likelihoods.GaussianLikelihood()
        lik.noise = float(noise_var)
    elif name == "bernoulli":
        lik = LogitBernoulli()
    else:
        lik = PoissonLog()
    for p in lik.parameters():
        p.requires_grad_(False)
    return lik


class SVGP(ApproximateGP):
    def __init__(self, inducing, kernel):
        q = NaturalVariationalDistribution(inducing.size(0))
        super().__init__(VariationalStrategy(self, inducing, q, learn_inducing_locations=True))
        self.mean_module = gpytorch.means.ZeroMean()
        self.covar_module = kernel

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


class VNNGP(ApproximateGP):
    def __init__(self, x_train, init_mean, kernel, k, batch_size):
        q = MeanFieldVariationalDistribution(x_train.size(0))
        q.initialize_variational_distribution(
            torch.distributions.MultivariateNormal(
                init_mean, torch.diag_embed(torch.full_like(init_mean, 0.5))
            )
        )
        strategy = NNVariationalStrategy(self, x_train, q, k=k, training_batch_size=batch_size)
        super().__init__(strategy)
        self.mean_module = gpytorch.means.ZeroMean()
        self.covar_module = kernel

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

    def __call__(self, x, prior=False, **kwargs):  # noqa: FBT002 (GPyTorch's signature)
        return self.variational_strategy(x=x, prior=False, **kwargs)


def milestones(optimizer, epochs):
    return torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=[int(epochs * 0.75), int(epochs * 0.9)], gamma=0.1
    )


def fit_svgp(x, y, kernel, lik, run):
    lo, hi = x.min(), x.max()
    inducing = torch.rand((run["m"], x.size(1))) * (hi - lo) + lo
    model = SVGP(inducing, kernel)
    ngd = gpytorch.optim.NGD(model.variational_parameters(), num_data=y.size(0), lr=run["lr"])
    adam = torch.optim.Adam([{"params": model.hyperparameters()}], lr=run.get("adam_lr", run["lr"]))
    sched = milestones(adam, run["epochs"])
    mll = gpytorch.mlls.VariationalELBO(lik, model, num_data=y.size(0))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=run["batch_size"], shuffle=True
    )
    model.train()
    lik.train()
    for _ in range(run["epochs"]):
        for xb, yb in loader:
            ngd.zero_grad()
            (-mll(model(xb), yb)).backward()
            ngd.step()
            adam.zero_grad()
            loss = -mll(model(xb), yb)
            loss.backward()
            adam.step()
        sched.step()
    return model, float(loss.detach())


def fit_vnngp(x, y, kernel, lik, run, lik_name):
    init = {"gaussian": y, "bernoulli": 2.0 * y - 1.0}.get(lik_name, torch.log(y + 0.5))
    model = VNNGP(x, init.clone(), kernel, run["m"], run["batch_size"])
    adam = torch.optim.Adam(model.parameters(), lr=run["lr"])
    sched = milestones(adam, run["epochs"])
    mll = gpytorch.mlls.VariationalELBO(lik, model, num_data=y.size(0))
    model.train()
    lik.train()
    batches = model.variational_strategy._total_training_batches
    for _ in range(run["epochs"]):
        for _ in range(batches):
            adam.zero_grad()
            out = model(x=None)
            yb = y[model.variational_strategy.current_training_indices]
            loss = -mll(out, yb)
            loss.backward()
            adam.step()
        sched.step()
    return model, float(loss.detach())


def main(data_path, runs_path, out_path):
    data = np.load(data_path)
    runs = json.loads(open(runs_path).read())
    x, y = torch.from_numpy(data["X"]), torch.from_numpy(data["y"])
    x_test = torch.from_numpy(data["X_test"])
    lik_name = str(data["likelihood"])
    out, meta = {}, []
    for i, run in enumerate(runs):
        torch.set_num_threads(run.get("threads", 1))
        torch.manual_seed(run["seed"])
        kernel = make_kernel(data["lengthscale"], float(data["variance"]))
        lik = make_likelihood(lik_name, float(data["noise_var"]))
        t0 = time.perf_counter()
        with gpytorch.settings.cholesky_max_tries(6):
            if run["method"] == "svgp":
                model, loss = fit_svgp(x, y, kernel, lik, run)
            else:
                model, loss = fit_vnngp(x, y, kernel, lik, run, lik_name)
        fit_s = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            q = model(x_test)
            mean, var = q.mean.numpy(), q.variance.numpy() + float(data["nugget"])
        out[f"{i}_mean"], out[f"{i}_var"] = mean, var
        meta.append({**run, "fit_s": fit_s, "final_loss": loss})
        print(f"  {run['method']} m={run['m']}: {fit_s:.1f} s, loss {loss:.2f}", flush=True)
    versions = {p: md.version(p) for p in ("torch", "gpytorch", "linear_operator")}
    np.savez(out_path, meta=json.dumps({"runs": meta, "versions": versions}), **out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
