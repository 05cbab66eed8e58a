"""minialex.gradcheck itself: it must pass correct backward passes and
catch wrong ones, with a message that points at the bad element."""

import re

import numpy as np
import pytest

import minialex
from minialex import Function, GradcheckError, Tensor, gradcheck
from minialex.gradcheck import numerical_grad


class Cube(Function):
    """y = x^3, dy/dx = 3x^2 (correct)."""
    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, gy):
        return gy * 3 * self.x ** 2


class WrongCube(Cube):
    """Same forward, derivative off by a factor 2 (2x^2 instead of 3x^2)."""
    def backward(self, gy):
        return gy * 2 * self.x ** 2


class WrongAtOneElement(Function):
    """y = a * b, with the gradient of b wrong only at flat position 4."""
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        gb = gy * self.a
        gb.reshape(-1)[4] += 1.0
        return gy * self.b, gb


def x64(shape, seed=0):
    return Tensor(np.random.default_rng(seed).uniform(0.5, 2.0, shape), requires_grad=True)


def test_passes_a_correct_backward():
    assert gradcheck(lambda x: Cube()(x), [x64((3, 4))]) is True


def test_catches_a_wrong_derivative():
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: WrongCube()(x), [x64((2, 3))])
    msg = str(info.value)
    assert "input 0" in msg and "backward gives" in msg and "central differences give" in msg
    assert isinstance(info.value, AssertionError)


def test_names_the_input_and_the_worst_element():
    a, b = x64((2, 3), 1), x64((2, 3), 2)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: WrongAtOneElement()(a, b), [a, b])
    msg = str(info.value)
    # input 1 (b) is wrong at flat element 4 = index (1, 1), and only there
    assert re.search(r"input 1 \(shape \(2, 3\)\) is wrong at index \(1, 1\)", msg), msg
    assert "1 of 6 elements" in msg
    # both values are given: the true dF/db_11 = w_11 a_11 (F = sum w * y with
    # gradcheck's weights w, seed 0), and backward adds 1 to it
    nums = [float(v) for v in re.findall(r"give[s]? (-?[\d.e+-]+)", msg)]
    w = np.random.default_rng(0).standard_normal((2, 3))
    assert len(nums) == 2
    np.testing.assert_allclose(nums[0] - nums[1], 1.0, rtol=1e-5)
    np.testing.assert_allclose(nums[1], w[1, 1] * a.data[1, 1], rtol=1e-5)


def test_only_inputs_that_require_grad_are_checked():
    a = x64((3,))
    b = Tensor(np.ones(3))       # held fixed: the wrong gradient of b is never asked for
    assert gradcheck(lambda a, b: a * b, [a, b])
    with pytest.raises(ValueError, match="no input has requires_grad=True"):
        gradcheck(lambda b: b * 2.0, [b])


def test_refuses_float32():
    x = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="input 0 has dtype float32; use float64"):
        gradcheck(lambda x: x * 2.0, [x])


def test_input_without_a_path_to_the_output_has_zero_gradient():
    a, b = x64((2,)), x64((2,), 1)
    assert gradcheck(lambda a, b: a * 2.0, [a, b])


def test_tolerances_are_used():
    # a derivative off by 1e-4 relative passes rtol=1e-3 and fails rtol=1e-5
    class SlightlyOff(Function):
        def forward(self, x):
            return x * 1.0

        def backward(self, gy):
            return gy * (1 + 1e-4)

    x = x64((4,))
    assert gradcheck(lambda x: SlightlyOff()(x), [x], atol=0.0, rtol=1e-3)
    with pytest.raises(GradcheckError, match="rtol=1e-05"):
        gradcheck(lambda x: SlightlyOff()(x), [x], atol=0.0, rtol=1e-5)


def test_inputs_are_restored():
    x = x64((3,))
    before = x.data.copy()
    gradcheck(lambda x: Cube()(x), [x])
    np.testing.assert_array_equal(x.data, before)


def test_numerical_grad_central_differences():
    x = np.array([1.0, 2.0, 3.0])
    g = numerical_grad(lambda: float((x ** 2).sum()), x, 1e-6)
    np.testing.assert_allclose(g, [2.0, 4.0, 6.0], rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_checks_composed_graphs():
    a, b = x64((3, 2), 3), x64((2, 4), 4)
    assert gradcheck(lambda a, b: minialex.functional.log_softmax(a @ b * a[:, :1]), [a, b])
