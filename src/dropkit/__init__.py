"""dropkit: an async, library-first toolkit for running a dropshipping business from Python."""

__version__ = "0.1.0"
