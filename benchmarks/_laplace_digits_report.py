"""The markdown report of ``bench_laplace_digits.py`` (tables of metrics, seconds, targets)."""

from __future__ import annotations

import _laplace_digits_targets
from _laplace_digits_common import PEER_DEFAULT, PEER_OF, RECOMMENDED, row_key


def _f(x, nd=3):
    return "–" if x is None else f"{x:.{nd}f}"


def _cells(m):
    return [
        _f(m["test"]["acc"]),
        _f(m["test"]["nll"]),
        _f(m["test"]["ece"]),
        _f(m["test"]["brier"]),
        _f(m["shift"]["acc"]),
        _f(m["shift"]["nll"]),
        _f(m["shift"]["ece"]),
        _f(m["shift"]["brier"]),
    ]


def markdown(res):
    theirs = {row_key(r): r for r in res["laplace_torch"]}
    head = (
        "| library | subset | structure | prior | predictive | acc | NLL | ECE | Brier "
        "| acc₃₀ | NLL₃₀ "
        "| ECE₃₀ | Brier₃₀ | fit s | predict s | n | fit ×peer | predict ×peer |"
    )
    lines = [
        "## Test (500 rows) and rotated-30° test: metrics and seconds",
        "",
        head,
        "|---" * 18 + "|",
    ]
    for r in res["map"]:
        lines.append(
            "| "
            + " | ".join(["ours", "–", "–", "–", r["method"], *_cells(r), "–", "–", "–", "–", "–"])
            + " |"
        )
    targets = []
    for r in res["ours"]:
        t = theirs.get(row_key(r))
        for m, v in r["predictives"].items():
            pm = t["predictives"][PEER_OF[m]] if t and m in PEER_OF else None
            fr = _f(r["fit_s"] / t["fit_s"], 2) if t else "–"
            pr = _f(v["predict_s"] / pm["predict_s"], 2) if pm else "–"
            cells = ["ours", *row_key(r), m, *_cells(v), _f(r["fit_s"]), _f(v["predict_s"], 4)]
            cells += [str(r["repeats"]), fr, pr]
            lines.append("| " + " | ".join(cells) + " |")
            if pm:
                targets.append(
                    (
                        row_key(r),
                        m,
                        v,
                        pm,
                        r["fit_s"] / t["fit_s"],
                        v["predict_s"] / pm["predict_s"],
                    )
                )
        for name, v in t["predictives"].items() if t else []:
            cells = [
                "laplace-torch",
                *row_key(r),
                name,
                *_cells(v),
                _f(t["fit_s"]),
                _f(v["predict_s"], 4),
                str(t["repeats"]),
                "",
                "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "fit s: curvature + prior optimisation, median of the repeats after a first call; "
        "predict s: logit Gaussian + predictive on the 500 test rows, median likewise. "
        "×peer: our seconds / laplace-torch's for the matching configuration and predictive "
        "(mean_field ↔ glm/probit, laplace_bridge ↔ glm/bridge, mc ↔ glm/mc, nn ↔ nn/mc); "
        "our `probit` is the normCDF link (no peer). Closed-form / glm rows of both libraries: "
        "predict s = median(logit moments) + median(link on those moments); n = repeats "
        "after the first call behind each median. Our kron rows use "
        f"fit_laplace(kron_bias='{res.get('kron_bias', 'joint')}') (laplace-torch's KFAC "
        "keeps separate weight and bias blocks).",
    ]
    lines += ["", "## Prior precision and log marginal likelihood", ""]
    lines += [
        "| subset | structure | prior | δ ours | δ laplace-torch | log ML ours "
        "| log ML laplace-torch | "
        "laplace-torch at our δ | fit first call s: ours | laplace-torch | ours: XLA compile s "
        "(count) inside each later fit |",
        "|---" * 11 + "|",
    ]
    for r in res["ours"]:
        t = theirs.get(row_key(r))
        dl = ", ".join(
            f"{x:.4g}" for x in r["prior_precision"][: (6 if "layerwise" in r["prior"] else 1)]
        )
        dt = ", ".join(f"{x:.4g}" for x in t["prior_precision"]) if t else "–"
        at = (
            t["log_marglik_at"].get(repr(r["prior_precision"][0]))
            if t and "layerwise" not in r["prior"]
            else None
        )
        lines.append(
            f"| {' | '.join(row_key(r))} | {dl} | {dt} | {_f(r['log_marglik'])} | "
            f"{_f(t['log_marglik']) if t else '–'} | {_f(at)} | {_f(r['fit_first_s'], 2)} | "
            f"{_f(t['fit_first_s'], 2) if t else '–'} | {r['fit_warm_compile_s']:.2f} "
            f"({r['fit_warm_compiles']:.0f}) |"
        )
    for t in res["laplace_torch"]:
        if "default_metric_prior_precision" in t:
            lines.append(
                f"\nlaplace-torch gridsearch with its default loss (RunningNLLMetric, never "
                f"reset between grid values) picks δ = {t['default_metric_prior_precision']} "
                f"for {'/'.join(row_key(t))}; the rows above use loss=<offline NLL callable>."
            )
    lines += ["", "## KL(MC reference ‖ predictive), mean over test points (test / rotated)", ""]
    lines += [
        "| library | subset | structure | prior | mean_field / probit(lt) | probit (normCDF) | "
        "laplace_bridge / bridge(lt) | bridge_norm (lt) | mc 1000 | sigma_points |",
        "|---" * 10 + "|",
    ]
    for lib, rows in (("ours", res["ours"]), ("laplace-torch", res["laplace_torch"])):
        names = ("glm/probit", None, "glm/bridge", "glm/bridge_norm", "glm/mc", None)
        if lib == "ours":
            names = ("mean_field", "probit", "laplace_bridge", None, "mc", "sigma_points")
        for r in (r for r in rows if r["kl"]):
            cells = [
                f"{r['kl']['test'][n]:.2e} / {r['kl'].get('shift', {}).get(n, float('nan')):.2e}"
                if n
                else "–"
                for n in names
            ]
            lines.append(f"| {lib} | {' | '.join(row_key(r))} | {' | '.join(cells)} |")
    chk = res["dense_last_layer_check"]
    lines += [
        "",
        "## Dense last-layer check of the log marginal likelihood (KFAC variants vs exact GGN)",
        "",
    ]
    names = [k for k in next(iter(chk["at_delta"].values())) if k != "delta"]
    lines.append("| at | δ | " + " | ".join(names) + " |")
    lines.append("|---" * (2 + len(names)) + "|")
    for label, v in chk["at_delta"].items():
        lines.append(
            f"| {label} | {v['delta']:.4g} | " + " | ".join(f"{v[n]:.3f}" for n in names) + " |"
        )
    lines += ["", "| maximiser | δ* | log ML at δ* |", "|---|---|---|"]
    lines += [
        f"| {k} | {v['delta']:.4g} | {v['log_marglik']:.3f} |" for k, v in chk["optimum"].items()
    ]
    for lib, vals in chk.get("reported_at", {}).items():
        lines.append(
            f"\n{lib} reported log ML at δ: "
            + ", ".join(f"{float(k):.4g} → {v:.3f}" for k, v in vals.items())
        )
    lines += ["", "## Targets: raw counts (ours vs laplace-torch, same configuration)", ""]
    if targets:
        n = len(targets)
        ok = {
            "NLL test ≤": sum(
                v["test"]["nll"] <= p["test"]["nll"] + 1e-4 for _, _, v, p, _, _ in targets
            ),
            "ECE test ≤": sum(
                v["test"]["ece"] <= p["test"]["ece"] + 1e-4 for _, _, v, p, _, _ in targets
            ),
            "NLL shift ≤": sum(
                v["shift"]["nll"] <= p["shift"]["nll"] + 1e-4 for _, _, v, p, _, _ in targets
            ),
            "ECE shift ≤": sum(
                v["shift"]["ece"] <= p["shift"]["ece"] + 1e-4 for _, _, v, p, _, _ in targets
            ),
            "fit faster": len({k for k, _, _, _, f, _ in targets if f < 1}),
            "predict faster": sum(pr < 1 for *_, pr in targets),
        }
        nconf = len({k for k, *_ in targets})
        lines += [f"- {k}: {v} / {nconf if k == 'fit faster' else n}" for k, v in ok.items()]
    else:
        lines.append("- laplace-torch not run.")
    lines += ["", *pareto_lines(res)]
    noise = _laplace_digits_targets.markdown(res)
    lines += ["", *noise] if noise else []
    tr, pm = res["train"], res.get("peer_meta") or {}
    lines += [
        "",
        f"MAP: {tr['adam_steps']} Adam + {tr['lbfgs_iterations']} L-BFGS iterations, loss "
        f"{tr['loss']:.4f}, gradient norm {tr['grad_norm']:.2e} ({tr['seconds']:.0f} s); "
        f"MAP+T: T = {res['map'][1]['temperature']:.3f}. float64 everywhere; "
        f"{res['threads']} threads "
        f"(XLA default pool; torch.set_num_threads). jax {res['jax']}, "
        f"torch {pm.get('torch', '–')}, "
        f"laplace-torch {pm.get('laplace_torch', '–')} ({pm.get('backend', '')}). Load average "
        f"before {tuple(round(x, 2) for x in res['loadavg_before'])}, before peer "
        f"{tuple(round(x, 2) for x in res['loadavg_before_peer'])}, after "
        f"{tuple(round(x, 2) for x in res['loadavg_after'])}; total {res['total_seconds']:.0f} s.",
    ]
    if res.get("peer_reused"):
        lines.append(
            f"laplace-torch rows: its run of {res['peer_started']} with the same specification "
            "(same weights, data, our δ, draws and seeds), reused by --reuse-peer; "
            "'before peer' is that run's load."
        )
    return lines


