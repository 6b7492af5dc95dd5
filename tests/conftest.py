"""Shared pytest fixtures for the rnnlab test suite."""

import os

import pytest

from rnnlab.nn import backend

# RNNLAB_COMPILED=0 in the environment runs every backend="auto" module on the NumPy reference
# path (rnnlab.nn.backend reads it); CI runs the suite both ways.


def require(what: str, variable: str, hint: str) -> None:
    """Skip the test for lack of `what`, or fail it when the environment sets `variable`=1 (CI)."""
    if os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {what} ({hint})", pytrace=False)
    pytest.skip(f"{what} ({hint})")


@pytest.fixture
def compiled():
    """For tests of the compiled backend: skipped without numba, failing when
    RNNLAB_REQUIRE_COMPILED=1 (as CI sets it), so CI can never pass by skipping them."""
    if not backend.numba_available():
        require("numba is not installed", "RNNLAB_REQUIRE_COMPILED", 'pip install -e ".[fast]"')
    return "compiled"


@pytest.fixture(scope="session")
def torch():
    """The ``torch`` module, for reference tests.

    Tests that use it are skipped when torch cannot be imported, unless the
    environment sets ``RNNLAB_REQUIRE_TORCH=1`` (as CI should), in which case
    they fail instead, so a broken torch install cannot pass silently.
    """
    try:
        import torch as torch_module
    except Exception as exc:  # ImportError, or a broken install (OSError, ...)
        if os.environ.get("RNNLAB_REQUIRE_TORCH") == "1":
            pytest.fail(f"RNNLAB_REQUIRE_TORCH=1 but torch is not importable: {exc!r}")
        pytest.skip(f"torch is not importable: {exc!r}")
    return torch_module


@pytest.fixture(scope="session")
def onnx():
    """The ``onnx`` module, for export tests that also run ``onnxruntime``.

    Skipped when either package cannot be imported, unless the environment sets
    ``RNNLAB_REQUIRE_ONNX=1`` (as CI does), in which case the tests fail instead.
    """
    try:
        import onnx as onnx_module
        import onnxruntime  # noqa: F401  (the exported graphs are checked by running them)
    except Exception as exc:  # ImportError, or a broken install
        if os.environ.get("RNNLAB_REQUIRE_ONNX") == "1":
            pytest.fail(f"RNNLAB_REQUIRE_ONNX=1 but onnx/onnxruntime is not importable: {exc!r}")
        pytest.skip(f"onnx/onnxruntime is not importable: {exc!r}")
    return onnx_module


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (tests/browser.py: the distribution's package over the DevTools
    protocol), shared by the session's page tests. Skipped when none is installed, failing when
    RNNLAB_REQUIRE_BROWSER=1 (as .ci/run sets it after installing one), so CI cannot pass by
    skipping; a browser that is installed but does not start fails either way."""
    from browser import Chromium, find_chromium

    if find_chromium() is None:
        require("chromium is not installed", "RNNLAB_REQUIRE_BROWSER", "apt-get install chromium")
    with Chromium() as chromium:
        yield chromium


@pytest.fixture
def run_quick(tmp_path):
    """run_quick(NAME, **options) -> (summary, run folder): `rnnlab experiment NAME --quick --seed 0`
    into tmp_path/NAME, after checking the files every run folder holds and that summary.json and
    summary.md say what the call returned."""
    import json

    from rnnlab.experiments import run_experiment

    def run(name, **options):
        out = tmp_path / name
        summary = run_experiment(name, out, quick=True, seed=0, **options)
        for file in ("config.json", "metrics.jsonl", "summary.json", "summary.md"):
            assert (out / file).is_file(), file
        assert json.loads((out / "summary.json").read_text())["result"] == summary["result"]
        assert f"rnnlab experiment {name} --quick" in (out / "summary.md").read_text()
        return summary, out

    return run
