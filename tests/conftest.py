"""Shared pytest fixtures for the rnnlab test suite."""

import os

import pytest


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
