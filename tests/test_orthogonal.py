"""Orthogonal and delta-orthogonal initializers of the three generated files.

Orthogonality.  For W (rows, cols) with g the gain, the error is max |W^T W - g^2 I| / g^2
(tall) or max |W W^T - g^2 I| / g^2 (wide), the Gram matrix computed in float64 (exact
products of float32 entries; for float64 entries its own rounding is included).  Householder
QR's rounding errors combine like a random walk over the n reflections, so the error grows
like sqrt(n) u (u the unit roundoff, Higham, "Accuracy and Stability of Numerical
Algorithms", 2nd ed., sec. 2.8 and ch. 19; the worst-case bound of ch. 19 is n^(3/2) u, far
looser).  The bound used here is ``ortho_bound(n, u) = 4 sqrt(n) u``; measured constants
(sqrt(n) u units) are 0.23-0.94 for torch (MKL) and TF (Eigen), in float32 and float64,
n = 256 to 4096.  The float32 check at 4096 x 4096 uses the issue's 1e-5 (2.6 sqrt(n) u),
once per framework that factors in float32 (torch, TF).  NumPy's np.linalg.qr factors
float32 input in float64 and rounds Q once, so its float32 error is at most
e64 + 2 u32 + u32^2 whatever n (Cauchy-Schwarz on the rounding errors, |delta_ij| <=
u32 |q_ij|): checked at 1024 x 1024 against that bound (measured at 4096: 5.4e-9; a
4096 float64 QR takes 50 s on this 2-core machine, so it is not repeated here).

Haar law.  For Q (m x k, m >= k) uniform on the orthonormal frames, E[Q_ij Q_kl] =
delta_ik delta_jl / m (invariance under sign flips of rows and of columns), so the trace of
its top k x k block, T = sum_j Q_jj, has E[T] = 0 and Var[T] = k / m exactly; over M
independent draws z = sum T / sqrt(M k / m), |z| < Z_BAND = 6.  And Q_11 is the first
coordinate of a uniform point of the sphere S^(m-1): Q_11^2 ~ Beta(1/2, (m - 1) / 2), sign
symmetric; KS of Q_11 over the M draws against that CDF, p > KS_P_MIN = 1e-4.  Without the
sign fix, LAPACK's (and Eigen's) Householder QR gives Q_11 = -|Q_11| always and E[T] < 0:
measured E[T] = -2.42 for 16 x 16, -1.24 for 24 x 8 (exactly E[Q_11] = -E|Q_11| =
-Gamma(m/2) / (sqrt(pi) Gamma((m + 1) / 2)) for the first term), so with M = 100 the
unfixed QR gives z ~ -24 and -21 and a KS p-value near 0: the power tests below run the
same checks on a deliberately sign-unfixed QR of each framework and see them fail.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy import special, stats

from derive.maths.meanfield import meanfield
from tests.conftest import load_generated, require
from tests.stats import KS_P_MIN, Z_BAND

HAAR_SHAPES = [(16, 16), (24, 8), (8, 24)]  # square, tall, wide
HAAR_DRAWS = 100
U32 = float(np.finfo(np.float32).eps) / 2
U64 = float(np.finfo(np.float64).eps) / 2


def ortho_bound(n: int, u: float) -> float:
    """4 sqrt(n) u: the bound on the orthogonality error of an n-column Householder QR."""
    return 4.0 * math.sqrt(n) * u


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float() if str(x.dtype) in ("torch.float16", "torch.bfloat16") else x
        return np.asarray(x.cpu().numpy())
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(x)


def ortho_error(w: np.ndarray, g: float = 1.0) -> float:
    """max |W^T W - g^2 I| / g^2 (tall) or max |W W^T - g^2 I| / g^2 (wide), in float64."""
    w = np.asarray(w, dtype=np.float64)
    if w.shape[0] < w.shape[1]:
        w = w.T
    gram = w.T @ w
    gram[np.diag_indices_from(gram)] -= g * g
    return float(np.abs(gram).max()) / (g * g)


def haar_checks(mats: list[np.ndarray], g: float = 1.0) -> tuple[float, float]:
    """(z of the summed traces, KS p-value of Q_11) for matrices of one shape (see module)."""
    tall = [np.asarray(w, dtype=np.float64) / g for w in mats]
    tall = [w.T if w.shape[0] < w.shape[1] else w for w in tall]
    m, k = tall[0].shape
    traces = np.array([np.trace(w[:k, :k]) for w in tall])
    z = float(traces.sum() / math.sqrt(len(tall) * k / m))
    first = np.array([w[0, 0] for w in tall])

    def cdf(t: np.ndarray) -> np.ndarray:
        return 0.5 + 0.5 * np.sign(t) * special.betainc(0.5, (m - 1) / 2.0, np.minimum(t * t, 1))

    return z, float(stats.kstest(first, cdf).pvalue)


def assert_haar(draw: Callable[[tuple[int, int]], Any], g: float = 1.0) -> None:
    for shape in HAAR_SHAPES:
        mats = [_np(draw(shape)).reshape(shape) for _ in range(HAAR_DRAWS)]
        z, p = haar_checks(mats, g)
        assert abs(z) < Z_BAND and p > KS_P_MIN, (shape, z, p)


def assert_not_haar(draw: Callable[[tuple[int, int]], Any]) -> None:
    """The power side: both checks must reject on every shape."""
    for shape in HAAR_SHAPES:
        mats = [_np(draw(shape)).reshape(shape) for _ in range(HAAR_DRAWS)]
        z, p = haar_checks(mats)
        assert z < -Z_BAND and p < KS_P_MIN, (shape, z, p)


def _unfixed(q: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return q if rows >= cols else q.T


# ---------------------------------------------------------------------------------------------
# The gain's caveat (the docstrings' claims), from derive.maths.meanfield
# ---------------------------------------------------------------------------------------------


def test_forward_gain_is_critical_for_relu_family_and_chaotic_for_tanh() -> None:
    gains = load_generated("numpy_init").GAINS
    for name in ("relu", "leaky_relu", "linear"):
        param = "0.01" if name == "leaky_relu" else None
        mf = meanfield(name, repr(gains[name]), 0, param=param, digits=10)
        assert mf.phase == "critical", (name, mf)
    assert meanfield("tanh", repr(gains["tanh"]), 0, digits=10).phase == "chaotic"
    assert meanfield("tanh", 1, 0, digits=10).phase == "critical"


# ---------------------------------------------------------------------------------------------
# NumPy
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ni() -> ModuleType:
    return load_generated("numpy_init")


def test_numpy_orthogonal_is_orthogonal_in_float64_and_float32(ni: ModuleType) -> None:
    n = 1024
    e64 = ortho_error(ni.orthogonal((n, n), dtype=np.float64, rng=1))
    assert e64 <= ortho_bound(n, U64), e64
    e32 = ortho_error(ni.orthogonal((n, n), dtype=np.float32, rng=1))
    assert e32 <= ortho_bound(n, U64) + 2 * U32 + U32 * U32, e32


@pytest.mark.parametrize(
    ("shape", "layout", "matrix"),
    [
        ((300, 100), "in_out", (300, 100)),
        ((100, 300), "in_out", (100, 300)),
        ((3, 3, 8, 16), "in_out", (72, 16)),  # Keras conv kernel [kh, kw, in, out]
        ((3, 3, 16, 4), "in_out", (144, 4)),
        ((16, 8, 3, 3), "out_in", (16, 72)),  # torch conv weight [out, in, kh, kw]
        ((100, 4, 3), "out_in", (100, 12)),
    ],
)
def test_numpy_orthogonal_flattens_like_keras_or_torch_and_scales_by_the_gain(
    ni: ModuleType, shape: tuple[int, ...], layout: str, matrix: tuple[int, int]
) -> None:
    w = ni.orthogonal(shape, activation="relu", layout=layout, dtype=np.float64, rng=2)
    assert w.shape == shape and w.dtype == np.float64 and w.flags["C_CONTIGUOUS"]
    assert ortho_error(w.reshape(matrix), ni.GAINS["relu"]) <= ortho_bound(max(matrix), U64)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)])
def test_numpy_out_in_is_the_transpose_of_in_out_under_one_seed(
    ni: ModuleType, shape: tuple[int, int]
) -> None:
    a = ni.orthogonal(shape, rng=3)
    b = ni.orthogonal(shape[::-1], layout="out_in", rng=3)
    np.testing.assert_array_equal(a, b.T)


def test_numpy_orthogonal_is_haar(ni: ModuleType) -> None:
    rng = np.random.default_rng(20240913)
    assert_haar(lambda s: ni.orthogonal(s, dtype=np.float64, rng=rng))
    assert_haar(lambda s: ni.orthogonal(s, gain=3.0, rng=rng), g=3.0)


def test_haar_checks_catch_a_missing_sign_fix_in_numpy_qr() -> None:
    rng = np.random.default_rng(20240913)

    def unfixed(shape: tuple[int, int]) -> np.ndarray:
        rows, cols = shape
        q, _ = np.linalg.qr(rng.standard_normal((max(shape), min(shape))))
        return _unfixed(q, rows, cols)

    assert_not_haar(unfixed)


@pytest.mark.parametrize("layout", ["in_out", "out_in"])
@pytest.mark.parametrize(
    "spatial", [(3,), (4,), (1,), (3, 3), (4, 2), (5, 4), (3, 3, 3), (2, 4, 5)]
)
def test_numpy_delta_orthogonal_puts_the_orthogonal_matrix_at_jax_centre(
    ni: ModuleType, layout: str, spatial: tuple[int, ...]
) -> None:
    fan_in, fan_out = 6, 10
    shape = (*spatial, fan_in, fan_out) if layout == "in_out" else (fan_out, fan_in, *spatial)
    w = ni.delta_orthogonal(shape, gain=2.0, layout=layout, dtype=np.float64, rng=4)
    centre = tuple((k - 1) // 2 for k in spatial)  # jax.nn.initializers.delta_orthogonal
    if layout == "in_out":
        mid, w_zero = w[centre], w.copy()
        w_zero[centre] = 0
    else:
        index = (slice(None), slice(None), *centre)
        mid, w_zero = w[index].T, w.copy()
        w_zero[index] = 0
    assert not w_zero.any()
    np.testing.assert_array_equal(
        mid, ni.orthogonal((fan_in, fan_out), gain=2.0, dtype=np.float64, rng=4)
    )
    assert ortho_error(mid, 2.0) <= ortho_bound(fan_out, U64)


def test_numpy_zero_sized_shapes_give_empty_arrays(ni: ModuleType) -> None:
    assert ni.orthogonal((0, 5)).shape == (0, 5)
    assert ni.delta_orthogonal((0, 3, 4)).shape == (0, 3, 4)


@pytest.mark.parametrize(
    ("call", "exc", "names"),
    [
        (lambda m: m.orthogonal((5,)), ValueError, "shape"),
        (lambda m: m.orthogonal(5), ValueError, "shape"),
        (lambda m: m.orthogonal((3, -1)), ValueError, "shape"),
        (lambda m: m.orthogonal((3, 3), gain=-1.0), ValueError, "gain"),
        (lambda m: m.orthogonal((3, 3), gain=math.nan), ValueError, "gain"),
        (lambda m: m.orthogonal((3, 3), gain="2"), TypeError, "gain"),
        (lambda m: m.orthogonal((3, 3), activation="tanhh"), ValueError, "activation"),
        (lambda m: m.orthogonal((3, 3), gain=2.0, activation="tanh"), ValueError, "gain"),
        (lambda m: m.orthogonal((3, 3), layout="io"), ValueError, "layout"),
        (lambda m: m.orthogonal((3, 3), dtype=np.int32), TypeError, "dtype"),
        (lambda m: m.delta_orthogonal((3, 3)), ValueError, "shape"),
        (lambda m: m.delta_orthogonal((1, 1, 1, 1, 3, 3)), ValueError, "shape"),
        (lambda m: m.delta_orthogonal((3, 8, 4)), ValueError, "in = 8 > out = 4"),
        (lambda m: m.delta_orthogonal((4, 8, 3), layout="out_in"), ValueError, "in = 8 > out = 4"),
        (lambda m: m.delta_orthogonal((3, 4, 8), gain=0.0), ValueError, "gain"),
    ],
)
def test_numpy_bad_input_is_a_one_line_error_naming_the_argument(
    ni: ModuleType, call: Callable[[ModuleType], Any], exc: type[Exception], names: str
) -> None:
    with pytest.raises(exc) as info:
        call(ni)
    assert names in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# PyTorch
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return require("torch")


@pytest.fixture(scope="module")
def ti(torch: ModuleType) -> ModuleType:
    return load_generated("torch_init")


TORCH_SHAPES = [(64, 64), (40, 100), (100, 40), (16, 8, 3, 3), (64, 4, 3), (1, 5), (5, 1)]


@pytest.mark.parametrize("shape", TORCH_SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("gain", [{}, {"gain": 2.5}, {"activation": "tanh"}])
def test_torch_orthogonal_equals_torch_nn_init_bit_for_bit(
    torch: ModuleType,
    ti: ModuleType,
    shape: tuple[int, ...],
    dtype: str,
    gain: dict[str, Any],
) -> None:
    dt = getattr(torch, dtype)
    theirs_gain = {"gain": ti.GAINS["tanh"]} if "activation" in gain else gain
    g1, g2 = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    ours = ti.orthogonal_(torch.empty(shape, dtype=dt), generator=g1, **gain)
    theirs = torch.nn.init.orthogonal_(torch.empty(shape, dtype=dt), generator=g2, **theirs_gain)
    assert torch.equal(ours, theirs)
    assert torch.equal(torch.randn(4, generator=g1), torch.randn(4, generator=g2))


def test_torch_orthogonal_is_drop_in_with_positional_gain_and_global_rng(
    torch: ModuleType, ti: ModuleType
) -> None:
    torch.manual_seed(5)
    ours = ti.orthogonal_(torch.empty(30, 20), 0.5)
    torch.manual_seed(5)
    assert torch.equal(ours, torch.nn.init.orthogonal_(torch.empty(30, 20), 0.5))


def test_torch_orthogonal_4096_float32_error_below_1e_5(torch: ModuleType, ti: ModuleType) -> None:
    w = ti.orthogonal_(torch.empty(4096, 4096), generator=torch.Generator().manual_seed(0))
    assert ortho_error(_np(w)) <= 1e-5


def test_torch_orthogonal_float64_error(torch: ModuleType, ti: ModuleType) -> None:
    n = 1024
    w = torch.empty(n, n, dtype=torch.float64)
    ti.orthogonal_(w, generator=torch.Generator().manual_seed(0))
    assert ortho_error(_np(w)) <= ortho_bound(n, U64)


@pytest.mark.parametrize(("dtype", "u"), [("float16", 2.0**-11), ("bfloat16", 2.0**-8)])
def test_torch_half_dtypes_are_float32_rounded_once(
    torch: ModuleType, ti: ModuleType, dtype: str, u: float
) -> None:
    w = ti.orthogonal_(torch.empty(96, 64, dtype=getattr(torch, dtype)))
    assert w.dtype == getattr(torch, dtype)
    # rounding an orthonormal frame entrywise by at most u |q_ij| moves W^T W by <= 2u + u^2
    assert ortho_error(_np(w)) <= ortho_bound(96, U32) + 2 * u + u * u


def test_torch_orthogonal_fills_non_contiguous_tensors(torch: ModuleType, ti: ModuleType) -> None:
    base = torch.zeros(20, 30)
    view = base.t()  # (30, 20), not contiguous
    ti.orthogonal_(view, generator=torch.Generator().manual_seed(1))
    expected = ti.orthogonal_(torch.empty(30, 20), generator=torch.Generator().manual_seed(1))
    assert torch.equal(view, expected)


def test_torch_orthogonal_is_haar(torch: ModuleType, ti: ModuleType) -> None:
    gen = torch.Generator().manual_seed(20240913)
    assert_haar(lambda s: ti.orthogonal_(torch.empty(s, dtype=torch.float64), generator=gen))


def test_haar_checks_catch_a_missing_sign_fix_in_torch_qr(torch: ModuleType) -> None:
    gen = torch.Generator().manual_seed(20240913)

    def unfixed(shape: tuple[int, int]) -> Any:
        rows, cols = shape
        a = torch.empty(shape, dtype=torch.float64).normal_(generator=gen)
        q, _ = torch.linalg.qr(a if rows >= cols else a.t())
        return _unfixed(q.numpy(), rows, cols)

    assert_not_haar(unfixed)


@pytest.mark.parametrize(
    "shape", [(16, 8, 3), (16, 8, 4), (10, 10, 3, 3), (12, 6, 4, 2), (8, 5, 3, 2, 5)]
)
def test_torch_delta_orthogonal_centre_is_orthogonal_under_the_same_generator(
    torch: ModuleType, ti: ModuleType, shape: tuple[int, ...]
) -> None:
    w = torch.full(shape, 7.0)
    ti.delta_orthogonal_(w, activation="relu", generator=torch.Generator().manual_seed(2))
    centre = (slice(None), slice(None), *((k - 1) // 2 for k in shape[2:]))
    expected = ti.orthogonal_(
        torch.empty(shape[:2]), activation="relu", generator=torch.Generator().manual_seed(2)
    )
    assert torch.equal(w[centre], expected)
    w[centre] = 0
    assert not w.any()


def test_torch_empty_and_meta_tensors_are_returned_untouched(
    torch: ModuleType, ti: ModuleType
) -> None:
    assert ti.orthogonal_(torch.empty(0, 5)).shape == (0, 5)
    assert ti.orthogonal_(torch.empty(4, 5, device="meta")).is_meta
    assert ti.delta_orthogonal_(torch.empty(4, 2, 0)).shape == (4, 2, 0)


@pytest.mark.parametrize(
    ("call", "exc", "names"),
    [
        (lambda t, m: m.orthogonal_(t.empty(5)), ValueError, "tensor"),
        (lambda t, m: m.orthogonal_(t.empty(3, 3, dtype=t.int32)), TypeError, "tensor"),
        (lambda t, m: m.orthogonal_(t.empty(3, 3), -1.0), ValueError, "gain"),
        (lambda t, m: m.orthogonal_(t.empty(3, 3), activation="gelu2"), ValueError, "activation"),
        (lambda t, m: m.orthogonal_(t.empty(3, 3), 1.0, activation="gelu"), ValueError, "gain"),
        (lambda t, m: m.delta_orthogonal_(t.empty(3, 3)), ValueError, "tensor"),
        (lambda t, m: m.delta_orthogonal_(t.empty(2, 2, 1, 1, 1, 1)), ValueError, "tensor"),
        (lambda t, m: m.delta_orthogonal_(t.empty(4, 8, 3)), ValueError, "in = 8 > out = 4"),
    ],
)
def test_torch_bad_input_is_a_one_line_error_naming_the_argument(
    torch: ModuleType,
    ti: ModuleType,
    call: Callable[[ModuleType, ModuleType], Any],
    exc: type[Exception],
    names: str,
) -> None:
    with pytest.raises(exc) as info:
        call(torch, ti)
    assert names in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# TensorFlow / Keras 3
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    require("tensorflow")
    keras = require("keras")
    assert keras.backend.backend() == "tensorflow"
    return keras


@pytest.fixture(scope="module")
def tfi(keras: ModuleType) -> ModuleType:
    return load_generated("tf_init")


KERAS_SHAPES = [(64, 64), (40, 100), (100, 40), (3, 3, 8, 16), (3, 3, 16, 8), (4, 3, 12), (1, 5)]


@pytest.mark.parametrize("shape", KERAS_SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("gain", [{}, {"gain": 2.5}, {"activation": "tanh"}])
def test_keras_orthogonal_equals_keras_bit_for_bit(
    keras: ModuleType,
    tfi: ModuleType,
    shape: tuple[int, ...],
    dtype: str,
    gain: dict[str, Any],
) -> None:
    theirs_gain = {"gain": tfi.GAINS["tanh"]} if "activation" in gain else gain
    ours = _np(tfi.Orthogonal(seed=7, **gain)(shape, dtype))
    theirs = _np(keras.initializers.Orthogonal(seed=7, **theirs_gain)(shape, dtype))
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_keras_orthogonal_follows_a_seed_generator_like_keras(
    keras: ModuleType, tfi: ModuleType
) -> None:
    ours = tfi.Orthogonal(seed=keras.random.SeedGenerator(5))
    theirs = keras.initializers.Orthogonal(seed=keras.random.SeedGenerator(5))
    draws = [(_np(ours((20, 10))), _np(theirs((20, 10)))) for _ in range(3)]
    for a, b in draws:
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(draws[0][0], draws[1][0])


def test_keras_orthogonal_4096_float32_error_below_1e_5(tfi: ModuleType) -> None:
    assert ortho_error(_np(tfi.Orthogonal(seed=0)((4096, 4096)))) <= 1e-5


def test_keras_orthogonal_float64_error(tfi: ModuleType) -> None:
    n = 1024
    assert ortho_error(_np(tfi.Orthogonal(seed=0)((n, n), "float64"))) <= ortho_bound(n, U64)


@pytest.mark.parametrize(("dtype", "u"), [("float16", 2.0**-11), ("bfloat16", 2.0**-8)])
def test_keras_half_dtypes_are_float32_rounded_once(tfi: ModuleType, dtype: str, u: float) -> None:
    w = tfi.Orthogonal(seed=1)((96, 64), dtype)
    assert w.dtype.name == dtype
    assert ortho_error(w.numpy().astype(np.float32)) <= ortho_bound(96, U32) + 2 * u + u * u


def test_keras_orthogonal_is_haar(keras: ModuleType, tfi: ModuleType) -> None:
    init = tfi.Orthogonal(seed=keras.random.SeedGenerator(20240913), activation="gelu")
    assert_haar(lambda s: init(s, "float64"), g=tfi.GAINS["gelu"])


def test_haar_checks_catch_a_missing_sign_fix_in_tf_qr(keras: ModuleType) -> None:
    tf = require("tensorflow")
    seed = keras.random.SeedGenerator(20240913)

    def unfixed(shape: tuple[int, int]) -> np.ndarray:
        rows, cols = shape
        a = keras.random.normal((max(shape), min(shape)), seed=seed, dtype="float64")
        return _unfixed(tf.linalg.qr(a)[0].numpy(), rows, cols)

    assert_not_haar(unfixed)


@pytest.mark.parametrize(
    "shape", [(3, 8, 16), (4, 8, 8), (3, 3, 6, 10), (2, 4, 6, 10), (3, 2, 5, 4, 6)]
)
def test_keras_delta_orthogonal_centre_equals_keras_orthogonal(
    keras: ModuleType, tfi: ModuleType, shape: tuple[int, ...]
) -> None:
    w = _np(tfi.DeltaOrthogonal(seed=3, gain=1.5)(shape)).copy()
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    expected = _np(keras.initializers.Orthogonal(gain=1.5, seed=3)(shape[-2:]))
    np.testing.assert_array_equal(w[centre], expected)
    w[centre] = 0
    assert not w.any()


def test_keras_orthogonal_config_round_trips_through_keras_serialization(
    keras: ModuleType, tfi: ModuleType
) -> None:
    for init in (
        tfi.Orthogonal(seed=4, activation="tanh"),
        tfi.Orthogonal(2.0, seed=4),
        tfi.DeltaOrthogonal(seed=4, activation="relu"),
    ):
        config = keras.saving.serialize_keras_object(init)
        # "initref>Orthogonal", not Keras's "Orthogonal": a load without tf_init fails
        name = "initref>" + type(init).__qualname__
        assert config["registered_name"] == config["class_name"] == name, config
        again = keras.saving.deserialize_keras_object(config)
        assert type(again) is type(init) and again.get_config() == init.get_config()
        shape = (3, 4, 6) if isinstance(init, tfi.DeltaOrthogonal) else (6, 4)
        np.testing.assert_array_equal(_np(again(shape)), _np(init(shape)))


@pytest.mark.parametrize(
    ("call", "exc", "names"),
    [
        (lambda m: m.Orthogonal()((5,)), ValueError, "shape"),
        (lambda m: m.Orthogonal()((3, 3), "int32"), TypeError, "dtype"),
        (lambda m: m.Orthogonal(gain=-1.0), ValueError, "gain"),
        (lambda m: m.Orthogonal(gain=True), TypeError, "gain"),
        (lambda m: m.Orthogonal(activation="Tanh"), ValueError, "activation"),
        (lambda m: m.Orthogonal(2.0, activation="tanh"), ValueError, "gain"),
        (lambda m: m.Orthogonal(seed="1"), TypeError, "seed"),
        (lambda m: m.DeltaOrthogonal()((3, 3)), ValueError, "shape"),
        (lambda m: m.DeltaOrthogonal()((1, 1, 1, 1, 3, 3)), ValueError, "shape"),
        (lambda m: m.DeltaOrthogonal()((3, 8, 4)), ValueError, "in = 8 > out = 4"),
    ],
)
def test_keras_bad_input_is_a_one_line_error_naming_the_argument(
    tfi: ModuleType, call: Callable[[ModuleType], Any], exc: type[Exception], names: str
) -> None:
    with pytest.raises(exc) as info:
        call(tfi)
    assert names in str(info.value) and "\n" not in str(info.value)


# ---------------------------------------------------------------------------------------------
# The three files reject the same arguments with the same words
# ---------------------------------------------------------------------------------------------

ORTHOGONAL_REJECTED: list[tuple[str, dict[str, Any], type[Exception]]] = [
    ("gain", {"gain": True}, TypeError),
    ("gain", {"gain": np.bool_(False)}, TypeError),
    ("gain", {"gain": "1.5"}, TypeError),
    ("gain", {"gain": 0.0}, ValueError),
    ("gain", {"gain": -1}, ValueError),
    ("gain", {"gain": math.nan}, ValueError),
    ("gain", {"gain": math.inf}, ValueError),
    ("activation", {"activation": "tanhh"}, ValueError),
    ("activation", {"activation": True}, TypeError),
    ("activation, gain", {"activation": "tanh", "gain": 2.0}, ValueError),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "error"),
    ORTHOGONAL_REJECTED,
    ids=[f"{r[0]}={list(r[1].values())!r}" for r in ORTHOGONAL_REJECTED],
)
def test_bad_gains_raise_the_same_one_line_error_in_every_file(
    ni: ModuleType,
    ti: ModuleType,
    tfi: ModuleType,
    torch: ModuleType,
    name: str,
    kwargs: dict[str, Any],
    error: type[Exception],
) -> None:
    w = torch.zeros(4, 3, 3)
    calls: list[Callable[[], Any]] = [
        lambda: ni.orthogonal((4, 4), **kwargs),
        lambda: ni.delta_orthogonal((3, 4, 4), **kwargs),
        lambda: ti.orthogonal_(w, **kwargs),
        lambda: ti.delta_orthogonal_(w, **kwargs),
        lambda: tfi.Orthogonal(**kwargs),
        lambda: tfi.DeltaOrthogonal(**kwargs),
    ]
    messages = set()
    for call in calls:
        with pytest.raises(error) as info:
            call()
        messages.add(str(info.value))
    assert len(messages) == 1, messages
    (message,) = messages
    assert "\n" not in message and re.fullmatch(rf"{name}: .+ \(accepted: .+\)", message), message
    assert not w.any()


def test_wrong_seed_layout_and_generator_types_are_one_line_errors(
    ni: ModuleType, ti: ModuleType, tfi: ModuleType, torch: ModuleType
) -> None:
    w = torch.zeros(4, 4)
    cases: list[tuple[Callable[[], Any], type[Exception], str]] = [
        (lambda: ni.orthogonal((4, 4), rng=True), TypeError, r"rng: True is not a seed"),
        (lambda: ni.delta_orthogonal((3, 4, 4), rng=-1), ValueError, r"rng: -1 is out of range"),
        (lambda: ni.orthogonal((4, 4), layout=1), ValueError, r"layout: 1 is not known"),
        (
            lambda: ti.orthogonal_(w, generator=3),
            TypeError,
            r"generator: 3 is not a torch\.Generator",
        ),
        (lambda: tfi.DeltaOrthogonal(seed=True), TypeError, r"seed: True is not a seed"),
    ]
    for call, error, start in cases:
        with pytest.raises(error, match=rf"^{start} \(accepted: [^\n]+\)$"):
            call()
    assert not w.any()
