"""The research bot: fetchers, extraction, prices, politeness, monitors (in progress)."""

__all__: list[str] = []
