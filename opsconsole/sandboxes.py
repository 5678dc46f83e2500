"""The vendor sandboxes, served on loopback: standalone (`opsconsole sandbox serve`) or as the
demo's child process. Both sandboxes share one event loop (uvloop) in their own process, so their
CPU never competes with the engine's event loop."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HUBSPOT_TOKEN = "sandbox-hubspot-token"
HUBSPOT_SECRET = "sandbox-hubspot-secret"
XERO_TOKEN = "sandbox-xero-token"
XERO_TENANT = "sandbox-tenant"
XERO_WEBHOOK_KEY = "sandbox-xero-webhook-key"
"""The Xero sandbox's webhook signing key (connectors/xero/delivery.py's default): the demo engine's
``[xero] webhook_secret``, and what the demo driver configures the sandbox's webhooks with."""
INTERCOM_TOKEN = "sandbox-intercom-token"
INTERCOM_SECRET = "sandbox-intercom-client-secret"
"""The Intercom sandbox app's client secret: its webhooks' X-Hub-Signature key."""
VENDORS = ("hubspot", "xero", "intercom")


@dataclass
class SandboxInfo:
    hubspot_url: str
    xero_url: str
    pid: int
    scenario: dict
    profile: str
    intercom_url: str = ""

    @property
    def xero_api(self) -> str:
        return f"{self.xero_url}/api.xro/2.0"

    def as_dict(self) -> dict:
        return {"hubspot_url": self.hubspot_url, "xero_url": self.xero_url, "xero_api": self.xero_api,
                "pid": self.pid, "scenario": self.scenario, "profile": self.profile,
                "hubspot_token": HUBSPOT_TOKEN, "hubspot_webhook_secret": HUBSPOT_SECRET,
                "xero_token": XERO_TOKEN, "xero_tenant_id": XERO_TENANT, "xero_webhook_key": XERO_WEBHOOK_KEY,
                "intercom_url": self.intercom_url, "intercom_token": INTERCOM_TOKEN,
                "intercom_webhook_secret": INTERCOM_SECRET}

    @classmethod
    def from_dict(cls, d: dict) -> "SandboxInfo":
        return cls(d.get("hubspot_url", ""), d.get("xero_url", ""), d["pid"], d.get("scenario", {}),
                   d.get("profile", "demo"), d.get("intercom_url", ""))


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """A child of the demo exits with it, even when the demo was killed without a chance to say so."""
    while not stop.is_set():
        if os.getppid() != parent_pid:
            stop.set()
            return
        await asyncio.sleep(1)


def _build(name: str, profile: str):
    if name == "hubspot":
        from connectors.hubspot.sandbox import HubSpotSandbox

        return HubSpotSandbox(token=HUBSPOT_TOKEN, webhook_secret=HUBSPOT_SECRET, profile=profile)
    if name == "xero":
        from connectors.xero.sandbox import XeroSandbox

        return XeroSandbox(token=XERO_TOKEN, tenant_id=XERO_TENANT, profile=profile)
    if name == "intercom":
        from connectors.intercom.sandbox import IntercomSandbox

        return IntercomSandbox(token=INTERCOM_TOKEN, webhook_secret=INTERCOM_SECRET, profile=profile)
    raise ValueError(f"no sandbox named {name!r} (one of {', '.join(VENDORS)})")


def fault_config(name: str, settings=None, profile: str | None = None) -> dict:
    """The faults sandbox ``name`` starts with: ``profile`` (``--profile``) when given, else the settings
    file's ``[<name>.sandbox]`` table (profile and parameters), else the ``demo`` profile."""
    if profile is not None:
        return {"profile": profile}
    if settings is not None:
        return getattr(settings, name).sandbox.faults()
    return {"profile": "demo"}


def build_sandboxes(vendors: tuple[str, ...], *, profile: str | None = None, settings=None) -> dict:
    """The sandboxes to serve, by name, each switched to its start-up faults (:func:`fault_config`)."""
    sandboxes = {}
    for name in vendors:
        config = fault_config(name, settings, profile)
        sandbox = _build(name, config["profile"])
        sandbox.faults.configure(config)
        sandboxes[name] = sandbox
    return sandboxes


