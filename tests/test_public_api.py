"""The public surface: guard.__all__ is sorted, complete and holds only real names."""

from __future__ import annotations

import types

import guard

# Grows as issues land; every name here is implemented, none is a stub.
DOCUMENTED = {
    "AsyncGuardTransport",
    "BreakerOpenError",
    "ConfigError",
    "GuardError",
    "GuardSettings",
    "GuardTransport",
    "KeyExpiredError",
    "__version__",
    "configure_logging",
}


def test_all_is_sorted() -> None:
    """__all__ is kept in sorted order."""
    assert guard.__all__ == sorted(guard.__all__)


def test_all_is_the_documented_surface() -> None:
    """__all__ holds exactly the documented names."""
    assert set(guard.__all__) == DOCUMENTED


def test_every_exported_name_exists() -> None:
    """Each name in __all__ is an attribute of the package."""
    missing = [name for name in guard.__all__ if not hasattr(guard, name)]
    assert missing == []


def test_no_public_name_is_left_out_of_all() -> None:
    """Every public, non-module attribute of guard is exported."""
    public = {
        name
        for name, value in vars(guard).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(guard.__all__)


def test_import_adds_no_log_sink() -> None:
    """Importing guard leaves loguru's guard events disabled until the app enables them."""
    from loguru import logger

    assert logger._core.activation_list  # type: ignore[attr-defined]
    assert ("guard.", False) in logger._core.activation_list  # type: ignore[attr-defined]
