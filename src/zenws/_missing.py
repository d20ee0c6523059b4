"""The ImportError for a compiled extension that is missing or cannot be loaded.

There is no pure-Python fallback, so the message must name the fix that applies where zenws
was imported from: in a source checkout (``src/zenws`` next to ``setup.py``) the extensions
are built in place; an installed package is reinstalled.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["missing_extension", "source_checkout"]


def source_checkout() -> Path | None:
    """The root of the source checkout zenws is imported from, or ``None`` when installed."""
    package = Path(__file__).resolve().parent
    root = package.parent.parent
    if package.parent.name == "src" and (root / "setup.py").is_file():
        return root
    return None


def missing_extension(module: str) -> ImportError:
    """Build the ImportError for ``module`` (e.g. ``"zenws.fast.listener"``).

    Args:
        module: the dotted name of the compiled module that did not import.

    Returns:
        The exception to raise, with ``name`` set to ``module``.
    """
    from ._version import __version__

    root = source_checkout()
    if root is not None:
        fix = (
            f"this is a source checkout ({root}): build the extensions with "
            f"`python setup.py build_ext --inplace` there (or `pip install -e .`)"
        )
    else:
        fix = (
            f"reinstall the package: `pip install --force-reinstall zenws=={__version__}` "
            "(pip picks the wheel for this Python and platform; without one it builds from "
            "the sdist, which needs a C compiler and the Python headers)"
        )
    return ImportError(
        f"{module}, a compiled extension of zenws, is missing or cannot be loaded; {fix}. "
        "There is no pure-Python fallback.",
        name=module,
    )
