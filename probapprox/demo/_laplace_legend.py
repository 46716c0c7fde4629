"""One explaining line per row of the Laplace section's table (printed under the table)."""

from __future__ import annotations

from typing import Any

__all__ = ["explain_laplace_rows"]

_SPLITS = {
    "test": "held-out digits",
    "shift30": "held-out digits rotated by 30° (a distribution shift: accuracy drops, and a "
    "calibrated model should become less confident)",
}
_METHODS = {
    "MAP": "the trained network's own softmax probabilities, no weight uncertainty",
    "MAP + temperature": "the MAP logits divided by one temperature T fitted on validation "
    "data (the standard recalibration baseline)",
}
_PREDICTIVES = {
    "mean_field": "Gaussian over the logits pushed through the softmax by the mean-field "
    "approximation (one closed form, no sampling)",
    "probit": "the normCDF-link predictive: made for networks trained with a probit link, so on "
    "this softmax-trained net it is a model mismatch, which is why its NLL is high",
    "mc": "Monte Carlo average of softmax over draws from the Gaussian over the logits",
    "softmax": "",
}


def explain_laplace_rows(rows: list[Any]) -> list[str]:
    """The legend, then ``- split / method / predictive: ...`` for each row of the table."""
    lines = [
        "acc: accuracy (higher is better); NLL, ECE (calibration error) and Brier: lower is "
        "better; mean max-p: the average confidence; fit s: seconds to fit the method.",
        "",
    ]
    for r in rows:
        what = _METHODS.get(r.method)
        if what is None:  # a Laplace posterior
            what = f"{r.method} Laplace posterior of the weights; " + _PREDICTIVES.get(
                r.predictive, r.predictive
            )
        lines.append(
            f"- {r.split} / {r.method} / {r.predictive}: {what}; on the "
            f"{_SPLITS.get(r.split, r.split)}."
        )
    return lines
