"""Binomial proportions with confidence intervals.

Methods (``method=``):

* ``clopper-pearson`` — the exact interval (R ``binom.test``; epiR ``method="exact"``).
* ``wilson`` — the score interval without continuity correction (R ``prop.test(correct=FALSE)``).
* ``jeffreys`` — equal-tailed Beta(x + ½, n − x + ½) interval, with the lower bound 0 at x = 0
  and the upper bound 1 at x = n (Brown, Cai & DasGupta 2001; statsmodels omits this).
* ``agresti-coull`` — the "add z²/2 successes and failures" Wald interval, clipped to [0, 1].
* ``logit`` — the standard logit interval, expit(logit p̂ ± z·√(1/x + 1/(n − x)))
  (Mercaldo, Lau & Zhou 2007; MedCalc's interval for predictive values). It is undefined at
  0 % and 100 %, where it falls back to Clopper–Pearson, as MedCalc does; the method name
  records the fallback.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# scipy.special only: scipy.stats takes most of a second to import, and the calculators start fast.
from scipy.special import betaincinv, expit, logit, ndtri

from .checks import count

CI_METHODS = ("clopper-pearson", "wilson", "jeffreys", "agresti-coull", "logit")
_ALIASES = {"exact": "clopper-pearson", "clopper_pearson": "clopper-pearson", "cp": "clopper-pearson",
            "agresti_coull": "agresti-coull", "agresti": "agresti-coull"}


@dataclass(frozen=True)
class Proportion:
    """x / n with its confidence interval and the method that made it."""

    estimate: float
    ci_low: float
    ci_high: float
    method: str
    x: int
    n: int
    conf_level: float = 0.95

    def summary(self, percent: bool = True) -> str:
        if math.isnan(self.estimate):
            return f"undefined ({self.x}/{self.n}; {self.method})"
        scale, unit = (100.0, " %") if percent else (1.0, "")
        return (f"{self.estimate * scale:.2f}{unit} ({self.conf_level:.0%} CI {self.ci_low * scale:.2f}"
                f"–{self.ci_high * scale:.2f}{unit}; {self.x}/{self.n}; {self.method})")

    def as_dict(self) -> dict:
        return asdict(self)


def z_value(conf_level: float) -> float:
    """Two-sided normal quantile (qnorm(0.975) for 95 %)."""
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be between 0 and 1, got {conf_level}")
    return float(ndtri(1 - (1 - conf_level) / 2))


def normalize_method(method: str) -> str:
    key = method.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in CI_METHODS:
        raise ValueError(f"unknown CI method {method!r}; choose one of {', '.join(CI_METHODS)}")
    return key


def _check_counts(x: int, n: int) -> tuple[int, int]:
    x, n = count(x, "numerator"), count(n, "denominator")
    if x > n:
        raise ValueError(f"numerator {x} exceeds denominator {n}")
    return x, n


def clopper_pearson(x: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    alpha = 1 - conf_level
    low = 0.0 if x == 0 else float(betaincinv(x, n - x + 1, alpha / 2))
    high = 1.0 if x == n else float(betaincinv(x + 1, n - x, 1 - alpha / 2))
    return low, high


def wilson(x: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    z = z_value(conf_level)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if x == 0 else max(0.0, centre - half)
    high = 1.0 if x == n else min(1.0, centre + half)
    return low, high


def jeffreys(x: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    alpha = 1 - conf_level
    low = 0.0 if x == 0 else float(betaincinv(x + 0.5, n - x + 0.5, alpha / 2))
    high = 1.0 if x == n else float(betaincinv(x + 0.5, n - x + 0.5, 1 - alpha / 2))
    return low, high


def agresti_coull(x: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    z = z_value(conf_level)
    n_tilde = n + z * z
    p_tilde = (x + z * z / 2) / n_tilde
    half = z * math.sqrt(p_tilde * (1 - p_tilde) / n_tilde)
    return max(0.0, p_tilde - half), min(1.0, p_tilde + half)


def logit_interval(x: int, n: int, conf_level: float = 0.95) -> tuple[float, float]:
    """Standard logit interval; only defined for 0 < x < n."""
    z = z_value(conf_level)
    centre = float(logit(x / n))
    half = z * math.sqrt(1 / x + 1 / (n - x))
    return float(expit(centre - half)), float(expit(centre + half))


_INTERVALS = {
    "clopper-pearson": clopper_pearson,
    "wilson": wilson,
    "jeffreys": jeffreys,
    "agresti-coull": agresti_coull,
}


def proportion_ci(x: int, n: int, method: str = "clopper-pearson", conf_level: float = 0.95) -> Proportion:
    """x/n with a confidence interval; n = 0 gives an undefined (NaN) proportion, not an error."""
    x, n = _check_counts(x, n)
    method = normalize_method(method)
    z_value(conf_level)  # validates conf_level
    if n == 0:
        nan = float("nan")
        return Proportion(nan, nan, nan, f"{method} (undefined: zero denominator)", x, n, conf_level)
    if method == "logit":
        if 0 < x < n:
            low, high = logit_interval(x, n, conf_level)
            name = "logit (Mercaldo 2007)"
        else:
            low, high = clopper_pearson(x, n, conf_level)
            name = "clopper-pearson (logit undefined at 0 % or 100 %)"
    else:
        low, high = _INTERVALS[method](x, n, conf_level)
        name = method
    return Proportion(x / n, low, high, name, x, n, conf_level)
