"""Physics simulators, one module per kind of data."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


def params_from_config(cls: type[T], section: dict[str, Any]) -> T:
    """A simulator's parameter dataclass from its config section (YAML lists -> tuples)."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in section.items()})
