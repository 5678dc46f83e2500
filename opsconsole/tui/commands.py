"""The command palette: every console action as an `area: verb` command."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (command name, help, app action)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("view: runs", "Show the runs pane", "view('runs')"),
    ("view: exceptions", "Show the open exceptions pane", "view('exceptions')"),
    ("filter: open", "Filter the active pane as you type", "filter"),
    ("filter: clear", "Clear the active pane's filter", "clear_filter"),
    ("runs: open trace", "Open the trace of the selected run", "open_trace"),
    ("exceptions: open trace", "Open the trace of the selected exception's run", "open_trace"),
    ("exceptions: retry", "Retry the selected exception (or the selected run's open exception)", "retry"),
    ("replay: dry run", "Plan a replay of the selected run and show what it would send", "replay"),
    ("help: keys", "List every key binding", "help"),
    ("app: quit", "Leave the console", "quit"),
)


class OpsCommands(Provider):
    async def _run(self, action: str) -> None:
        await self.app.run_action(action)

    async def discover(self) -> Hits:
        for name, help_text, action in COMMANDS:
            yield DiscoveryHit(name, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, action), text=name, help=help_text)
