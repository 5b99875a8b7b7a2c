"""dropkit: an async, library-first toolkit for running a dropshipping business from Python."""

import logging

__version__ = "0.1.0"

# A library logs to its own logger and leaves handlers to the application.
logging.getLogger("dropkit").addHandler(logging.NullHandler())

from dropkit.kit import Dropkit

__all__ = ["Dropkit", "__version__"]
