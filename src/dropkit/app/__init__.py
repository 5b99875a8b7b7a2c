"""The optional reference app: the ``dropkit`` CLI, its settings, and the showcase demo.

Nothing here is needed to use dropkit as a library. The modules import typer, rich, uvicorn and
pydantic-settings (the ``server`` extra), so this package imports none of them eagerly:
``import dropkit`` and ``import dropkit.app`` work without the extra installed.
"""

__all__: list[str] = []
