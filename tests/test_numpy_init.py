"""generated/numpy_init.py: distribution, moments, fans, bad input and style.

Statistical checks use fixed seeds and the bands of tests/stats.py (KS p > 1e-4 at n = 2**17;
|z| < 6 for mean and variance at n = 2**20, moments from derive.maths.truncnorm at 50 digits).
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from types import ModuleType

import numpy as np
import pytest

from derive.maths.truncnorm import truncnorm_moments as exact_moments
from tests.conftest import GENERATED, ROOT, load_generated, require
from tests.stats import basic_sanity, ks_pvalue, moment_z

INF = math.inf
N_KS = 2**17
N_Z = 2**20
DTYPES = (np.float32, np.float64)

# symmetric, asymmetric, one-sided and tail cutoffs, in units of the normal's std
KS_CUTOFFS = [
    (-2.0, 2.0),
    (-1.0, 1.0),
    (-0.5, 0.5),
    (-1.0, 3.0),
    (2.0, INF),
    (-INF, -5.0),
    (3.0, 4.0),
    (5.0, 6.0),
    (8.0, 9.0),
    (4.0, 4.1),  # narrow tail: the uniform proposal
    (-0.1, 6.0),  # straddling zero, long right side: the exponential proposal
]


@pytest.fixture(scope="module")
def npi() -> ModuleType:
    return load_generated("numpy_init")


def _exact(lower: float, upper: float) -> tuple[float, float, float]:
    """(mean, std, excess kurtosis) of N(0, 1) truncated to [lower, upper], 50 digits."""
    m = exact_moments(str(lower), str(upper))
    return float(m.mean), float(m.std), float(m.excess_kurtosis)


def _id(cutoffs: tuple[float, float]) -> str:
    return f"[{cutoffs[0]:g},{cutoffs[1]:g}]"


# ---------------------------------------------------------------------------
# Distribution
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cutoffs", KS_CUTOFFS, ids=_id)
def test_truncated_normal_follows_the_exact_truncated_cdf(
    npi: ModuleType, cutoffs: tuple[float, float], dtype: type
) -> None:
    lower, upper = cutoffs
    std = 0.05
    x = npi.truncated_normal(N_KS, std=std, lower=lower, upper=upper, dtype=dtype, rng=20240)
    assert x.dtype == dtype and x.shape == (N_KS,)
    sigma = std / npi.truncnorm_moments(lower, upper)[1]  # as the module computes it
    basic_sanity(x, lower, upper, scale=sigma)
    p = ks_pvalue(x.astype(np.float64) / sigma, lower, upper)
    assert p > 1e-4, f"KS p = {p:.2e} for {_id(cutoffs)} in {np.dtype(dtype).name}"


def test_distribution_cases_exercise_every_proposal(npi: ModuleType) -> None:
    used = set()
    for lower, upper in KS_CUTOFFS:
        a, b = (-upper, -lower) if lower + upper < 0 else (lower, upper)
        used.add(npi._proposal(a, b))
    assert used == {"normal", "uniform", "exponential"}
    assert npi._proposal(-2.0, 2.0) == "normal"  # the common case draws straight into the output
    assert npi._proposal(-1.0, 1.0) == "uniform"
    assert npi._proposal(-0.1, 6.0) == "exponential"


@pytest.mark.parametrize(
    ("cutoffs", "dtype"),
    [
        ((-2.0, 2.0), np.float32),
        ((-0.5, 0.5), np.float64),
        ((-1.0, 3.0), np.float64),
        ((2.0, INF), np.float32),
        ((-INF, -5.0), np.float64),
        ((5.0, 6.0), np.float32),
        ((8.0, 9.0), np.float64),
    ],
    ids=lambda v: _id(v) if isinstance(v, tuple) else np.dtype(v).name,
)
def test_truncated_normal_std_after_truncation_is_the_std_asked_for(
    npi: ModuleType, cutoffs: tuple[float, float], dtype: type
) -> None:
    lower, upper = cutoffs
    mean_k, std_k, kurt_k = _exact(lower, upper)
    std, loc = 0.125, 0.5
    x = npi.truncated_normal(N_Z, std=std, lower=lower, upper=upper, mean=loc, dtype=dtype, rng=7)
    expected_mean = npi.truncated_normal_mean(std=std, lower=lower, upper=upper, mean=loc)
    assert expected_mean == pytest.approx(loc + std * mean_k / std_k, rel=1e-14, abs=1e-15)
    check = moment_z(x, expected_mean, std, kurt_k)
    assert check.ok, check


def test_truncated_normal_mean_is_zero_only_for_symmetric_cutoffs(npi: ModuleType) -> None:
    assert npi.truncated_normal_mean(std=1.0) == 0.0
    assert npi.variance_scaling_mean((64, 32), scale=2.0) == 0.0
    mean_k, std_k, _ = _exact(-1.0, 3.0)
    # 14 digits: truncnorm_moments() tabulates [-1, 3]; the ratio costs at most 2 ulps
    assert npi.truncated_normal_mean(std=1.0, lower=-1.0, upper=3.0) == pytest.approx(
        mean_k / std_k, rel=1e-14
    )
    std = math.sqrt(2.0 / 64)
    assert npi.variance_scaling_mean((64, 32), scale=2.0, lower=-1.0, upper=3.0) == pytest.approx(
        std * mean_k / std_k, rel=1e-14
    )


def test_far_tails_fill_the_interval_in_float32(npi: ModuleType) -> None:
    """An inverse-CDF sampler puts [8, 9] in float32 on a handful of values at 8 sigma;
    exact rejection spreads it: the largest draw of 2**17 reaches past 8.5 sigma
    (P[x > 8.5 | x in [8, 9]] = 0.016, so 2**17 draws miss it with probability e^-2000)."""
    x = npi.truncated_normal(N_KS, std=1.0, lower=8.0, upper=9.0, dtype=np.float32, rng=3)
    sigma = 1.0 / npi.truncnorm_moments(8.0, 9.0)[1]
    assert float(x.max()) / sigma > 8.5
    assert np.unique(x).size > N_KS // 2


# ---------------------------------------------------------------------------
# Named rules and their power
# ---------------------------------------------------------------------------

HE_SHAPE = (512, 2048)  # [in, out]: fan_in = 512, fan_out = 2048, 2**20 weights


@pytest.fixture(scope="module")
def he_weights(npi: ModuleType) -> np.ndarray:
    return npi.he_normal(HE_SHAPE, rng=2015)


def _he_check(x: np.ndarray, fan: int = HE_SHAPE[0]) -> bool:
    _, _, kurt = _exact(-2.0, 2.0)
    return moment_z(x, 0.0, math.sqrt(2.0 / fan), kurt).ok


def test_he_normal_has_std_sqrt_2_over_fan_in_after_truncation(
    npi: ModuleType, he_weights: np.ndarray
) -> None:
    assert he_weights.dtype == np.float32 and he_weights.shape == HE_SHAPE
    sigma = math.sqrt(2.0 / HE_SHAPE[0]) / npi.truncnorm_moments(-2.0, 2.0)[1]
    basic_sanity(he_weights, -2.0, 2.0, scale=sigma)
    assert _he_check(he_weights)


def test_moment_check_catches_a_one_percent_std_error(he_weights: np.ndarray) -> None:
    assert not _he_check(he_weights * np.float32(1.01))


def test_moment_check_catches_a_dropped_truncation_correction(
    npi: ModuleType, he_weights: np.ndarray
) -> None:
    """Without the correction the normal's sigma is sqrt(2 / fan) itself (TensorFlow's
    truncated_normal(stddev=sqrt(2 / fan))): the weights are s(2) = 0.8796 times too small."""
    s2 = npi.truncnorm_moments(-2.0, 2.0)[1]
    assert not _he_check(he_weights * np.float32(s2))


def test_moment_check_catches_swapped_fans(npi: ModuleType) -> None:
    """Reading a Keras [in, out] kernel as PyTorch's [out, in] takes fan_in = 2048."""
    swapped = npi.he_normal(HE_SHAPE, layout="out_in", rng=2015)
    assert _he_check(swapped, fan=HE_SHAPE[1])
    assert not _he_check(swapped)


