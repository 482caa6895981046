"""Statistical checks for samplers, with bands derived from theory.

* Mean: z = (xbar - mu) / (sigma / sqrt(n)).
* Variance: the sample variance of n draws has relative standard error
  sqrt((gamma_2 + 2) / n) to first order, gamma_2 the excess kurtosis
  (Var[s^2] = sigma^4 (gamma_2 + 2) / n + O(n^-2)); z = (s^2/sigma^2 - 1) / that.
* |z| < Z_BAND = 6 keeps a false alarm below 2e-9 per check.  With n = 2**20 and
  gamma_2 = -0.63 (the +-2 cutoff), the variance SE is 0.114%; a 1% error in the std is a
  2.01% error in the variance, z ~ 17.6: the check cannot miss it.
* KS against the exact CDF, p > 1e-4.
* Power: variance_sample_size() gives the n with which the variance check moves by 12 (twice
  the band) when the std is off by 1%, from the kurtosis alone: a uniform needs 291k draws,
  a normal 727k, the +-2 truncated normal 497k, a far tail such as (-inf, -5] 2.46M.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

Z_BAND = 6.0
KS_P_MIN = 1e-4


def truncnorm_cdf(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """CDF of N(0,1) truncated to [lower, upper], accurate in far tails (log-space survival)."""
    x = np.clip(np.asarray(x, dtype=np.float64), lower, upper)
    if lower >= 0:  # right tail: ratios of survival functions
        log_qa = special.log_ndtr(-lower)
        num = -np.expm1(special.log_ndtr(-x) - log_qa)
        den = (
            -math.expm1(float(special.log_ndtr(-upper)) - float(log_qa))
            if math.isfinite(upper)
            else 1.0
        )
        return num / den
    if upper <= 0:  # left tail: mirror
        return 1.0 - truncnorm_cdf(-x, -upper, -lower)
    z = special.ndtr(upper) - special.ndtr(lower)
    return (special.ndtr(x) - special.ndtr(lower)) / z


@dataclass(frozen=True)
class MomentCheck:
    n: int
    z_mean: float
    z_var: float

    @property
    def ok(self) -> bool:
        return abs(self.z_mean) < Z_BAND and abs(self.z_var) < Z_BAND


def moment_z(samples: np.ndarray, mean: float, std: float, excess_kurtosis: float) -> MomentCheck:
    """z-scores of the sample mean and variance against the exact moments."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    n = x.size
    xbar = float(x.mean())
    s2 = float(x.var(ddof=1))
    z_mean = (xbar - mean) / (std / math.sqrt(n))
    rel_se = math.sqrt((excess_kurtosis + 2.0) / n)
    z_var = (s2 / (std * std) - 1.0) / rel_se
    return MomentCheck(n=n, z_mean=z_mean, z_var=z_var)


def variance_sample_size(
    excess_kurtosis: float, std_error: float = 0.01, z_shift: float = 2.0 * Z_BAND
) -> int:
    """Draws with which a relative error ``std_error`` in the std moves the variance z-score
    of moment_z() by at least ``z_shift``; a multiple of 1024.

    A std off by the factor 1 -+ e moves the variance by the factor (1 -+ e)^2, by at least
    d = 1 - (1 - e)^2 (0.0199 for e = 1%).  The sample variance's relative standard error is
    sqrt((kappa - 1) / n), kappa = gamma_2 + 3 the kurtosis (1.8 for a uniform, 3 for a
    normal), so the z-score moves by d sqrt(n / (gamma_2 + 2)) >= z_shift for
    n >= (gamma_2 + 2) (z_shift / d)^2.  With z_shift = 12 = 2 Z_BAND a correct sampler
    passes |z| < 6 and one whose std is 1% off has z ~ N(+-12, 1): it passes with
    probability below 1e-9.
    """
    d = 1.0 - (1.0 - std_error) ** 2
    n = (excess_kurtosis + 2.0) * (z_shift / d) ** 2
    return 1024 * math.ceil(n / 1024)


def ks_pvalue(samples: np.ndarray, lower: float, upper: float) -> float:
    x = np.asarray(samples, dtype=np.float64).ravel()
    return float(stats.kstest(x, lambda v: truncnorm_cdf(v, lower, upper)).pvalue)


def truncnorm_pdf(x: float, lower: float, upper: float) -> float:
    """Density of N(0,1) truncated to [lower, upper] at a point inside it (log-space mass)."""
    if lower >= 0:
        log_mass = (
            float(special.log_ndtr(-lower))
            + math.log1p(
                -math.exp(float(special.log_ndtr(-upper)) - float(special.log_ndtr(-lower)))
            )
            if math.isfinite(upper)
            else float(special.log_ndtr(-lower))
        )
    elif upper <= 0:
        return truncnorm_pdf(-x, -upper, -lower)
    else:
        log_mass = math.log(float(special.ndtr(upper) - special.ndtr(lower)))
    return math.exp(-0.5 * x * x - 0.5 * math.log(2 * math.pi) - log_mass)


def expected_bound_hits(
    n: int, bound: float, lower: float, upper: float, scale: float, dtype: np.dtype
) -> float:
    """Expected number of n correct draws that round onto ``bound * scale`` in ``dtype``:
    n * density at the bound * half an ulp (in units of the underlying normal's std)."""
    if not math.isfinite(bound):
        return 0.0
    value = np.asarray(bound * scale, dtype=dtype)
    half_ulp = float(np.spacing(np.abs(value))) / 2.0 / scale
    return n * truncnorm_pdf(bound, lower, upper) * half_ulp


def basic_sanity(samples: np.ndarray, lower: float, upper: float, scale: float = 1.0) -> None:
    """Finite, no FLT_MAX, within [lower, upper]*scale, more than half distinct, and no pile-up
    on a bound: at most 5 + 10x the hits that rounding alone explains (an inverse-CDF
    sampler that collapses puts a large fraction of its draws there)."""
    x = np.asarray(samples).ravel()
    assert np.all(np.isfinite(x)), "non-finite values"
    finfo = np.finfo(x.dtype)
    assert not np.any(np.abs(x) == finfo.max), "FLT_MAX in output"
    lo = np.asarray(lower * scale, dtype=x.dtype)
    hi = np.asarray(upper * scale, dtype=x.dtype)
    assert np.all(x >= lo) and np.all(x <= hi), f"values outside [{lo}, {hi}]"
    assert np.unique(x).size > x.size // 2, "fewer than half the values are distinct"
    for bound, at in ((lower, lo), (upper, hi)):
        hits = int(np.count_nonzero(x == at))
        allowed = 5 + 10 * expected_bound_hits(x.size, bound, lower, upper, scale, x.dtype)
        assert hits <= allowed, f"{hits} values on the bound {at} (rounding explains {allowed:.1f})"
