"""docs/tutorial.md runs: every ``>>>`` example in it, with its output checked (doctest)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"


def test_the_tutorial_runs_and_shows_what_bpnn_does():
    pytest.importorskip("matplotlib")
    result = doctest.testfile(str(TUTORIAL), module_relative=False, report=True, verbose=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, encoding="utf-8")
    assert result.attempted > 40, result
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {TUTORIAL.name} failed (see above)"
