"""The Example blocks in the models' docstrings (what help() shows) run and print what they say."""

import doctest
import importlib

import pytest

MODULES = ["encoder", "classifier", "tagger", "forecaster", "charlm", "seq2seq", "ocr", "ball", "caption"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run_as_written(name):
    module = importlib.import_module(f"rnnlab.models.{name}")
    result = doctest.testmod(module, raise_on_error=False, report=True)
    assert result.attempted > 0, f"rnnlab.models.{name} has no docstring example"
    assert result.failed == 0, f"{result.failed} docstring example(s) in rnnlab.models.{name} failed (output above)"
