"""The headless engine: ingress, runner, workflows, scheduler, lease, audit, tracing."""
