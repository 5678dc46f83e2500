"""The command palette: every console action as an `area: verb` command."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (command name, help, app action)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("dashboard: show", "Show throughput, exceptions against their SLA and business milestones", "view('dashboard')"),
    ("view: runs", "Show the runs pane", "view('runs')"),
    ("view: exceptions", "Show the open exceptions pane", "view('exceptions')"),
    ("view: conflicts", "Show the open ownership conflicts and suspected duplicates", "view('conflicts')"),
    ("view: approvals", "Show the corrections waiting for finance approval", "view('approvals')"),
    ("filter: open", "Filter the active pane as you type", "filter"),
    ("filter: clear", "Clear the active pane's filter", "clear_filter"),
    ("runs: open trace", "Open the trace of the selected run", "open_trace"),
    ("exceptions: open trace", "Open the trace of the selected exception's run", "open_trace"),
    ("exceptions: retry", "Retry the selected exception (or the selected run's open exception)", "retry"),
    ("exceptions: open detail", "Show the selected exception's error, suggested action, trace and payload",
     "open_detail"),
    ("exceptions: acknowledge", "Acknowledge the selected (or marked) exceptions: you own them (support)",
     "exception('acknowledge')"),
    ("exceptions: assign", "Assign the selected (or marked) exceptions to you or a known operator (support)",
     "exception('assign')"),
    ("exceptions: resolve", "Resolve the selected (or marked) exceptions, with a reason (support)",
     "exception('resolve')"),
    ("exceptions: mark", "Mark or unmark the selected exception for a bulk action", "exception('mark')"),
    ("exceptions: mark all", "Mark every exception the filter matches (counted in the store)", "exception('mark_all')"),
    ("exceptions: sort", "Cycle the sort: newest, oldest, by category, by workflow", "exception('sort')"),
    ("replay: dry run", "Plan a replay of the selected run and show what it would send", "replay"),
    ("conflicts: open detail", "Show the selected conflict's values, provenance and rule", "open_detail"),
    ("conflicts: keep", "Keep the owner's value of the selected conflict", "conflict('keep')"),
    ("conflicts: take", "Take the other system's value (not for a billing-impacting field)", "conflict('take')"),
    ("conflicts: raise correction", "Ask finance to approve writing the other system's value", "conflict('correction')"),
    ("conflicts: link", "Link the suspected duplicate to the known customer", "conflict('link')"),
    ("conflicts: separate", "Keep the suspected duplicate as a separate customer", "conflict('separate')"),
    ("approvals: open detail", "Show the selected correction's whole change and reason", "open_detail"),
    ("approvals: approve", "Approve the selected correction (finance, not the requester)", "decide('approve')"),
    ("approvals: reject", "Reject the selected correction, with a reason", "decide('reject')"),
    ("connectors: show", "Show each connector's state, last success, error rate, budget left, rejected webhooks",
     "view('connectors')"),
    ("connectors: pause", "Pause the selected connector: its steps wait, nothing is dropped (support)",
     "connector_pause(True)"),
    ("connectors: resume", "Resume the selected connector: its waiting runs continue, oldest first (support)",
     "connector_pause(False)"),
    ("view: audit", "Show the audit log and whether its hash chain verifies", "view('audit')"),
    ("audit: verify", "Verify the audit chain again (every entry's MAC and the head)", "verify_audit"),
    ("trace: find", "Find a trace by correlation id, business key, vendor id or company name", "find_trace"),
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