def profile_label(sandboxes: dict) -> str:
    """One profile name when they all share it, else ``name=profile`` for each."""
    profiles = {name: sb.faults.profile for name, sb in sandboxes.items()}
    if len(set(profiles.values())) == 1:
        return next(iter(profiles.values()))
    return " ".join(f"{name}={p}" for name, p in profiles.items())


def restore_states(sandboxes: dict, state_dir: Path, rebuild) -> set[str]:
    """Load ``<state_dir>/<vendor>.json`` into each sandbox that has one; the names restored.

    An unusable file is moved aside (``<vendor>.json.corrupt-<time>``, said on stderr) and that
    sandbox is replaced by ``rebuild(name)``, to be seeded as if there had been no file."""
    from connectors.sandbox_state import restore, state_path

    restored = set()
    for name in list(sandboxes):
        sandboxes[name], ok = restore(state_path(state_dir, name), name, lambda n=name: rebuild(n),
                                      sandbox=sandboxes[name])
        if ok:
            restored.add(name)
    return restored


def state_savers(sandboxes: dict, state_dir: Path) -> dict:
    """A debounced saver per sandbox, each with its state saved once now (the file exists from the start)."""
    from connectors.sandbox_state import DebouncedSaver, state_path

    savers = {name: DebouncedSaver(state_path(state_dir, name), name, sb.export_state) for name, sb in sandboxes.items()}
    for saver in savers.values():
        saver.mark_dirty()
        saver.flush()
    return savers


