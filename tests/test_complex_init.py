"""Complex weights in generated/numpy_init.py and generated/torch_init.py.

E|w|^2 is checked at n = 2**22 against scale / fan with the standard error of a mean of |w|^2
from the law's own E|z|^4 (derive.maths.complex_truncnorm, mpmath): |z| < 6, and the same
check fails on a 1% error in the std.  The modulus is checked by KS against the truncated
Exp(1) law of |z|^2, the angle against the uniform law.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

from derive.maths.complex_truncnorm import complex_truncnorm_moments
from tests.conftest import load_generated, require
from tests.stats import KS_P_MIN, Z_BAND


@pytest.fixture(scope="module")
def ni() -> ModuleType:
    return load_generated("numpy_init")


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return require("torch")


@pytest.fixture(scope="module")
def ti(torch: ModuleType) -> ModuleType:
    return load_generated("torch_init")


def _z(w: np.ndarray, variance: float, second: float, fourth: float) -> float:
    """z of the sample E|w|^2: relative SE sqrt(E|z|^4 / (E|z|^2)^2 - 1) / sqrt(n)."""
    p = np.abs(np.asarray(w).astype(np.complex128)) ** 2
    return (float(p.mean()) / variance - 1.0) / (
        math.sqrt(fourth / second**2 - 1.0) / math.sqrt(p.size)
    )


def _truncated(radius: str = "2") -> tuple[float, float, float]:
    m = complex_truncnorm_moments(radius, 30)
    return float(m.second_moment), float(m.fourth_moment), float(m.std)


LAWS = {"uniform": (1.0, 4.0 / 3.0), "untruncated_normal": (1.0, 2.0)}


@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_numpy_complex_second_moment_is_scale_over_fan(
    ni: ModuleType, dtype: type, distribution: str
) -> None:
    w = ni.variance_scaling((2048, 2048), scale=2.0, distribution=distribution, dtype=dtype, rng=5)
    assert w.dtype == np.dtype(dtype) and w.shape == (2048, 2048)
    second, fourth = LAWS.get(distribution, _truncated()[:2])
    assert abs(_z(w, 2.0 / 2048, second, fourth)) < Z_BAND
    assert abs(_z(w * 1.01, 2.0 / 2048, second, fourth)) > 5 * Z_BAND  # the check's power


@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_torch_complex_second_moment_is_scale_over_fan(
    ti: ModuleType, torch: ModuleType, distribution: str
) -> None:
    w = torch.empty(2048, 2048, dtype=torch.complex64)  # [out, in]: fan_in 2048
    ti.variance_scaling_(
        w, scale=2.0, distribution=distribution, generator=torch.Generator().manual_seed(3)
    )
    second, fourth = LAWS.get(distribution, _truncated()[:2])
    x = w.numpy()
    assert abs(_z(x, 2.0 / 2048, second, fourth)) < Z_BAND
    assert abs(_z(x * 1.01, 2.0 / 2048, second, fourth)) > 5 * Z_BAND


def test_named_rules_take_complex_tensors_and_dtypes(
    ni: ModuleType, ti: ModuleType, torch: ModuleType
) -> None:
    second, fourth, std = _truncated()
    w = torch.empty(1024, 512, 2, 2, dtype=torch.complex128)
    ti.he_normal_(w, generator=torch.Generator().manual_seed(1))
    assert abs(_z(w.numpy(), 2.0 / 2048, second, fourth)) < Z_BAND
    assert float(w.abs().max()) <= 2.0 * math.sqrt(2.0 / 2048) / std * (1 + 1e-12)
    x = ni.glorot_normal((1024, 3072), dtype=np.complex64, rng=2)
    assert abs(_z(x, 1.0 / 2048, second, fourth)) < Z_BAND


@pytest.mark.parametrize("radius", ["0.5", "2", "3.5"])
def test_modulus_and_angle_follow_the_truncated_law(
    ni: ModuleType, ti: ModuleType, torch: ModuleType, radius: str
) -> None:
    r = float(radius)
    _, _, std = _truncated(radius)
    factor = math.sqrt(1.0 / 512) / std
    mass = -math.expm1(-r * r)
    x = ni.complex_variance_scaling((512, 256), radius=r, dtype=np.complex128, rng=9).ravel()
    w = torch.empty(256, 512, dtype=torch.complex128)
    ti.complex_variance_scaling_(w, radius=r, generator=torch.Generator().manual_seed(9))
    for sample in (x, w.numpy().ravel()):
        t = np.abs(sample / factor) ** 2
        assert t.max() <= r * r * (1 + 1e-12)
        assert stats.kstest(t, lambda v: -np.expm1(-np.clip(v, 0, None)) / mass).pvalue > KS_P_MIN
        assert (
            stats.kstest(np.angle(sample), stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue
            > KS_P_MIN
        )


def test_complex_bad_input_names_the_argument(
    ni: ModuleType, ti: ModuleType, torch: ModuleType
) -> None:
    accepted = r"\(accepted: a real number, 0 < radius <= inf\)$"
    with pytest.raises(ValueError, match=rf"^radius: 0.0 is out of range {accepted}"):
        ni.complex_variance_scaling((4, 4), radius=0.0)
    with pytest.raises(ValueError, match=r"^lower, upper: \[-3.0, 3.0\] apply to real dtypes"):
        ni.variance_scaling((4, 4), lower=-3.0, upper=3.0, dtype=np.complex64)
    with pytest.raises(TypeError, match=r"^dtype: .* \(accepted: complex64, complex128\)$"):
        ni.complex_variance_scaling((4, 4), dtype=np.float32)
    w = torch.empty(4, 4, dtype=torch.complex64)
    with pytest.raises(ValueError, match=rf"^radius: nan is out of range {accepted}"):
        ti.complex_variance_scaling_(w, radius=math.nan)
    with pytest.raises(TypeError, match=r"^radius: '2' is not a real number \(accepted: "):
        ni.complex_variance_scaling((4, 4), radius="2")
    with pytest.raises(ValueError, match=r"^lower, upper: \[5.0, 6.0\] apply to real tensors"):
        ti.variance_scaling_(w, lower=5.0, upper=6.0)
    with pytest.raises(TypeError, match=r"^tensor: torch.float32 is not complex"):
        ti.complex_variance_scaling_(torch.empty(4, 4))
