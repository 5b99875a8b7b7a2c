"""dropkit: an async, library-first toolkit for running a dropshipping business from Python."""

import logging

from dropkit._version import __version__
from dropkit.kit import Dropkit

# A library logs to its own logger and leaves handlers to the application.
logging.getLogger("dropkit").addHandler(logging.NullHandler())

__all__ = ["Dropkit", "__version__"]
