"""dropkit: an async, library-first toolkit for running a dropshipping business from Python."""

__version__ = "0.1.0"

from dropkit.kit import Dropkit

__all__ = ["Dropkit", "__version__"]