async def serve(host: str, hubspot_port: int, xero_port: int, *, profile: str | None, companies: int, scenario: bool,
                seed: int, port_file: Path | None, webhook_target: str = "", parent_pid: int = 0,
                vendors: tuple[str, ...] = ("hubspot", "xero"), intercom_port: int = 0, settings=None,
                state_dir: Path | None = None, validate_responses: bool = False, base_ms: int | None = None) -> None:
    """Serve ``vendors`` until SIGTERM/SIGINT. Faults: ``profile`` for all when given, else each
    vendor's ``[<vendor>.sandbox]`` from ``settings`` (see :func:`fault_config`).

    ``state_dir``: keep each sandbox's state in ``<state_dir>/<vendor>.json``: loaded at start
    instead of seeding when the file exists, saved within ~0.5 s of a change and on shutdown.

    ``base_ms``: the time HubSpot's seeded records are dated back from (None: a fixed day).

    ``validate_responses`` (tests): every answer is checked against the vendor's API description
    (:class:`connectors.contract.ContractMiddleware`, strict; needs the test extra); the record is at
    ``GET /_sandbox/contract``."""
    from connectors.sandbox import make_server
    from connectors.sandbox_state import MarkDirty

    sandboxes = build_sandboxes(vendors, profile=profile, settings=settings)
    restored = restore_states(sandboxes, state_dir, lambda name: build_sandboxes(
        (name,), profile=profile, settings=settings)[name]) if state_dir is not None else set()
    profile = profile_label(sandboxes)
    scenario_ids = {}
    hubspot = sandboxes.get("hubspot")
    if hubspot is not None and (companies or "hubspot" in restored):
        if "hubspot" not in restored:
            hubspot.seed(companies, scenario=scenario, seed=seed, base_ms=base_ms)
        scenario_ids = hubspot.scenario_ids() if scenario else {}
    if hubspot is not None and webhook_target:
        hubspot.target_url = webhook_target
    savers = state_savers(sandboxes, state_dir) if state_dir is not None else {}
    apps = {name: MarkDirty(sb.app, savers[name].mark_dirty) if name in savers else sb.app
            for name, sb in sandboxes.items()}
    if validate_responses:
        from connectors.contract import ContractMiddleware

        apps = {name: ContractMiddleware(app, name) for name, app in apps.items()}
    ports = {"hubspot": hubspot_port, "xero": xero_port, "intercom": intercom_port}
    servers = {name: make_server(apps[name], host, ports[name], loop="none") for name in sandboxes}
    tasks = [asyncio.create_task(s.serve()) for s in servers.values()]
    for saver in savers.values():
        saver.start()
    for sb in sandboxes.values():
        if getattr(sb, "webhooks", None) is not None:
            sb.webhooks.resume_pending()  # deliveries a restart interrupted
    while not all(s.started for s in servers.values()):
        for t in tasks:
            if t.done():
                t.result()
        await asyncio.sleep(0.01)
    urls = {name: f"http://{host}:{s.config.port}" for name, s in servers.items()}
    info = SandboxInfo(urls.get("hubspot", ""), urls.get("xero", ""), os.getpid(), scenario_ids, profile,
                       urls.get("intercom", ""))
    if port_file is not None:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info.as_dict(), indent=2))
        os.replace(tmp, port_file)
    lines = {"hubspot": f"HubSpot sandbox:  {info.hubspot_url}", "xero": f"Xero sandbox:     {info.xero_api}",
             "intercom": f"Intercom sandbox: {info.intercom_url}"}
    print("\n".join(lines[name] for name in sandboxes) + f"\nprofile: {profile}", flush=True)
    if state_dir is not None:
        print(f"state: {state_dir} (" + ", ".join(
            f"{name} {'restored' if name in restored else 'fresh'}" for name in sandboxes) + ")", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    for s in servers.values():
        s.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    for saver in savers.values():
        await saver.close()  # the last changes, once no request is in flight


def run(**kwargs) -> None:
    try:
        import uvloop

        uvloop.run(serve(**kwargs))
    except ImportError:  # pragma: no cover
        asyncio.run(serve(**kwargs))


def start_process(var_dir: Path, *, profile: str | None = None, companies: int = 50, scenario: bool = True,
                  seed: int = 7, timeout: float = 30, vendors: tuple[str, ...] = VENDORS,
                  state_dir: Path | None = None, validate_responses: bool = False,
                  dated_today: bool = False) -> tuple[subprocess.Popen, SandboxInfo]:
    """Start the sandboxes as a child process; return it with their URLs once they answer.

    ``vendors``: the sandboxes served; by default all three (HubSpot, Xero, Intercom: what the demo
    runs); ``()`` leaves it to `opsconsole sandbox serve` (HubSpot and Xero).

    ``profile``: every sandbox's fault profile; None leaves it to the settings file in force
    (``[<vendor>.sandbox]``; none: ``demo``), which the child reads as `opsconsole sandbox serve` does.
    ``state_dir``: passed as ``--state-dir`` (state loaded from and saved to ``<state_dir>/<vendor>.json``).
    ``validate_responses``: passed as ``--validate-responses`` (tests only: answers checked against the
    vendors' descriptions; benchmarks leave it off).
    ``dated_today``: passed as ``--dated-today`` (the demo: seeded records dated back from now)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    port_file = var_dir / "sandboxes.json"
    port_file.unlink(missing_ok=True)
    log = open(var_dir / "sandboxes.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsconsole.cli", "sandbox", "serve", *vendors,
         *(["--profile", profile] if profile is not None else []), "--companies", str(companies),
         "--seed", str(seed), "--port-file", str(port_file), "--parent-pid", str(os.getpid())]
        + ([] if scenario else ["--no-scenario"]) + ([] if state_dir is None else ["--state-dir", str(state_dir)])
        + (["--validate-responses"] if validate_responses else []) + (["--dated-today"] if dated_today else []),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not port_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"the sandboxes exited with {proc.returncode}; see {var_dir / 'sandboxes.log'}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the sandboxes did not start in time")
        time.sleep(0.05)
    return proc, SandboxInfo.from_dict(json.loads(port_file.read_text()))


def stop_process(proc: subprocess.Popen, timeout: float = 5) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