@pytest.mark.parametrize(
    ("rule", "scale", "mode"),
    [
        ("he", 2.0, "fan_in"),
        ("glorot", 1.0, "fan_avg"),
        ("lecun", 1.0, "fan_in"),
    ],
)
def test_named_rules_give_their_variance_in_every_distribution(
    npi: ModuleType, rule: str, scale: float, mode: str
) -> None:
    shape = (4, 4, 32, 64)  # [kh, kw, in, out]: fan_in 512, fan_out 1024
    fan_in, fan_out = 512, 1024
    fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / fan)
    assert npi.variance_scaling_std(shape, scale=scale, mode=mode) == std
    normal = getattr(npi, f"{rule}_normal")
    uniform = getattr(npi, f"{rule}_uniform")
    _, _, kurt = _exact(-2.0, 2.0)
    truncated = normal(shape, dtype=np.float64, rng=1)
    assert moment_z(truncated, 0.0, std, kurt).ok
    untruncated = normal(shape, distribution="untruncated_normal", rng=2)
    assert moment_z(untruncated, 0.0, std, 0.0).ok
    assert np.abs(untruncated).max() > 4.0 * std  # not truncated: P[|x| > 4 std] = 6.3e-5
    flat = uniform(shape, rng=3)
    limit = math.sqrt(3.0) * std
    assert np.all(np.abs(flat) <= np.float32(limit))
    assert moment_z(flat, 0.0, std, -1.2).ok  # U(-L, L): excess kurtosis -6/5
    # the named rule is variance_scaling with its scale and mode, draw for draw
    same = npi.variance_scaling(shape, scale=scale, mode=mode, dtype=np.float64, rng=1)
    np.testing.assert_array_equal(truncated, same)


