"""The framework's random number generator (dropout, initialisation).

One seeded ``numpy.random.Generator`` serves all of minialex's randomness,
so ``minialex.manual_seed(0)`` makes a run repeat exactly. Masks for CuPy
tensors are drawn here too and copied to the GPU: slower than drawing on
the GPU, but the same seed gives the same numbers on every device.
"""

import numpy

__all__ = ["manual_seed", "default_generator", "get_rng_state", "set_rng_state"]

_generator = numpy.random.default_rng(0)


def manual_seed(seed):
    """Reseed minialex's generator (int >= 0). Returns the new Generator."""
    global _generator
    _generator = numpy.random.default_rng(seed)
    return _generator


def default_generator():
    """The current ``numpy.random.Generator``."""
    return _generator


def get_rng_state():
    """The generator's state, a JSON-serialisable dict (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state):
    """Restore a state returned by :func:`get_rng_state`."""
    _generator.bit_generator.state = state
