"""Depth predictions r and r^L (derive.maths.depth) and the `depth` CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import mpmath
import pytest

from derive.core.errors import InputError
from derive.core.numbers import format_sig
from derive.maths.depth import depth_table, truncated_uncorrected_r


def _rows(**kw: object) -> dict[str, object]:
    return {row.key: row for row in depth_table(**kw)}  # type: ignore[arg-type]


def test_article_numbers() -> None:
    rows = _rows(layers=24, cutoffs=("2",), digits=20)
    unc = rows["truncated_normal_uncorrected_k2"]
    assert mpmath.nstr(unc.r, 6) == "0.773741"  # type: ignore[attr-defined]
    assert mpmath.nstr(unc.r_layers, 5) == "0.0021198"  # type: ignore[attr-defined]
    assert rows["tf_he_normal"].r == 1  # type: ignore[attr-defined]
    with mpmath.workdps(30):
        sixth = rows["torch_default_linear"].r - mpmath.mpf(1) / 6  # type: ignore[attr-defined]
        assert abs(sixth) < mpmath.mpf(10) ** -20
    assert rows["xavier"].r == mpmath.mpf("0.5")  # type: ignore[attr-defined]


def test_any_cutoff_gives_s_of_k_squared() -> None:
    r = truncated_uncorrected_r("3", 20)
    assert mpmath.nstr(r, 10) == "0.9733369247"
    assert format_sig(truncated_uncorrected_r("inf", 20), 5) == "1.0000"


def test_leaky_relu_he_init_slightly_grows() -> None:
    rows = _rows(layers=10, activation="leaky_relu", param="0.01", digits=20)
    assert format_sig(rows["tf_he_normal"].r, 10) == "1.000100000"  # type: ignore[attr-defined]


def test_bad_layers_and_unknown_activations_are_rejected() -> None:
    with pytest.raises(InputError, match="layers"):
        depth_table(layers=0)
    with pytest.raises(InputError, match="did you mean 'tanh'"):
        depth_table(activation="tanhh")


# ---------------------------------------------------------------------------
# Any activation: r = c E[f^2] and the length map's q_L, against mpmath.quad
# ---------------------------------------------------------------------------

FRAMEWORK_C = {  # fan_in Var[w] of each case (the truncated one: 2 s(2)^2)
    "tf_he_normal": "2",
    "torch_kaiming_normal": "2",
    "torch_default_linear": "1/3",
    "xavier": "1",
    "lecun_normal": "1",
}


def _second_moment(f: object, q: mpmath.mpf) -> mpmath.mpf:
    """V(q) = E[f(sqrt(q) z)^2] by mpmath.quad (split at 0)."""
    s = mpmath.sqrt(q)
    return mpmath.quad(
        lambda z: f(s * z) ** 2 * mpmath.npdf(z),  # type: ignore[operator]
        [-mpmath.inf, 0, mpmath.inf],
    )


@pytest.mark.parametrize(
    ("name", "f"),
    [
        ("tanh", mpmath.tanh),
        ("softplus", lambda x: mpmath.log1p(mpmath.exp(x))),
        ("x + 0.5*sin(x)", lambda x: x + mpmath.sin(x) / 2),
    ],
)
def test_any_activation_gets_r_and_the_length_maps_factor_of_each_init(
    name: str, f: object
) -> None:
    """r = c E[f(z)^2] (the variance-preserving Var[w] is 1 / (n E[f^2]), the forward gain
    squared) and r^L = q_L of q_l = c V(q_(l-1)), q_0 = 1, by mpmath.quad at 30 digits, to
    the 15 digits asked (L = 6: TF's he_normal on tanh gives r = 0.7886 but q_6 = 0.637: the
    second moment settles at the fixed point of 2 V(q) = q instead of decaying like r^L)."""
    layers, digits = 6, 15
    rows = _rows(layers=layers, activation=name, cutoffs=("2",), digits=digits)
    with mpmath.workdps(30):
        c_of = {
            k: mpmath.mpf(mpmath.fraction(*v.split("/"))) if "/" in v else mpmath.mpf(v)
            for k, v in FRAMEWORK_C.items()
        }
        c_of["truncated_normal_uncorrected_k2"] = (
            2 * mpmath.mpf("0.8796256610342397504128414195777747983459") ** 2
        )
        assert set(rows) == set(c_of)
        for key, c in c_of.items():
            q = mpmath.mpf(1)
            r = c * _second_moment(f, q)
            for _ in range(layers):
                q = c * _second_moment(f, q)
            row = rows[key]
            assert format_sig(row.r, digits) == format_sig(r, digits), (name, key)  # type: ignore[attr-defined]
            assert format_sig(row.r_layers, digits) == format_sig(q, digits), (name, key)  # type: ignore[attr-defined]


def test_the_relu_family_still_multiplies_by_r_every_layer() -> None:
    """leaky_relu through the length map would give the same q_L = r^L (V(q) = q V(1)): the
    ReLU family keeps the exact power, and its rows are those the article quotes."""
    rows = _rows(layers=24, activation="relu", cutoffs=("2",), digits=20)
    row = rows["truncated_normal_uncorrected_k2"]
    with mpmath.workdps(40):
        power = row.r**24  # type: ignore[attr-defined]
    assert format_sig(row.r_layers, 20) == format_sig(power, 20)  # type: ignore[attr-defined]


def test_a_second_moment_that_leaves_the_followed_range_is_refused() -> None:
    """x tanh(x) ~ x^2 near 0: with PyTorch's default c = 1/3 the second moment collapses
    doubly exponentially (1e-189 at layer 9): refused in one line, never printed as 0."""
    with pytest.raises(InputError, match="leaves \\[1e-100, 1e100\\] at layer") as info:
        depth_table(layers=24, activation="x*tanh(x)", digits=10)
    assert "\n" not in str(info.value)


def test_cli_depth_takes_an_activation_expression() -> None:
    argv = ["depth", "--activation", "tanh", "--layers", "6", "--digits", "6"]
    out = subprocess.run(
        [sys.executable, "-m", "derive", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    first, *lines = out.stdout.splitlines()
    assert "first-layer" in first and "length map" in first
    he = next(line for line in lines if line.startswith("tf_he_normal"))
    assert "r=0.788589" in he


def test_cli_depth_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "derive", "depth", "--cutoff", "2", "--json", "--digits", "8"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rows = {r["case"]: r for r in json.loads(out.stdout)["rows"]}
    assert rows["truncated_normal_uncorrected_k2"]["r^L"] == "0.0021198188"
