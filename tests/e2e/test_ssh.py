"""The console over SSH (docs/ssh.md), end to end: OpenSSH's own sshd on loopback, one key per
person, each bound by a forced command to `opsconsole console --attach --as NAME`, a headless worker
running the engine on the same store, and a real ssh client in a pseudo-terminal whose output is
read back as a screen through a VT100 emulator (pyte).

- alice (support + finance) replays a failed run from the exceptions pane at 80x24: the command is
  written with actor alice and the worker executes it; she is refused approving her own correction.
- bob (support) is refused approving it (no finance role), although his client asks to be fiona
  with extra arguments and OPSCONSOLE_* variables: the forced command and the OS decide who he is.
  His connection is then cut: the console on the server ends with it, the worker carries on.
- fiona (finance) approves it: maker-checker passes and the engine writes the decision as hers.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.e2e.procs import SandboxProcess, WorkerProcess, free_port, wait_until

pytestmark = pytest.mark.slow

SSHD = "/usr/sbin/sshd"
SCREEN_TIMEOUT = 45.0  # a loaded 2-core machine: Textual's first frame can take seconds
LOGIN = pwd.getpwuid(os.getuid()).pw_name  # sshd not run as root can only log in as its own user
ROLES = {"alice": ["support", "finance"], "bob": ["support"], "fiona": ["finance"]}


def _need(tool: str) -> str:
    path = shutil.which(tool) or (tool if os.path.exists(tool) else None)
    if path is None:
        message = f"{tool} is not installed (apt-get install openssh-server openssh-client; .ci/run does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)  # in CI a missing sshd is a broken set-up, not a reason to skip
        pytest.skip(message)
    return path


def _opsconsole() -> str:
    script = Path(sys.executable).parent / "opsconsole"
    return str(script) if script.exists() else f"{shlex.quote(sys.executable)} -m opsconsole.cli"


# --- the deployment: settings file, store, worker, sshd ----------------------------------------------
def _settings_file(tmp: Path, sb, ingress_port: int) -> Path:
    from opsconsole.sandboxes import (HUBSPOT_SECRET, HUBSPOT_TOKEN, INTERCOM_SECRET, INTERCOM_TOKEN, XERO_TENANT,
                                      XERO_TOKEN, XERO_WEBHOOK_KEY)

    (tmp / "audit.key").write_text("ssh-e2e-audit-key-" + "k" * 32)
    roles = "\n".join(f"{name} = {json.dumps(rs)}" for name, rs in ROLES.items())  # alice = ["support", …]
    config = tmp / "opsconsole.toml"
    config.write_text(f"""\
store_url = "sqlite:///{tmp / 'store.db'}"
var_dir = "{tmp}"
audit_key = "file:{tmp / 'audit.key'}"
log_file = "{tmp / 'opsconsole.log'}"
ingress_port = {ingress_port}

[roles]
{roles}

[hubspot]
base_url = "{sb.info.hubspot_url}"
token = "{HUBSPOT_TOKEN}"
webhook_secret = "{HUBSPOT_SECRET}"

[xero]
base_url = "{sb.info.xero_api}"
token = "{XERO_TOKEN}"
tenant_id = "{XERO_TENANT}"
webhook_secret = "{XERO_WEBHOOK_KEY}"

[intercom]
base_url = "{sb.info.intercom_url}"
token = "{INTERCOM_TOKEN}"
webhook_secret = "{INTERCOM_SECRET}"
""")
    return config


def _request_correction(config: Path, db: Path, requested_by: str) -> int:
    """A correction of the tax number of the customer the replay created in the ERP, requested by
    ``requested_by`` and waiting for finance (as the engine's governance function writes it; the
    worker is running meanwhile, as consoles in other sessions would be)."""
    from opsconsole.engine import governance as gov
    from opsconsole.engine.app import audit_log
    from opsconsole.settings import load_settings
    from opsconsole.store.db import make_engine

    (customer,) = _rows(db, "select canonical_id from xrefs where system='xero' and object_type='contact'")[0]
    settings = load_settings(config)
    eng = make_engine(settings.store_url, write=True)
    audit = audit_log(settings)
    try:
        with eng.begin() as c:
            correction = gov.request_correction(c, audit, entity="customer", canonical_id=customer, field="tax_number",
                                                before="GB999888777", after="GB123456785", target_system="xero",
                                                requested_by=requested_by, reason="customer sent a new VAT certificate")
        audit.flush_head()
        return correction
    finally:
        eng.dispose()


class Sshd:
    """OpenSSH's sshd on 127.0.0.1 with its own host key and authorized_keys, in the foreground."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp
        tmp.mkdir(exist_ok=True)
        self.port = free_port()
        self.authorized_keys = tmp / "authorized_keys"
        self.authorized_keys.write_text("")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "host_ed25519")], check=True)
        self.config = tmp / "sshd_config"
        self.config.write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {tmp / 'host_ed25519'}
