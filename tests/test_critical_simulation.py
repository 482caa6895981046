"""Wide random tanh networks against the mean-field predictions of derive.maths.critical and
derive.maths.meanfield (fixed seeds, bands derived from the width).

Two inputs enter with pre-activation covariance q* [[1, c0], [c0, 1]], c0 = 0.99 (two close
inputs); each layer is z' = W tanh(z) + b with W_ij ~ N(0, sigma_w^2 / N), b_i ~ N(0, sigma_b^2)
(one b for both inputs), N = WIDTH units.  The measured quantity is the empirical correlation
c_l = <z_a z_b> / sqrt(<z_a^2> <z_b^2>) over the units, and e_l = 1 - c_l, the inputs' distance.

* At the critical point of tanh at sigma_b^2 = 0.05 (chi_1 = 1) e_l stays near e_0 for tens of
  layers: its decay is polynomial (xi_c is infinite).
* At sigma_w^2 = 1.2 (ordered, chi_1 = 0.845) e_l decays like exp(-l / xi_c) with the module's
  xi_c = -1 / ln chi_1.

Predictions (independent of the module's quadrature: float64 Gauss-Hermite, 60 x 60 nodes).
Given layer l, the units of z^(l+1) are i.i.d. N(0, K_(l+1)) with
K_(l+1) = sigma_w^2 <tanh(z^l) tanh(z^l)^T> + sigma_b^2 (the average over the N units), so
K follows K_(l+1) = G(K_l) + eta_l, G(K) = sigma_w^2 E[tanh(u) tanh(u)^T] + sigma_b^2 for
u ~ N(0, K) (the mean-field map), with noise eta_l of covariance sigma_w^4 Cov[tanh tanh^T] / N,
and the measured second moments are S_l = K_l + omega_l, omega_l of covariance Cov[u u^T] / N,
correlated with eta_l (both averages over the same units) by Cov[tanh tanh^T, u u^T] / N.  The
linear-noise approximation (van Kampen) propagates P_(l+1) = J_l P_l J_l^T + Cov[eta_l],
J_l = dG/dK (central differences), along the mean-field path K_l; the variance of
y_l = ln(1 - rho(S_l)) is g^T (P_l + Cov[omega_l]) g with g = d ln(1 - rho)/dS, and the
covariance of y_l2 and y_l1 is g2^T J_(l2-1)...J_(l1+1) (J_l1 P_l1 + sigma_w^2 Cov[tanh tanh^T,
u u^T] / N) g1.  Every band is BAND standard deviations of the mean of MODELS networks.  What
the approximation leaves out is a bias of order 1/N plus Jensen's -Var[y]/2 (the mean of a log):
over seeds 1-6 (24 networks) the mean z-score of the checks was -0.6 and the largest |z| 2.4,
so BAND = 4 keeps more than 3 standard deviations of margin at these sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath
import numpy as np
import numpy.typing as npt
import pytest

from derive.maths.critical import critical_point
from derive.maths.meanfield import meanfield_point

Array = npt.NDArray[np.float64]
WIDTH = 1000
MODELS = 4  # independent networks, averaged
LAYERS = 30
BIAS_VARIANCE = 0.05
ORDERED_WEIGHT_VARIANCE = "1.2"
C0 = 0.99
BAND = 4.0
SEED = 20261128
CHECK_LAYERS = (10, 20, 30)

_Z, _WZ = np.polynomial.hermite_e.hermegauss(60)
_WZ = _WZ / math.sqrt(2 * math.pi)
_Z1, _Z2 = np.meshgrid(_Z, _Z, indexing="ij")
_W2 = np.outer(_WZ, _WZ)


def _matrix(k: Array) -> Array:
    return np.array([[k[0], k[1]], [k[1], k[2]]])


def _moments(k: Array) -> tuple[Array, Array, Array, Array]:
    """E[f f^T], Cov[f f^T], Cov[f f^T, u u^T], Cov[u u^T] as 3-vectors (aa, ab, bb) and 3x3
    matrices, u ~ N(0, K), f = tanh(u), by the 60 x 60 Gauss-Hermite product rule."""
    low = np.linalg.cholesky(_matrix(k))
    ua = low[0, 0] * _Z1
    ub = low[1, 0] * _Z1 + low[1, 1] * _Z2
    fa, fb = np.tanh(ua), np.tanh(ub)
    f = np.stack([fa * fa, fa * fb, fb * fb])
    u = np.stack([ua * ua, ua * ub, ub * ub])
    mf = np.einsum("kij,ij->k", f, _W2)
    mu = np.einsum("kij,ij->k", u, _W2)

    def cov(x: Array, mx: Array, y: Array, my: Array) -> Array:
        return np.asarray(np.einsum("kij,lij,ij->kl", x, y, _W2) - np.outer(mx, my))

    return mf, cov(f, mf, f, mf), cov(f, mf, u, mu), cov(u, mu, u, mu)


def _g_map(k: Array, w2: float, b2: float) -> Array:
    return w2 * _moments(k)[0] + b2


def _length_map(q: float, w2: float, b2: float) -> float:
    """sigma_w^2 E[tanh(sqrt(q) z)^2] + sigma_b^2 (one-dimensional Gauss-Hermite)."""
    return float(w2 * np.sum(_WZ * np.tanh(math.sqrt(q) * _Z) ** 2) + b2)


def _log_distance_gradient(s: Array) -> tuple[float, Array]:
    """y = ln(1 - rho), rho = s_ab / sqrt(s_aa s_bb), and dy/ds."""
    rho = s[1] / math.sqrt(s[0] * s[2])
    grad_rho = np.array([-rho / (2 * s[0]), 1 / math.sqrt(s[0] * s[2]), -rho / (2 * s[2])])
    return math.log(1 - rho), -grad_rho / (1 - rho)


@dataclass(frozen=True)
class Prediction:
    y: Array  # ln(1 - c_l), l = 0..LAYERS, on the mean-field path
    var: Array  # Var[y_l] for one network of width WIDTH
    cross: dict[tuple[int, int], float]  # Cov[y_l2, y_l1] for the pairs asked for


def predict(w2: float, b2: float, q: float, pairs: tuple[tuple[int, int], ...] = ()) -> Prediction:
    """The mean-field path and the linear-noise variances (module docstring)."""
    k = np.array([q, q * C0, q])
    p = np.zeros((3, 3))
    ys, vs = [], []
    states: list[tuple[Array, Array, Array, Array]] = []  # (K, P, J, Cov[eta, omega])
    for layer in range(LAYERS + 1):
        mf, cff, cfu, cuu = _moments(k)
        y, g = _log_distance_gradient(k)
        ys.append(y)
        vs.append(float(g @ (p + cuu / WIDTH) @ g))
        jac = np.zeros((3, 3))
        for j in range(3):
            step = np.zeros(3)
            step[j] = 1e-6 * q
            jac[:, j] = (_g_map(k + step, w2, b2) - _g_map(k - step, w2, b2)) / (2e-6 * q)
        states.append((k, p, jac, w2 * cfu / WIDTH))
        if layer == LAYERS:
            break
        p = jac @ p @ jac.T + w2 * w2 * cff / WIDTH
        k = w2 * mf + b2
    cross = {}
    for l2, l1 in pairs:
        k1, p1, j1, c1 = states[l1]
        _, g1 = _log_distance_gradient(k1)
        _, g2 = _log_distance_gradient(states[l2][0])
        m = j1 @ p1 + c1.T  # Cov[K_(l1+1), S_l1]
        for layer in range(l1 + 1, l2):
            m = states[layer][2] @ m
        cross[(l2, l1)] = float(g2 @ m @ g1)
    return Prediction(np.array(ys), np.array(vs), cross)


def simulate(networks: list[tuple[float, float]], b2: float) -> list[Array]:
    """ln(1 - c_l), l = 0..LAYERS, rows = the MODELS networks, for each (sigma_w^2, q*) asked:
    every one is run on the same standard-normal draws (one seeded generator, each layer's
    weights drawn once and scaled by each sigma_w)."""
    rng = np.random.default_rng(SEED)
    start = rng.standard_normal((MODELS, WIDTH, 2))
    zs = []
    for _, q in networks:
        low = np.linalg.cholesky(q * np.array([[1.0, C0], [C0, 1.0]]))
        zs.append(start @ low.T)
    out = [np.empty((MODELS, LAYERS + 1)) for _ in networks]
    for layer in range(LAYERS + 1):
        for z, measured in zip(zs, out, strict=True):
            c = np.sum(z[..., 0] * z[..., 1], axis=1) / np.sqrt(
                np.sum(z[..., 0] ** 2, axis=1) * np.sum(z[..., 1] ** 2, axis=1)
            )
            measured[:, layer] = np.log1p(-c)
        if layer == LAYERS:
            break
        normals = rng.standard_normal((MODELS, WIDTH, WIDTH))
        biases = math.sqrt(b2) * rng.standard_normal((MODELS, WIDTH, 1))
        for i, (w2, _) in enumerate(networks):
            zs[i] = math.sqrt(w2 / WIDTH) * (normals @ np.tanh(zs[i])) + biases
    return out


@dataclass(frozen=True)
class Case:
    w2: float
    q: float
    measured: Array
    prediction: Prediction


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    """Both networks on the same standard-normal draws (scaled by their sigma_w)."""
    critical = critical_point("tanh", str(BIAS_VARIANCE), digits=17).points[0]
    ordered = meanfield_point("tanh", ORDERED_WEIGHT_VARIANCE, str(BIAS_VARIANCE), digits=17)
    assert critical.q_star is not None
    networks = {
        "critical": (float(critical.weight_variance), float(critical.q_star)),
        "ordered": (float(ORDERED_WEIGHT_VARIANCE), float(ordered.q_star)),
    }
    measured = simulate(list(networks.values()), BIAS_VARIANCE)
    pairs = tuple((l2, l1) for l2 in CHECK_LAYERS for l1 in CHECK_LAYERS if l1 < l2)
    return {
        name: Case(w2, q, runs, predict(w2, BIAS_VARIANCE, q, pairs))
        for (name, (w2, q)), runs in zip(networks.items(), measured, strict=True)
    }


def test_the_independent_map_has_the_modules_fixed_points(cases: dict[str, Case]) -> None:
    """q* = G(q*) on the diagonal, by Gauss-Hermite: the prediction starts where the module
    says the length map rests (to 1e-10, the Gauss-Hermite rule's accuracy here)."""
    for case in cases.values():
        assert abs(_length_map(case.q, case.w2, BIAS_VARIANCE) - case.q) < 1e-10 * case.q


def _z_score(case: Case, layer: int) -> float:
    mean = float(np.mean(case.measured[:, layer]))
    sd = math.sqrt(case.prediction.var[layer] / MODELS)
    return (mean - case.prediction.y[layer]) / sd


def test_at_the_critical_point_two_close_inputs_stay_apart_over_30_layers_as_predicted(
    cases: dict[str, Case],
) -> None:
    """chi_1 = 1: the mean-field path keeps e_30 / e_0 above 0.9 (no exponential decay), and
    the networks' mean ln e_l is within BAND standard deviations of it at layers 10, 20, 30."""
    case = cases["critical"]
    y = case.prediction.y
    assert math.exp(y[LAYERS] - y[0]) > 0.9
    for layer in CHECK_LAYERS:
        assert abs(_z_score(case, layer)) < BAND, (layer, _z_score(case, layer))


def test_off_critical_the_inputs_merge_at_the_predicted_depth_scale(
    cases: dict[str, Case],
) -> None:
    """Ordered (sigma_w^2 = 1.2): the measured decay rate of ln e_l between layers 10 and 30
    is 1 / xi_c of derive.maths.meanfield, within BAND standard deviations of the difference
    (its variance from the linear-noise covariances) plus the mean-field path's own departure
    from the asymptotic rate."""
    case = cases["ordered"]
    xi_c = meanfield_point("tanh", ORDERED_WEIGHT_VARIANCE, str(BIAS_VARIANCE), digits=15).xi_c
    assert xi_c is not None and 5 < xi_c < 7
    lo, hi = 10, 30
    measured = float(np.mean(case.measured[:, hi] - case.measured[:, lo])) / (hi - lo)
    path = (case.prediction.y[hi] - case.prediction.y[lo]) / (hi - lo)
    var = (
        case.prediction.var[hi] + case.prediction.var[lo] - 2 * case.prediction.cross[(hi, lo)]
    ) / MODELS
    sd = math.sqrt(var) / (hi - lo)
    rate = -1 / float(xi_c)
    assert abs(path - rate) < 0.01 * abs(rate)  # e_l ~ 0.004 or less: the linear regime
    assert abs(measured - rate) < BAND * sd + abs(path - rate), (measured, rate, sd)
    assert BAND * sd < 0.2 * abs(rate)  # the band pins the depth scale to 20%
    for layer in CHECK_LAYERS:
        assert abs(_z_score(case, layer)) < BAND, (layer, _z_score(case, layer))


def test_the_mean_field_path_decays_at_the_modules_rate_asymptotically() -> None:
    """Far down the ordered path (layers 60 to 80) the step ratio of e_l is chi_1 = exp(-1/xi_c)
    to 1e-6: the module's xi_c is the path's asymptotic depth scale."""
    m = meanfield_point("tanh", ORDERED_WEIGHT_VARIANCE, str(BIAS_VARIANCE), digits=15)
    assert m.chi1 is not None and m.xi_c is not None and m.q_star is not None
    q = float(m.q_star)
    k = np.array([q, q * C0, q])
    es = []
    for _ in range(81):
        es.append(1 - k[1] / math.sqrt(k[0] * k[2]))
        k = _g_map(k, float(ORDERED_WEIGHT_VARIANCE), BIAS_VARIANCE)
    ratio = (es[80] / es[60]) ** (1 / 20)
    with mpmath.workdps(20):
        assert abs(ratio - float(mpmath.exp(-1 / m.xi_c))) < 1e-6


def test_the_bands_would_catch_a_weight_variance_10_percent_off_critical(
    cases: dict[str, Case],
) -> None:
    """Power: with sigma_w^2 10% below the critical value (and its own q*) the predicted
    ln e_30 is more than BAND + 2 standard deviations from the measured critical networks, so a
    critical point solved 10% wrong would fail the test above."""
    case = cases["critical"]
    w2 = 0.9 * case.w2
    q = case.q
    for _ in range(200):
        q = _length_map(q, w2, BIAS_VARIANCE)
    wrong = predict(w2, BIAS_VARIANCE, q)
    sd = math.sqrt(case.prediction.var[LAYERS] / MODELS)
    mean = float(np.mean(case.measured[:, LAYERS]))
    assert abs(wrong.y[LAYERS] - mean) > (BAND + 2) * sd
