"""The README's Python examples run as written (a newcomer copies them)."""

import os
import re

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _python_blocks():
    with open(README, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_readme_has_python_examples():
    assert _python_blocks(), "README.md lost its ```python examples"


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_python_example_runs(index):
    code = _python_blocks()[index]
    namespace = {"__name__": "readme_example"}
    exec(compile(code, f"README.md python block {index + 1}", "exec"), namespace)