PidFile {tmp / 'sshd.pid'}
AuthorizedKeysFile {self.authorized_keys}
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin forced-commands-only
PermitUserEnvironment no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
PrintLastLog no
LogLevel VERBOSE
""")
        if os.getuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.log = open(tmp / "sshd.log", "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(self._listening, 20, 0.1, message=f"sshd listening (log: {self.output()[-1500:]})")

    def _listening(self) -> bool:
        import socket

        if self.proc.poll() is not None:
            raise AssertionError(f"sshd exited with {self.proc.returncode}: {self.output()[-2000:]}")
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def add_person(self, name: str, command: str) -> Path:
        """A key for ``name``, bound in authorized_keys to ``command`` (what the client asks to run is ignored)."""
        key = self.dir / f"id_{name}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
        public = (key.with_suffix(".pub")).read_text().strip()
        with self.authorized_keys.open("a") as f:
            f.write(f'restrict,pty,command="{command}" {public}\n')
        key.chmod(0o600)
        return key

    def output(self) -> str:
        return (self.dir / "sshd.log").read_text(errors="replace")

    def close(self) -> None:
        import psutil

        try:
            family = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        if self.proc.poll() is None:
            self.proc.terminate()
        for p in family:  # each connection's sshd and the console under it (their own sessions)
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        psutil.wait_procs(family, timeout=10)
        self.log.close()


# --- a terminal: ssh in a pty, its output through a VT100 emulator --------------------------------------
class Terminal:
    def __init__(self, sshd: Sshd, key: Path, *, cols: int, rows: int, remote_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, send_env: str = "") -> None:
        import pexpect
        import pyte

        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCONSOLE_", "SSH_"))}
        argv = ["-tt", "-F", "/dev/null", "-i", str(key), "-p", str(sshd.port),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20",
                *(["-o", f"SendEnv={send_env}"] if send_env else []),
                f"{LOGIN}@127.0.0.1", *(["--", *remote_args] if remote_args else [])]
        self.child = pexpect.spawn(_need("ssh"), argv, dimensions=(rows, cols),
                                   env={**base, "TERM": "xterm-256color", **(env or {})})

    def pump(self, wait: float = 0.1) -> None:
        import pexpect

        try:
            while True:
                data = self.child.read_nonblocking(65536, timeout=wait)
                self.raw += data
                self.stream.feed(data)
                wait = 0.02
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, *needles: str, timeout: float = SCREEN_TIMEOUT, any_of: bool = False) -> str:
        """Poll the screen until it shows every one of ``needles`` (or any, with ``any_of``)."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            text = self.text()
            found = [n in text for n in needles]
            if any(found) if any_of else all(found):
                return text
            if not self.child.isalive() or time.monotonic() > deadline:
                tail = bytes(self.raw[-600:])
                raise AssertionError(f"the screen never showed {needles!r}; it shows:\n{text}\n"
                                     f"(ssh alive: {self.child.isalive()}; last bytes: {tail!r})")

    def press(self, *keys: str) -> None:
        for key in keys:
            self.child.send(key)
            time.sleep(0.15)  # one key at a time, as a person types
            self.pump(0.05)

    def quit(self, timeout: float = 20) -> int | None:
        self.press("q")
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            self.pump(0.2)
        self.close()
        return self.child.exitstatus

    def close(self) -> None:
        if self.child.isalive():
            self.child.close(force=True)