def pareto_lines(res):
    """Does the recommended one-liner Pareto-dominate laplace-torch's default (test, rotated NLL)?

    Dominate: both NLLs ≤ and at least one <. Also lists every laplace-torch last-layer row
    that dominates the recommended one.
    """
    ours = next((r for r in res["ours"] if row_key(r) == RECOMMENDED[0]), None)
    peer = {row_key(t): t for t in res["laplace_torch"]}
    if ours is None or RECOMMENDED[1] not in ours["predictives"] or not peer:
        return ["Pareto check: not run (needs the recommended row and laplace-torch)."]

    def nlls(v):
        return v["test"]["nll"], v["shift"]["nll"]

    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

    rec = nlls(ours["predictives"][RECOMMENDED[1]])
    t_default = peer.get(PEER_DEFAULT[0])
    lines = ["## Pareto check on (test NLL, rotated NLL)", ""]
    name = "/".join(RECOMMENDED[0]) + " " + RECOMMENDED[1]
    lines.append(f"- recommended (ours {name}): {rec[0]:.4f}, {rec[1]:.4f}")
    if t_default:
        d = nlls(t_default["predictives"][PEER_DEFAULT[1]])
        lines.append(
            f"- laplace-torch default ({'/'.join(PEER_DEFAULT[0])} {PEER_DEFAULT[1]}): "
            f"{d[0]:.4f}, {d[1]:.4f}; dominated by the recommended: {dominates(rec, d)}"
        )
    beaters = [
        f"{'/'.join(k)} {m}"
        for k, t in peer.items()
        if k[0] == "last_layer"
        for m, v in t["predictives"].items()
        if dominates(nlls(v), rec)
    ]
    lines.append(
        "- laplace-torch last-layer rows that dominate the recommended: "
        + (", ".join(beaters) if beaters else "none")
    )
    return lines
