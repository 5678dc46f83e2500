"""The footer of every screen: Textual's Footer, rebuilt at most once per refresh and only when the
keys it shows changed.

Textual's Footer recomposes (unmounts and mounts a widget per key) on every binding change of its
screen, one recompose queued per change: a tab switch changes focus and bindings several times, and
the status poll refreshes bindings each second. Those recomposes were the most of the work between a
key and the pane it shows.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeysFooter(Footer):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._queued = False
        self._shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._queued:
            return
        if self.is_attached and screen is self.screen:
            self._queued = True
            self.call_after_refresh(self._rebuild)

    def _keys(self) -> tuple:
        return tuple((binding.key, binding.action, binding.description, enabled, tooltip)
                     for (_, binding, enabled, tooltip) in self.screen.active_bindings.values() if binding.show)

    async def _rebuild(self) -> None:
        self._queued = False
        if not self.is_attached:  # its screen was closed meanwhile
            return
        keys = self._keys()
        if keys != self._shown:
            self._shown = keys
            await self.recompose()
