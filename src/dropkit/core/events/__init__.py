"""Typed domain events, stored in the caller's transaction and delivered at least once."""

from dropkit.core.events.bus import EventBus
from dropkit.core.events.models import Event, StoredEvent

__all__ = ["Event", "EventBus", "StoredEvent"]
