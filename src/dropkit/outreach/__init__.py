"""Email marketing: subscribers, segments, templates, campaigns, providers (in progress)."""

__all__: list[str] = []
