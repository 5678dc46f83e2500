"""`make bench`: drive the engine through its ingress with signed webhooks over loopback HTTP and
print one JSON object of figures.

The sandboxes run in their own process (profile ``unthrottled``), the engine in another (a worker,
as in production); this process only sends webhooks and reads results back. Latency is "webhook to
last write": from just before a webhook is sent to the Xero sandbox's receipt of the event's last
write (both clocks are this machine's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from benchmarks import machine
from connectors.lean_transport import LeanTransport
from connectors.sandbox import free_port
from connectors.webhooks import sign_hubspot_v3
from opsconsole.sandboxes import HUBSPOT_SECRET, start_process, stop_process

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.e2e.procs import WorkerProcess, worker_env  # noqa: E402

SIZES = {  # events at concurrency 1 (latency) and at concurrency 32 (throughput)
    "single_hop": (150, 3000),
    "quote_to_order": (80, 1200),
}
# quote_to_order: contact, order, accept, billing schedule (a RepeatingInvoice), invoice; the bench
# sends only quotes with a subscription line, so every event makes all five (the Intercom data
# event is skipped: the bench's customers are not in Intercom)
WRITES_PER_EVENT = {"single_hop": 1, "quote_to_order": 5}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0


class Bench:
    """The sandboxes and ``engines`` workers. With more than one, each has a store and an ingress of
    its own and the sender deals the events out in turn: a ceiling for engines that shared a store
    (benchmarks/engines.py); `make bench` runs one."""

    def __init__(self, workflow: str, work: Path, *, worker_prefix: tuple[str, ...] = (), start_s: float = 30,
                 engines: int = 1) -> None:
        self.workflow = workflow
        self.work = work
        self.proc, self.sb = start_process(work / "sandboxes", profile="unthrottled", companies=0, scenario=False)
        self.workers: list[WorkerProcess] = []
        self.ports: list[int] = []
        try:
            for i in range(engines):
                var_dir = work if i == 0 else work / f"engine-{i}"
                var_dir.mkdir(exist_ok=True)
                port = free_port()
                # the shipped settings, but for the poll (it would add reads of its own)
                env = worker_env(var_dir, self.sb, ingress_port=port, OPSCONSOLE_SCHEDULE__HUBSPOT_POLL_S="3600")
                self.workers.append(WorkerProcess(var_dir, env, name="engine", prefix=worker_prefix))
                self.workers[-1].wait_running(start_s)
                self.ports.append(port)
        except BaseException:
            self.close()
            raise
        self.worker = self.workers[0]
        self.http = httpx.Client(timeout=30)
        self.event_id = 10_000_000

    def close(self, stop_s: float = 15) -> None:
        for worker in self.workers:
            worker.stop(stop_s)
        stop_process(self.proc)
        if hasattr(self, "http"):
            self.http.close()

    def make_subjects(self, n: int) -> list[str]:
        if self.workflow == "single_hop":
            return self.http.post(f"{self.sb.hubspot_url}/_sandbox/bulk-quotes", json={"count": n}).json()["company_ids"]
        # about one seeded quote in twelve has no subscription line: make enough, send those with one
        made = self.http.post(f"{self.sb.hubspot_url}/_sandbox/bulk-quotes", json={"count": n + n // 4 + 8}).json()
        quote_ids = made["subscription_quote_ids"][:n]
        if len(quote_ids) < n:
            raise RuntimeError(f"only {len(quote_ids)} of {n} bulk quotes have a subscription line")
        for i in range(0, n, 500):
            chunk = quote_ids[i:i + 500]
            self.http.post(f"{self.sb.hubspot_url}/_sandbox/approve", json={"ids": chunk, "deliver": False}).raise_for_status()
        return quote_ids

    def body(self, subject: str) -> tuple[bytes, str]:
        self.event_id += 1
        if self.workflow == "single_hop":
            occurred = 1_700_000_000_000 + self.event_id
            ev = {"eventId": self.event_id, "subscriptionType": "company.propertyChange", "objectId": int(subject),
                  "propertyName": "name", "propertyValue": "x", "occurredAt": occurred, "attemptNumber": 0}
            return orjson.dumps([ev]), f"hubspot:company:{subject}:{occurred}"
        ev = {"eventId": self.event_id, "subscriptionType": "object.propertyChange", "objectId": int(subject),
              "objectTypeId": "0-14", "propertyName": "hs_status", "propertyValue": "APPROVED",
              "occurredAt": int(time.time() * 1000), "attemptNumber": 0}
        return orjson.dumps([ev]), f"hubspot:quote:{subject}"

    async def send(self, subjects: list[str], concurrency: int, *, writes_before: int = 0) -> dict[str, float]:
        """Send one webhook per subject from ``concurrency`` senders. At concurrency 1 each webhook
        waits until the previous event's writes have all arrived: latency is then unloaded."""
        sent: dict[str, float] = {}
        done_writes = writes_before
        queue: asyncio.Queue = asyncio.Queue()
        # the load generator shares the machine's two cores with the engine and the sandboxes, so it
        # takes as little of them as it can: every request is signed and built before the clock
        # starts, and goes straight to the engine's own lean transport (no client layers per send)
        urls = [httpx.URL(f"http://127.0.0.1:{port}/webhooks/hubspot") for port in self.ports]
        for i, s in enumerate(subjects):
            url = urls[i % len(urls)]
            body, key = self.body(s)
            ts = int(time.time() * 1000)
            headers = {"Host": url.netloc.decode("ascii"),
                       "X-HubSpot-Signature-v3": sign_hubspot_v3(HUBSPOT_SECRET, "POST", str(url), body, ts),
                       "X-HubSpot-Request-Timestamp": str(ts), "Content-Type": "application/json",
                       "Content-Length": str(len(body))}
            request = httpx.Request("POST", url, headers=headers, stream=httpx.ByteStream(body),
                                    extensions={"timeout": {"connect": 30, "read": 30, "write": 30, "pool": 30}})
            queue.put_nowait((request, key))
        transport = LeanTransport(max_connections=concurrency)
        async with httpx.AsyncClient(transport=LeanTransport(max_connections=1), timeout=30) as client:  # (c1's poll)
            async def one_sender():
                while not queue.empty():
                    request, key = queue.get_nowait()
                    sent[key] = time.time()
                    r = await transport.handle_async_request(request)
                    if r.status_code != 200:
                        raise RuntimeError(f"ingress answered {r.status_code}: {(await r.aread())[:200]!r}")
                    if concurrency == 1:
                        nonlocal done_writes
                        done_writes += WRITES_PER_EVENT[self.workflow]
                        while (await client.get(f"{self.sb.xero_url}/_sandbox/state")).json()["writes"] < done_writes:
                            await asyncio.sleep(0.001)
            try:
                await asyncio.gather(*(one_sender() for _ in range(concurrency)))
            finally:
                await transport.aclose()
        return sent

    def writes_since(self, seq: int) -> list[dict]:
        return self.http.get(f"{self.sb.xero_url}/_sandbox/writes", params={"since": seq}).json()

    def wait_writes(self, expected_total: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.http.get(f"{self.sb.xero_url}/_sandbox/state").json()["writes"] >= expected_total:
                return
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {expected_total} writes")

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds so far (user + system, all threads) of the engine's process, the sandboxes'
        process and this one (the sender): they share the machine's cores."""
        def of(pid: int) -> float:
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rfind(")") + 2:].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        me = resource.getrusage(resource.RUSAGE_SELF)
        return {"engine": sum(of(w.proc.pid) for w in self.workers), "sandboxes": of(self.proc.pid),
                "sender": me.ru_utime + me.ru_stime}

    def phase(self, n: int, concurrency: int, writes_before: int, seq_before: int) -> tuple[list[float], float, int, dict]:
        """Send ``n`` events; their latencies, events/s, the last write's sequence number, and the
        CPU ms per event of each process (with the machine's steal and idle shares meanwhile)."""
        subjects = self.make_subjects(n)
        cpu_before, machine_before = self.cpu_s(), machine.cpu_times()
        sent = asyncio.run(self.send(subjects, concurrency, writes_before=writes_before))
        t0 = min(sent.values())
        expected = writes_before + n * WRITES_PER_EVENT[self.workflow]
        self.wait_writes(expected)
        cpu_ms: dict = {name: round((spent - cpu_before[name]) * 1000 / n, 2) for name, spent in self.cpu_s().items()}
        cpu_ms["machine"] = machine.share(machine_before, machine.cpu_times())
        writes = self.writes_since(seq_before)
        last: dict[str, float] = {}
        for w in writes:
            key = w["idempotency_key"].split(":", 1)[1].rsplit(":", 1)[0]  # workflow:<business key>:step
            last[key] = max(last.get(key, 0.0), w["at"])
        latencies = [(last[k] - sent[k]) * 1000 for k in sent if k in last]
        elapsed = max(last.values()) - t0
        return latencies, n / elapsed, max((w["seq"] for w in writes), default=seq_before), cpu_ms

    def run(self) -> dict:
        n1, n32 = SIZES[self.workflow]
        lat1, _, seq, _ = self.phase(n1, 1, 0, 0)
        lat32, rate, _, cpu_ms = self.phase(n32, 32, n1 * WRITES_PER_EVENT[self.workflow], seq)
        health = self.http.get(f"http://127.0.0.1:{self.ports[0]}/healthz").json()
        state = self.http.get(f"{self.sb.xero_url}/_sandbox/state").json()
        status = Path(f"/proc/{self.worker.proc.pid}/status").read_text()
        peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
        store = sum(p.stat().st_size for p in self.work.glob("store.db*"))
        events = n1 + n32
        return {
            "events_per_s": round(rate, 1),
            "p50_ms_c1": _quantile(lat1, 0.5), "p99_ms_c1": _quantile(lat1, 0.99),
            "p50_ms_c32": _quantile(lat32, 0.5), "p99_ms_c32": _quantile(lat32, 0.99),
            "engine_cpu_ms_per_event_c32": cpu_ms["engine"],
            "sandboxes_cpu_ms_per_event_c32": cpu_ms["sandboxes"],
            "sender_cpu_ms_per_event_c32": cpu_ms["sender"],
            "machine_c32": cpu_ms["machine"],
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "store_mb": round(store / 1_048_576, 2),
            "events": events,
            "config": {
                "journal_mode": health["store"].get("journal_mode"),
                "synchronous": health["store"].get("synchronous"),
                "transport": health["transport"].get("xero"),
                "sandbox_profile": state["profile"],
                "sandbox_writes_received": state["writes"],
                "writes_expected": events * WRITES_PER_EVENT[self.workflow],
                "group_commits": health["writer"].get("commits"),
                "store_ops": health["writer"].get("ops"),
                "writer_busy_s": health["writer"].get("busy_s"),
                "writer_commit_s": health["writer"].get("commit_s"),
            },
        }


def main() -> None:
    """``make bench``: every section; ``python -m benchmarks.run quote_to_order console``: some."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Drive the engine through its ingress with signed webhooks over loopback HTTP and print "
                    "one JSON object of figures (docs/engine.md says what each means).")
    sections = [*SIZES, "console"]
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"any of {', '.join(sections)} (default: all)")
    only = parser.parse_args().sections or sections
    unknown = [name for name in only if name not in sections]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}: choose from {', '.join(sections)}")
    out = {}
    reference_before = machine.reference_ms()
    for workflow in only:
        if workflow == "console":  # the console on a 1,000,000-run store (benchmarks/console.py)
            from benchmarks.console import run as console_run

            out["console"] = console_run()
            continue
        with tempfile.TemporaryDirectory(prefix=f"bench-{workflow}-") as tmp:
            bench = Bench(workflow, Path(tmp))
            try:
                out[workflow] = bench.run()
            finally:
                bench.close()
    out["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                      "reference_ms": [reference_before, machine.reference_ms()]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