# --- store reads (the test only; the console never queries the store) -------------------------------
def _rows(db: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(db, timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture
def deployment(tmp_path):
    _need(SSHD)
    _need("ssh")
    _need("ssh-keygen")
    sandbox = SandboxProcess(tmp_path / "sandboxes", companies=3, scenario=True)
    worker = sshd = None
    try:
        config = _settings_file(tmp_path, sandbox, free_port())
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCONSOLE_")}
        worker = WorkerProcess(tmp_path, {**env, "OPSCONSOLE_CONFIG": str(config)})
        assert worker.wait_running(60), worker.output()[-3000:]
        sshd = Sshd(tmp_path / "ssh")
        keys = {name: sshd.add_person(name, f"env OPSCONSOLE_CONFIG={shlex.quote(str(config))} "
                                            f"{_opsconsole()} console --attach --as {name}")
                for name in ROLES}
        yield dict(tmp=tmp_path, db=tmp_path / "store.db", sandbox=sandbox, worker=worker, sshd=sshd, keys=keys,
                   config=config)
    finally:
        if sshd is not None:
            sshd.close()
        if worker is not None:
            worker.stop()
        sandbox.close()


def _failed_run_with_validation_exception(d) -> tuple[int, int]:
    """A quote whose company has no tax number, approved in the CRM: the worker's run fails validation.
    Then the fix in the CRM, so a replay succeeds."""
    import httpx

    from opsconsole.sandboxes import HUBSPOT_TOKEN

    sb, hub = d["sandbox"], d["sandbox"].info.hubspot_url
    quote = str(sb.hubspot_state()["scenario"]["missing_tax"])
    sb.webhooks(target_url=f"http://127.0.0.1:{_ingress_port(d['config'])}/webhooks/hubspot")
    sb.approve([quote])
    exc_id, run_id = wait_until(lambda: (_rows(d["db"], "select id, run_id from exceptions where category='validation'")
                                         or [None])[0], 60, message="the validation exception")
    auth = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
    q = httpx.get(f"{hub}/crm/v3/objects/quotes/{quote}", params={"associations": "companies"}, headers=auth).json()
    company = q["associations"]["companies"]["results"][0]["id"]
    r = httpx.patch(f"{hub}/crm/v3/objects/companies/{company}", json={"properties": {"vat_number": "GB999888777"}},
                    headers=auth)
    assert r.status_code == 200
    return exc_id, run_id


def _ingress_port(config: Path) -> int:
    import tomllib

    return tomllib.loads(config.read_text())["ingress_port"]


def test_people_over_ssh_act_as_their_key_says(deployment):
    d = deployment
    db = d["db"]
    exc_id, run_id = _failed_run_with_validation_exception(d)
    assert _rows(db, "select count(*) from exceptions where state in ('open', 'acknowledged')") == [(1,)]

    # --- alice, support: replays the failed run from the exceptions pane, in an 80x24 terminal ---
    alice = Terminal(d["sshd"], d["keys"]["alice"], cols=80, rows=24)
    try:
        alice.wait_for("attached to worker:")  # the engine bar: this console watches the worker's engine
        alice.press("2")
        alice.wait_for("category", "validation")  # the exceptions pane, with the one exception selected
        alice.press("p")
        # the plan's first step; at 80x24 the later steps' verdicts are below it, a page down away
        shown = alice.wait_for("passes validation now", "cannot be confirmed", "dry run failed", any_of=True)
        assert "passes validation now" in shown, shown
        alice.press("\x1b[6~")  # page down
        shown = alice.wait_for("will be sent", "cannot be confirmed", "dry run failed", any_of=True)
        assert "will be sent" in shown, shown
        alice.press("y")
        alice.wait_for("queued")
        wait_until(lambda: _rows(db, "select kind, actor, status from commands where kind='replay'")
                   == [("replay", "alice", "done")], 60, message="the worker executed alice's replay")
        wait_until(lambda: _rows(db, "select status from runs where id=?", run_id) == [("succeeded",)], 60,
                   message="the replayed run succeeded")
        assert _rows(db, "select state from exceptions where id=?", exc_id) == [("closed",)]
        audit = _rows(db, "select actor, action from audit where subject=?", f"run:{run_id}")
        assert ("alice", "replay.requested") in audit, audit

        # maker-checker: alice holds the finance role, but the correction is her own request
        correction = _request_correction(d["config"], db, requested_by="alice")
        alice.press("4")
        alice.wait_for(f"{correction}: not yours to decide — alice requested correction {correction}")
        alice.press("a")
        shown = alice.wait_for("refused", "not yours to approve")  # the toast (its reason wraps at 80 columns)
        assert "Approve correction" not in shown  # refused before any confirmation
        assert alice.quit() == 0
    finally:
        alice.close()
    assert _rows(db, "select state from corrections where id=?", correction) == [("pending",)]
    assert _rows(db, "select count(*) from commands where kind in ('approve', 'reject')") == [(0,)]

    # --- bob, support only: asks to be fiona in every way a client can; the key decides ---
    bob = Terminal(d["sshd"], d["keys"]["bob"], cols=100, rows=30, remote_args=("--as", "fiona"),
                   env={"OPSCONSOLE_OPERATOR": "fiona", "OPSCONSOLE_ROLES": '{"bob": ["finance"]}',
                        "OPSCONSOLE_CONFIG": "/nonexistent/opsconsole.toml"},
                   send_env="OPSCONSOLE_*")
    try:
        bob.wait_for("attached to worker:")
        bob.press("4")
        bob.wait_for(f"{correction}: not yours to decide — bob does not hold the finance role")
        bob.press("a")
        shown = bob.wait_for("refused", "not yours to approve")
        assert "Approve correction" not in shown
        # the connection drops (a laptop lid, a dead Wi-Fi): the console on the server ends with it
        consoles = _consoles(d["sshd"], "bob")
        assert len(consoles) == 1
        os.kill(bob.child.pid, signal.SIGKILL)
        bob.child.wait()
        wait_until(lambda: not any(_alive(p) for p in consoles), 30,
                   message="the console of the dropped connection exited")
    finally:
        bob.close()
    assert d["worker"].proc.poll() is None  # the engine is in the worker: it never noticed
    assert _rows(db, "select state from corrections where id=?", correction) == [("pending",)]
    assert _rows(db, "select count(*) from commands where kind in ('approve', 'reject')") == [(0,)]

    # --- fiona, finance, not the requester: her approval goes through, as hers ---
    fiona = Terminal(d["sshd"], d["keys"]["fiona"], cols=100, rows=30)
    try:
        fiona.wait_for("attached to worker:")
        fiona.press("4")
        fiona.wait_for(f"{correction}: yours to decide")
        fiona.press("a")
        fiona.wait_for(f"Approve correction {correction}?")
        fiona.press("y")
        wait_until(lambda: _rows(db, "select kind, actor, status from commands where kind='approve'")
                   == [("approve", "fiona", "done")], 60, message="the worker executed fiona's approval")
        # the engine re-checked maker-checker and wrote the correction to the ERP
        wait_until(lambda: _rows(db, "select state, decided_by from corrections where id=?", correction)
                   == [("applied", "fiona")], 60, message="the approved correction was written to the ERP")
        assert ("fiona", "correction.approve") in _rows(db, "select actor, action from audit where subject=?",
                                                        f"correction:{correction}")
        assert fiona.quit() == 0
    finally:
        fiona.close()
    log = d["sshd"].output()
    assert "Accepted publickey" in log


def _alive(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _consoles(sshd: Sshd, name: str) -> list:
    """The console processes sshd started for ``name``'s key."""
    import psutil

    found = []
    for p in psutil.Process(sshd.proc.pid).children(recursive=True):
        try:
            cmd = p.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "console" in cmd and name in cmd and any("opsconsole" in part for part in cmd):
            found.append(p)
    return found


def test_console_takes_as_once_only(monkeypatch):
    """A forced command sets --as; a second one (a wrapper passing the client's words on) is refused,
    not taken as the last word."""
    from opsconsole import cli

    seen = {}
    monkeypatch.setattr(cli, "_run_console", lambda settings, **kw: seen.update(kw))
    monkeypatch.setattr(cli, "_settings", lambda **o: None)
    monkeypatch.setenv("OPSCONSOLE_CONFIG", "/nonexistent/opsconsole.toml")
    result = CliRunner().invoke(cli.main, ["console", "--attach", "--as", "alice", "--as", "mallory"])
    assert result.exit_code == 2 and "given more than once" in result.output and seen == {}
    result = CliRunner().invoke(cli.main, ["console", "--attach", "--as", "alice"])
    assert result.exit_code == 0 and seen["operator"] == "alice"
