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
INTERCOM_TOKEN = "sandbox-intercom-token"
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
                "xero_token": XERO_TOKEN, "xero_tenant_id": XERO_TENANT,
                "intercom_url": self.intercom_url, "intercom_token": INTERCOM_TOKEN}

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

        return IntercomSandbox(token=INTERCOM_TOKEN, profile=profile)
    raise ValueError(f"no sandbox named {name!r} (one of {', '.join(VENDORS)})")


async def serve(host: str, hubspot_port: int, xero_port: int, *, profile: str, companies: int, scenario: bool,
                seed: int, port_file: Path | None, webhook_target: str = "", parent_pid: int = 0,
                vendors: tuple[str, ...] = ("hubspot", "xero"), intercom_port: int = 0) -> None:
    from connectors.sandbox import make_server

    sandboxes = {name: _build(name, profile) for name in vendors}
    scenario_ids = {}
    hubspot = sandboxes.get("hubspot")
    if hubspot is not None and companies:
        hubspot.seed(companies, scenario=scenario, seed=seed)
        scenario_ids = hubspot.scenario_ids() if scenario else {}
    if hubspot is not None and webhook_target:
        hubspot.target_url = webhook_target
    ports = {"hubspot": hubspot_port, "xero": xero_port, "intercom": intercom_port}
    servers = {name: make_server(sb.app, host, ports[name], loop="none") for name, sb in sandboxes.items()}
    tasks = [asyncio.create_task(s.serve()) for s in servers.values()]
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


def run(**kwargs) -> None:
    try:
        import uvloop

        uvloop.run(serve(**kwargs))
    except ImportError:  # pragma: no cover
        asyncio.run(serve(**kwargs))


def start_process(var_dir: Path, *, profile: str = "demo", companies: int = 50, scenario: bool = True,
                  seed: int = 7, timeout: float = 30, vendors: tuple[str, ...] = ()) -> tuple[subprocess.Popen, SandboxInfo]:
    """Start the sandboxes as a child process; return it with their URLs once they answer."""
    var_dir.mkdir(parents=True, exist_ok=True)
    port_file = var_dir / "sandboxes.json"
    port_file.unlink(missing_ok=True)
    log = open(var_dir / "sandboxes.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsconsole.cli", "sandbox", "serve", *vendors, "--profile", profile,
         "--companies", str(companies),
         "--seed", str(seed), "--port-file", str(port_file), "--parent-pid", str(os.getpid())]
        + ([] if scenario else ["--no-scenario"]),
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
