"""The product-video factory: script, voice, footage, timeline, PyAV compositor (in progress)."""

__all__: list[str] = []
