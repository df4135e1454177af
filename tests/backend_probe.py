"""A pytest plugin for test_backends: prints which Keras backend the tests ran on."""

from __future__ import annotations

__all__ = ["pytest_terminal_summary"]


def pytest_terminal_summary(terminalreporter: object) -> None:
    """One line naming the Keras backend, so the caller can assert it."""
    import keras

    terminalreporter.write_line(f"keras backend: {keras.backend.backend()}")  # type: ignore[attr-defined]
