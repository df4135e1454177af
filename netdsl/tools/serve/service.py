"""A loaded model as the server's routes use it, and the limits of what one request may cost.
No web stack and no TensorFlow here (the command reads its options into these first)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .signature import Signature

__all__ = ["Limits", "Service"]


@dataclass(frozen=True)
class Limits:
    """What one request may cost: its body's size, the time to send it, its instances; and
    the batching (the most instances in one model call, the wait for more)."""

    max_body: int = 16 << 20
    read_timeout: float = 30.0
    max_instances: int = 1024
    max_batch: int = 64
    window: float = 0.002

    def to_json(self) -> dict[str, Any]:
        return {
            "max_body_bytes": self.max_body,
            "read_timeout_s": self.read_timeout,
            "max_instances": self.max_instances,
            "max_batch": self.max_batch,
            "batch_window_ms": self.window * 1000,
        }


@dataclass
class Service:
    """A loaded model as the routes use it: its signature, the model call for a batch, the
    reading of one output row (top classes, or values), and the limits."""

    signature: Signature
    run: Callable[[dict[str, np.ndarray]], Any]
    explain: Callable[[Any, int], dict[str, Any]]
    limits: Limits
    about: dict[str, Any]

    @property
    def name(self) -> str:
        return self.signature.name
