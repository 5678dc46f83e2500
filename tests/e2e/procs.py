"""Start the sandboxes and workers as real processes (for crash, lease and benchmark runs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from connectors.sandbox import free_port
from opsconsole.sandboxes import HUBSPOT_SECRET, HUBSPOT_TOKEN, XERO_TENANT, XERO_TOKEN, SandboxInfo, start_process, stop_process


class SandboxProcess:
    """The sandboxes as a child process. ``validate_responses`` (the default for tests): every answer is
    checked against the vendor's description, and :meth:`close` fails on any violation recorded."""

    def __init__(self, var_dir: Path, *, companies: int = 20, scenario: bool = False, profile: str = "demo",
                 validate_responses: bool = True) -> None:
        self.validate_responses = validate_responses
        self.proc, self.info = start_process(var_dir, companies=companies, scenario=scenario, profile=profile,
                                             validate_responses=validate_responses)
        self.http = httpx.Client(timeout=10)

    def quote_ids(self) -> list[str]:
        ids, after = [], None
        while True:
            params = {"limit": 100, **({"after": after} if after else {})}
            page = self.http.get(f"{self.info.hubspot_url}/crm/v3/objects/quotes", params=params,
                                 headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"}).json()
            ids += [q["id"] for q in page["results"]]
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return ids

    def approve(self, ids: list[str]) -> None:
        r = self.http.post(f"{self.info.hubspot_url}/_sandbox/approve", json={"ids": ids})
        r.raise_for_status()

    def webhooks(self, **body) -> dict:
        r = self.http.post(f"{self.info.hubspot_url}/_sandbox/webhooks", json=body)
        r.raise_for_status()
        return r.json()

    def hubspot_state(self) -> dict:
        return self.http.get(f"{self.info.hubspot_url}/_sandbox/state").json()

    def deliveries(self) -> list[dict]:
        return self.http.get(f"{self.info.hubspot_url}/_sandbox/deliveries").json()["deliveries"]

    def xero_state(self) -> dict:
        return self.http.get(f"{self.info.xero_url}/_sandbox/state").json()

    def xero_records(self, collection: str) -> list[dict]:
        return self.http.get(f"{self.info.xero_url}/_sandbox/records/{collection}").json()[collection]

    def contract_violations(self) -> list[dict]:
        """What the sandboxes' contract checks recorded (``--validate-responses``), all vendors."""
        found = []
        for url in (self.info.hubspot_url, self.info.xero_url, self.info.intercom_url):
            if url and self.proc.poll() is None:
                found += self.http.get(f"{url}/_sandbox/contract").json()["violations"]
        return found

    def close(self) -> None:
        try:
            violations = self.contract_violations() if self.validate_responses else []
        finally:
            self.http.close()
            stop_process(self.proc)
        assert not violations, f"the sandboxes answered against the vendors' descriptions: {violations[:5]}"


def worker_env(var_dir: Path, sb: SandboxInfo, *, ingress_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCONSOLE_")}
    env.update({
        "OPSCONSOLE_STORE_URL": f"sqlite:///{var_dir / 'store.db'}",
        "OPSCONSOLE_VAR_DIR": str(var_dir),
        "OPSCONSOLE_AUDIT_KEY": "e2e-audit-key",
        "OPSCONSOLE_INGRESS_PORT": str(ingress_port),
        "OPSCONSOLE_HUBSPOT__BASE_URL": sb.hubspot_url,
        "OPSCONSOLE_HUBSPOT__TOKEN": HUBSPOT_TOKEN,
        "OPSCONSOLE_HUBSPOT__WEBHOOK_SECRET": HUBSPOT_SECRET,
        "OPSCONSOLE_XERO__BASE_URL": sb.xero_api,
        "OPSCONSOLE_XERO__TOKEN": XERO_TOKEN,
        "OPSCONSOLE_XERO__TENANT_ID": XERO_TENANT,
        "OPSCONSOLE_LOG_FILE": str(var_dir / "worker.log"),
    })
    env.update(extra)
    return env


class WorkerProcess:
    def __init__(self, var_dir: Path, env: dict[str, str], name: str = "worker", prefix: tuple[str, ...] = ()) -> None:
        """``prefix``: a command the worker runs under (benchmarks/instructions.py: valgrind)."""
        self.var_dir = var_dir
        self.out_path = var_dir / f"{name}.out"
        self._out = open(self.out_path, "ab")
        self.proc = subprocess.Popen([*prefix, sys.executable, "-m", "opsconsole.cli", "worker"], cwd=var_dir, env=env,
                                     stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_running(self, timeout: float = 20) -> bool:
        """Wait until the worker says it runs the engine; False if it died first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "engine running" in self.output():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        raise AssertionError(f"worker did not start: {self.output()[-2000:]}")

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def killed(self) -> bool:
        return self.proc.poll() == -signal.SIGKILL

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode


def wait_until(predicate, timeout: float, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} not met within {timeout}s")


__all__ = ["SandboxProcess", "WorkerProcess", "worker_env", "free_port", "wait_until", "json"]
