"""The docs' doctests (docs/**/*.md, collected through pyproject.toml's
``--doctest-glob``): each page may set NumPy's print options for its
examples; they are restored afterwards so no other test sees them."""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _restore_print_options():
    saved = np.get_printoptions()
    yield
    np.set_printoptions(**saved)