def test_seed_and_generator_reproduce_the_draws(npi: ModuleType) -> None:
    a = npi.he_normal((3, 3, 8, 16), rng=5)
    b = npi.he_normal((3, 3, 8, 16), rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(5)
    first = npi.he_normal((3, 3, 8, 16), rng=rng)
    second = npi.he_normal((3, 3, 8, 16), rng=rng)
    assert not np.array_equal(first, second)  # the Generator passed in is advanced
    assert npi.he_normal((8, 16)).shape == (8, 16)  # rng=None: fresh OS entropy


def test_empty_shape_gives_an_empty_array(npi: ModuleType) -> None:
    x = npi.truncated_normal((0, 4), std=1.0, lower=5.0, upper=6.0)
    assert x.shape == (0, 4) and x.dtype == np.float32


def test_redraw_limit_raises_runtime_error_naming_the_interval(
    npi: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(npi, "_MAX_REDRAW_ROUNDS", 0)
    with pytest.raises(RuntimeError, match=r"\[-2\.0, 2\.0\]"):
        npi.truncated_normal(4096, std=1.0, rng=0)


# ---------------------------------------------------------------------------
# Fans
# ---------------------------------------------------------------------------

# Keras [..., in, out] shapes and the PyTorch [out, in / groups, *kernel] weight of the same
# layer (depthwise: groups = channels; transposed: Keras (kh, kw, out, in), torch
# (in, out / groups, kh, kw)).
FAN_SHAPES = {
    "dense": ((64, 128), (128, 64)),
    "conv1d": ((3, 16, 32), (32, 16, 3)),
    "conv2d": ((3, 3, 16, 32), (32, 16, 3, 3)),
    "conv3d": ((3, 3, 3, 8, 16), (16, 8, 3, 3, 3)),
    "depthwise2d": ((3, 3, 32, 1), (32, 1, 3, 3)),
    "transposed2d": ((3, 3, 32, 16), (16, 32, 3, 3)),
}


@pytest.mark.parametrize("layer", sorted(FAN_SHAPES))
def test_in_out_fans_match_keras(npi: ModuleType, layer: str) -> None:
    require("keras")
    from keras.src.initializers.random_initializers import compute_fans

    shape = FAN_SHAPES[layer][0]
    assert npi.compute_fans(shape) == compute_fans(shape)
    assert npi.compute_fans(list(shape), layout="in_out") == compute_fans(shape)


def test_in_out_fans_of_vectors_and_scalars_match_keras(npi: ModuleType) -> None:
    require("keras")
    from keras.src.initializers.random_initializers import compute_fans

    for shape in ((), (7,)):
        assert npi.compute_fans(shape) == compute_fans(shape)
    assert npi.compute_fans(7) == compute_fans((7,))


@pytest.mark.parametrize("layer", sorted(FAN_SHAPES))
def test_out_in_fans_match_torch(npi: ModuleType, layer: str) -> None:
    torch = require("torch")
    shape = FAN_SHAPES[layer][1]
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert npi.compute_fans(shape, layout="out_in") == expected


# ---------------------------------------------------------------------------
# Bad input: one-line errors naming the argument
# ---------------------------------------------------------------------------

BAD_CALLS = {
    # an empty weight draws nothing (tests/test_empty_shapes.py), but has no std either
    "zero fan": ("variance_scaling_std", ((0, 4),), {}, ValueError, "shape"),
    "zero fan_out": ("variance_scaling_std", ((4, 0),), {"mode": "fan_out"}, ValueError, "shape"),
    "negative dim": ("he_normal", ((-1, 4),), {}, ValueError, "shape"),
    "float dim": ("he_normal", ((2.5, 4),), {}, ValueError, "shape"),
    "1-d out_in": ("he_normal", ((8,),), {"layout": "out_in"}, ValueError, "shape"),
    "scale 0": ("variance_scaling", ((4, 4),), {"scale": 0.0}, ValueError, "scale"),
    "scale < 0": ("variance_scaling", ((4, 4),), {"scale": -2.0}, ValueError, "scale"),
    "scale nan": ("variance_scaling", ((4, 4),), {"scale": math.nan}, ValueError, "scale"),
    "mode": ("variance_scaling", ((4, 4),), {"mode": "fan_sum"}, ValueError, "mode"),
    "distribution": (
        "variance_scaling",
        ((4, 4),),
        {"distribution": "normal"},
        ValueError,
        "distribution",
    ),
    "uniform he_normal": (
        "he_normal",
        ((4, 4),),
        {"distribution": "uniform"},
        ValueError,
        "distribution",
    ),
    "layout": ("he_normal", ((4, 4),), {"layout": "oihw"}, ValueError, "layout"),
    "lower == upper": ("he_normal", ((4, 4),), {"lower": 1.0, "upper": 1.0}, ValueError, "lower"),
    "lower > upper": ("he_normal", ((4, 4),), {"lower": 2.0, "upper": -2.0}, ValueError, "lower"),
    "nan lower": ("he_normal", ((4, 4),), {"lower": math.nan}, ValueError, "lower"),
    "nan upper": ("he_normal", ((4, 4),), {"upper": math.nan}, ValueError, "upper"),
    "int32": ("he_normal", ((4, 4),), {"dtype": np.int32}, TypeError, "dtype"),
    "int64 uniform": ("he_uniform", ((4, 4),), {"dtype": "int64"}, TypeError, "dtype"),
    "float16": ("he_normal", ((4, 4),), {"dtype": np.float16}, TypeError, "dtype"),
    "not a dtype": ("he_normal", ((4, 4),), {"dtype": "floaty"}, TypeError, "dtype"),
    "std 0": ("truncated_normal", ((4,),), {"std": 0.0}, ValueError, "std"),
    "std inf": ("truncated_normal", ((4,),), {"std": INF}, ValueError, "std"),
    "mean nan": ("truncated_normal", ((4,),), {"std": 1.0, "mean": math.nan}, ValueError, "mean"),
    "mean of empty": (
        "truncated_normal_mean",
        (),
        {"std": 1.0, "lower": 3.0, "upper": 3.0},
        ValueError,
        "lower",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_input_raises_a_one_line_error_naming_the_argument(npi: ModuleType, case: str) -> None:
    name, args, kwargs, error, argument = BAD_CALLS[case]
    with pytest.raises(error) as info:
        getattr(npi, name)(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(argument), message
    assert "\n" not in message and "accepted" in message, message


# ---------------------------------------------------------------------------
# The file itself
# ---------------------------------------------------------------------------


def test_generated_file_passes_ruff_check_and_format() -> None:
    path = str(GENERATED / "numpy_init.py")
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, path],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_generated_file_imports_only_the_standard_library_and_numpy() -> None:
    tree = ast.parse((GENERATED / "numpy_init.py").read_text(encoding="utf-8"))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0])
    assert modules - set(sys.stdlib_module_names) == {"numpy"}


def test_generated_file_carries_the_header_and_the_tabulated_constants(
    npi: ModuleType,
) -> None:
    text = (GENERATED / "numpy_init.py").read_text(encoding="utf-8")
    assert text.startswith("# Code generated by initref; DO NOT EDIT.\n")
    _, std_k, _ = _exact(-2.0, 2.0)
    # the table entry is the correctly rounded float64 of the 50-digit value
    assert npi.truncnorm_moments(-2.0, 2.0) == (0.0, std_k)
    assert "(-2.0, 2.0): (0.0, 0.8796256610342398)," in text


# ---------------------------------------------------------------------------
# Derived gains: variance_scaling(activation=...) and gain=
# ---------------------------------------------------------------------------


def test_gains_table_matches_the_derivation_to_the_float64(npi: ModuleType) -> None:
    from derive.maths.gains import gains

    for name in ("relu", "gelu", "silu", "tanh"):
        assert npi.GAINS[name] == float(gains(name, None, 30).forward_gain), name
    assert npi.GAINS["relu"] == math.sqrt(2.0)


def test_activation_relu_draws_exactly_what_scale_2_draws(npi: ModuleType) -> None:
    a = npi.variance_scaling((64, 32), activation="relu", rng=7)
    b = npi.variance_scaling((64, 32), scale=2.0, rng=7)
    np.testing.assert_array_equal(a, b)


def test_activation_gelu_scales_the_variance_by_its_gain_squared(npi: ModuleType) -> None:
    g = npi.GAINS["gelu"]
    a = npi.variance_scaling((64, 32), activation="gelu", rng=3, dtype=np.float64)
    b = npi.variance_scaling((64, 32), scale=g * g, rng=3, dtype=np.float64)
    np.testing.assert_array_equal(a, b)
    c = npi.variance_scaling((64, 32), gain=g, rng=3, dtype=np.float64)
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"activation": "relu", "gain": 1.0}, ValueError, "activation, gain"),
        ({"activation": "swish2"}, ValueError, "activation: 'swish2'"),
        ({"gain": 0.0}, ValueError, "gain: 0.0"),
        ({"gain": float("nan")}, ValueError, "gain: nan"),
        ({"gain": "2"}, TypeError, "gain: '2'"),
    ],
)
def test_bad_activation_or_gain_is_rejected_naming_it(
    npi: ModuleType, kwargs: dict[str, object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment.replace("(", r"\(")):
        npi.variance_scaling((4, 4), **kwargs)
