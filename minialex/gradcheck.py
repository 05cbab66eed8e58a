"""Numerical gradient checking: compare a backward pass with central
differences."""

import numpy

from .autograd import Tensor, no_grad

__all__ = ["gradcheck", "GradcheckError", "numerical_grad"]


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree."""


def numerical_grad(f, x, eps):
    """Central differences: dF/dx_i ~ (F(x + eps e_i) - F(x - eps e_i)) / (2 eps),
    for a scalar function ``f`` of the array ``x`` (modified in place and
    restored). Error O(eps^2) for smooth F."""
    g = numpy.zeros(x.shape, dtype=numpy.float64)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check ``fn``'s backward pass against central differences, in float64.

    The output y = fn(*inputs) (any shape) is reduced to the scalar
    F = sum(w * y) with fixed random weights w, so every output element and
    every path through the graph is exercised. Then for each input tensor
    with ``requires_grad=True`` the gradient from ``F.backward()`` is compared
    element by element with the numerical one:
    ``|analytic - numeric| <= atol + rtol * |numeric|``.

    Args:
        fn: callable taking the ``inputs`` and returning one Tensor.
        inputs: sequence of Tensors (float64, NumPy-backed; CuPy data is
            copied to the host for the differences). Inputs that do not
            require grad are held fixed.
        eps, atol, rtol: step and tolerances (defaults suit float64).
        seed: seed of the projection weights w.

    Returns:
        True when every gradient matches.

    Raises:
        GradcheckError: naming the input, the worst element's index, the
            analytic and numerical values.
        TypeError: an input that requires grad is not float64.
        ValueError: no input requires grad (the check would be empty).
    """
    inputs = list(inputs)
    if not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        raise ValueError("gradcheck: no input has requires_grad=True, so there is "
                         "nothing to check; create the inputs with requires_grad=True")
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != numpy.float64:
            raise TypeError(f"gradcheck input {i} has dtype {x.dtype}; use float64 "
                            "(central differences in float32 are too coarse)")
    y = fn(*inputs)
    w = numpy.random.default_rng(seed).standard_normal(y.shape)
    w_dev = y.device.put(w)
    for x in inputs:
        if isinstance(x, Tensor):
            x.grad = None
    y.backward(w_dev)
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        analytic = x.numpy() if x.grad is None else _host(x.grad)
        if x.grad is None:
            analytic = numpy.zeros(x.shape)
        host = x.numpy().copy()

        def F():
            """The scalar sum(w * fn(inputs)) at x's current ``host`` values."""
            x.data = x.device.put(host)
            with no_grad():  # only values are needed: build no graph
                out = fn(*inputs)
            return float((out.numpy() * w).sum())

        numeric = numerical_grad(F, host, eps)
        x.data = x.device.put(host)
        err = numpy.abs(analytic - numeric) - (atol + rtol * numpy.abs(numeric))
        if (err > 0).any():
            idx = tuple(int(j) for j in numpy.unravel_index(int(numpy.argmax(err)), err.shape))
            raise GradcheckError(
                f"gradient of input {i} (shape {x.shape}) is wrong at index {idx}: "
                f"backward gives {analytic[idx]:.8g}, central differences give "
                f"{numeric[idx]:.8g} ({int((err > 0).sum())} of {err.size} elements "
                f"off by more than atol={atol} + rtol={rtol} * |numeric|)")
    return True


def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, numpy.ndarray) else numpy.asarray(a)
