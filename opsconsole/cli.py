"""The ``opsconsole`` command."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from connectors.settings import FAULT_PROFILES
from opsconsole import __version__
from opsconsole.verbs._common import as_option


def _settings(**overrides):
    """The settings in force; with no settings file but a demo in ./var, the demo's (so the verbs
    act on the store the demo console shows)."""
    from opsconsole.settings import config_path, load_settings

    path = config_path()
    var_dir = Path("var")
    if path is None and (var_dir / "demo.db").exists():
        from opsconsole.demo import demo_settings
        from opsconsole.sandboxes import SandboxInfo

        port_file = var_dir / "sandboxes.json"
        info = (SandboxInfo.from_dict(json.loads(port_file.read_text())) if port_file.exists()
                else SandboxInfo("", "", 0, {}, "demo"))
        return demo_settings(var_dir, info, **overrides)
    return load_settings(path, **overrides)


class _Main(click.Group):
    def invoke(self, ctx: click.Context):
        import tomllib

        from pydantic import ValidationError

        from opsconsole.settings import CredentialError, config_path, settings_problems

        try:
            return super().invoke(ctx)
        except CredentialError as exc:  # e.g. the worker's audit key: say which, no traceback
            raise click.ClickException(f"{exc} (see the settings file's credential references)") from None
        except tomllib.TOMLDecodeError as exc:  # a settings file that does not parse: where, no traceback
            raise click.ClickException(f"settings file {config_path()} is not valid TOML: {exc}") from None
        except ValidationError as exc:  # a bad value in the settings file or an OPSCONSOLE_ variable: which
            if exc.title != "Settings":
                raise
            path = config_path()
            where = f"{path} or the OPSCONSOLE_ environment" if path else "the OPSCONSOLE_ environment"
            raise click.ClickException(f"invalid settings ({where}): {settings_problems(exc)}") from None
        except RuntimeError as exc:  # a store of another schema: the message says what to do, no traceback
            from opsconsole.store.migrate import SchemaMismatch

            if isinstance(exc, SchemaMismatch):
                raise click.ClickException(str(exc)) from None
            raise


@click.group(cls=_Main, invoke_without_command=True)
@click.version_option(__version__, prog_name="opsconsole")
@click.pass_context
def main(ctx: click.Context) -> None:
    """opsconsole: keeps CRM (HubSpot), ERP (Xero) and customer success in step, and the console
    to watch and steer it.

    With no command it opens the console. With no settings file (./opsconsole.toml or
    $OPSCONSOLE_CONFIG) that is the demo: sandboxes on loopback, a store under ./var, the engine
    in-process.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(console)


def _run_console(settings, *, attach: bool, read_only: bool, operator: str | None, demo_driver=None,
                 sandbox_proc=None) -> None:
    from opsconsole.engine import logs
    from opsconsole.engine.host import EngineThread
    from opsconsole.services import Services
    from opsconsole.tui.app import OpsConsoleApp

    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    logs.configure(settings.log_file or str(Path(settings.var_dir) / "opsconsole.log"))
    host = None
    label = "attached (watching another process's engine)"
    mode = "attached"
    if not attach:
        host = EngineThread(settings)
        if host.start():
            label, mode = host.label, "engine"
    services = Services(settings, operator=operator, read_only=read_only, engine_mode=mode)
    if mode == "attached":
        status = services.engine_status()
        label = f"attached to {status.holder or 'no engine'}" + ("" if status.alive else " (lease expired)")
    driver = demo_driver(host.engine.ingress_url) if (demo_driver and host and mode == "engine") else None
    try:
        OpsConsoleApp(services, engine_label=label, read_only=read_only, keymap=settings.keymap).run()
    finally:
        if driver is not None:
            driver.close()
        if host is not None:
            host.stop()
        services.close()
        if sandbox_proc is not None:
            from opsconsole.sandboxes import stop_process

            stop_process(sandbox_proc)


def _demo(*, fresh: bool, attach: bool, read_only: bool, operator: str | None, companies: int | None) -> None:
    """The demo under ./var. ``fresh``: a new store and sandboxes started from their seed; else carry
    on with the store and the sandboxes' state saved under var/sandboxes/ (fresh when either is missing)."""
    from opsconsole.demo import DemoDriver, can_resume, demo_settings, fresh_store, load_scenario, sandbox_state_dir
    from opsconsole.sandboxes import SandboxInfo, start_process
    from opsconsole.services import Services

    var_dir = Path("var")
    var_dir.mkdir(exist_ok=True)
    port_file = var_dir / "sandboxes.json"
    running = _demo_running(var_dir)
    if running is not None or attach:
        if running is None:
            raise click.ClickException("no demo is running here to attach to; start one with `make demo`")
        settings = demo_settings(var_dir, SandboxInfo.from_dict(json.loads(port_file.read_text())))
        _run_console(settings, attach=True, read_only=read_only, operator=operator)
        return
    resume = not fresh and can_resume(var_dir)
    if not resume:
        fresh_store(var_dir)  # the store and the sandboxes' saved state start together
    click.echo("resuming the demo in var/ (its store and var/sandboxes/)…" if resume else "starting the sandboxes…")
    scenario = load_scenario()
    proc, sandboxes = start_process(var_dir, companies=companies or scenario["companies"], seed=scenario["seed"],
                                    state_dir=sandbox_state_dir(var_dir), dated_today=True)
    settings = demo_settings(var_dir, sandboxes)
    _run_console(settings, attach=False, read_only=read_only, operator=operator,
                 demo_driver=lambda ingress: DemoDriver(sandboxes, ingress, scenario, resume=resume,
                                                        services=lambda op: Services(settings, operator=op)).start(),
                 sandbox_proc=proc)


def _demo_running(var_dir: Path):
    """The lease of a demo already running in this directory (another terminal), or None."""
    db = var_dir / "demo.db"
    if not db.exists():
        return None
    from opsconsole.engine.lease import read_lease
    from opsconsole.store.db import make_engine

    eng = make_engine(f"sqlite:///{db.resolve()}", write=False)
    try:
        with eng.connect() as conn:
            info = read_lease(conn)
    except Exception:
        return None
    finally:
        eng.dispose()
    if info is None or not info.alive or not _holder_alive(info.holder):
        return None
    return info


def _holder_alive(holder: str) -> bool:
    """False when the lease names a process on this host that no longer exists (a demo killed
    without a chance to release its lease): its lease will simply expire."""
    import os
    import socket

    _kind, _, rest = holder.partition(":")
    host, _, pid = rest.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@main.command()
@click.option("--attach", is_flag=True, help="Only watch: never run the engine, even if nobody does.")
@click.option("--read-only", is_flag=True, help="Disable every action (retry, replay).")
@as_option  # once only: a second --as must not override the one a forced command in authorized_keys sets
def console(attach: bool, read_only: bool, operator: str | None) -> None:
    """Open the console. It runs the engine unless another process holds the lease (then it attaches).

    With no settings file (./opsconsole.toml or $OPSCONSOLE_CONFIG) this is the demo. Unlike
    `opsconsole demo` it carries on with the demo already under ./var: its store and the sandboxes'
    saved state (var/sandboxes/), so the sandboxes' records still match the store after a restart
    (with either missing it starts a fresh demo). With --attach it watches a demo already running
    in this directory.
    """
    from opsconsole.settings import config_path

    if config_path() is None:
        _demo(fresh=False, attach=attach, read_only=read_only, operator=operator, companies=None)
        return
    _run_console(_settings(), attach=attach, read_only=read_only, operator=operator)


@main.command()
@click.option("--companies", type=int, help="Companies (each with a quote) seeded in the CRM sandbox "
              "(default: data/demo/scenario.toml).")
@click.option("--read-only", is_flag=True, help="Disable every action.")
@as_option
def demo(companies: int | None, read_only: bool, operator: str | None) -> None:
    """Start the demo on a fresh store under ./var: sandboxes, engine and console.

    Fresh means fresh: the old store and the sandboxes' saved state (var/sandboxes/) are deleted and
    the sandboxes start from their seed. Their state is then saved as the demo runs, so
    `opsconsole console` can carry on with it after a restart. A second `opsconsole demo` in the
    same directory while one runs attaches to it instead.
    """
    _demo(fresh=True, attach=False, read_only=read_only, operator=operator, companies=companies)


@main.command()
def worker() -> None:
    """Run the engine headless (ingress, runner, scheduler) until SIGTERM, which drains in-flight
    steps and releases the lease."""
    from opsconsole.engine import logs
    from opsconsole.engine.host import run_worker

    settings = _settings()
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    logs.configure(settings.log_file or str(Path(settings.var_dir) / "opsconsole.log"))
    reason = run_worker(settings)
    click.echo(f"engine stopped: {reason}")


@main.group()
def connect() -> None:
    """Connect a vendor account (OAuth2) so the connector stops using the sandbox."""


@connect.command("xero")
@click.option("--redirect-uri", default="http://localhost:8765/callback", show_default=True,
              help="The redirect URI registered for your Xero app.")
@click.option("--code", help="The code from the redirect (asked for when not given).")
@click.option("--scopes", default="offline_access accounting.transactions accounting.contacts accounting.settings",
              show_default=True, help="Scopes to ask for.")
def connect_xero(redirect_uri: str, code: str | None, scopes: str) -> None:
    """Run Xero's authorization-code flow: print the consent URL, take the code, keep the rotating
    refresh token (keyring, or an owner-only file), and show the tenant to put in the settings."""
    import asyncio
    import secrets as pysecrets

    from connectors.xero import oauth as xo
    from opsconsole.settings import resolve_secret

    settings = _settings()
    cfg = settings.xero
    if not cfg.client_id or not cfg.client_secret:
        raise click.ClickException("set [xero] client_id and client_secret (a credential reference) in the settings file")
    try:
        client_secret = resolve_secret(cfg.client_secret)
    except KeyError as exc:
        raise click.ClickException(str(exc)) from exc
    if cfg.token_store == "keyring":
        if not xo.keyring_available():
            raise click.ClickException("token_store = \"keyring\" but no keyring is available here; use a file path")
        store = xo.KeyringTokenStore()
        where = "the OS keyring"
    else:
        path = Path(cfg.token_store or Path(settings.var_dir) / "xero-tokens.json")
        store = xo.FileTokenStore(path)
        where = f"{path} (readable by its owner only)"
    identity = cfg.identity_url.rstrip("/")
    oauth = xo.XeroOAuth(
        f"{identity}/connect/token" if identity else xo.XERO_TOKEN_URL,
        cfg.connections_url or (f"{identity}/connections" if identity else xo.XERO_CONNECTIONS_URL),
        cfg.client_id, client_secret, store,
        authorize_endpoint=f"{identity}/identity-sandbox/authorize" if identity else xo.XERO_AUTHORIZE_URL)
    state = pysecrets.token_urlsafe(12)
    click.echo("Open this URL, consent, and copy the `code` from the page you are redirected to:\n")
    click.echo(oauth.authorize_url(redirect_uri, scopes.split(), state) + "\n")
    code = code or click.prompt("code", hide_input=True)

    async def flow() -> list[dict]:
        try:
            await oauth.exchange_code(code, redirect_uri)
            return await oauth.tenants()
        finally:
            await oauth.aclose()

    from connectors.errors import ConnectorError

    try:
        tenants = asyncio.run(flow())
    except ConnectorError as exc:
        raise click.ClickException(f"Xero refused: {exc}") from exc
    if not tenants:
        raise click.ClickException("the consent gave access to no organisation")
    chosen = tenants[0]
    if len(tenants) > 1:
        for i, t in enumerate(tenants, 1):
            click.echo(f"  {i}. {t.get('tenantName')} ({t.get('tenantId')})")
        chosen = tenants[click.prompt("organisation", type=click.IntRange(1, len(tenants))) - 1]
    click.echo(f"connected to {chosen.get('tenantName')}; tokens kept in {where}")
    click.echo(f"add to [xero] in your settings file:  tenant_id = \"{chosen.get('tenantId')}\"")


@main.group()
def sandbox() -> None:
    """The vendor sandboxes (HubSpot, Xero, Intercom) that stand in until real credentials are configured."""


@sandbox.command("serve")
@click.argument("vendors", nargs=-1, type=click.Choice(["hubspot", "xero", "intercom", "all"]))
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to listen on.")
@click.option("--hubspot-port", default=0, help="Port of the HubSpot sandbox (0: any free port).")
@click.option("--xero-port", default=0, help="Port of the Xero sandbox (0: any free port).")
@click.option("--intercom-port", default=0, help="Port of the Intercom sandbox (0: any free port).")
@click.option("--profile", default=None, type=click.Choice(FAULT_PROFILES),
              help="Fault profile of every sandbox served, over the settings file's [<vendor>.sandbox] "
                   "(default there: demo). Change it later with POST /_sandbox/faults.")
@click.option("--companies", default=50, show_default=True, help="Companies with quotes to seed in HubSpot.")
@click.option("--scenario/--no-scenario", default=True, help="Seed the demo's special cases.")
@click.option("--seed", default=7, show_default=True, help="Random seed of the demo data.")
@click.option("--port-file", type=click.Path(path_type=Path), help="Write the URLs as JSON here once serving.")
@click.option("--webhook-target", default="", help="URL the HubSpot sandbox posts signed webhooks to.")
@click.option("--parent-pid", default=0, hidden=True, help="Exit when this process (the demo) is gone.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Keep each sandbox's state in DIR/<vendor>.json: loaded at start instead of seeding when "
                   "the file exists, saved within 0.5 s of each change and on shutdown (SIGTERM/Ctrl-C). "
                   "A corrupt file is moved aside as <vendor>.json.corrupt-<time> and the sandbox starts fresh.")
@click.option("--dated-today", is_flag=True,
              help="Date the seeded records back from now (quotes made in the last two weeks, still valid) "
                   "instead of from a fixed day, 2025-01-06, which keeps a seed's data the same every time.")
@click.option("--validate-responses", is_flag=True,
              help="Check every answer against the vendor's API description (as the tests do; needs the test "
                   "extra): a violating answer becomes a 500 naming it; GET /_sandbox/contract lists them.")
def sandbox_serve(vendors, host, hubspot_port, xero_port, intercom_port, profile, companies, scenario, seed, port_file,
                  webhook_target, parent_pid, state_dir, dated_today, validate_responses) -> None:
    """Serve vendor sandboxes on loopback and print their URLs: `opsconsole sandbox serve [hubspot|xero|intercom|all]`
    (default: hubspot and xero; name intercom, or all, for the Intercom sandbox too: the engine skips its
    Intercom steps while Intercom is not configured).

    Without --state-dir everything is in memory and a restart starts from the seed; with it,
    records, id sequences, Idempotency-Key replays, write logs, webhook targets and Xero's OAuth
    tokens survive a restart."""
    if not host.startswith("127.") and host not in ("localhost", "::1"):
        raise click.BadParameter("sandboxes serve on loopback only", param_hint="--host")
    from pydantic import ValidationError

    from opsconsole.sandboxes import VENDORS, run
    from opsconsole.settings import config_path, settings_problems

    path = config_path()
    try:  # each vendor's [<vendor>.sandbox] fault profile (env: OPSCONSOLE_XERO__SANDBOX__PROFILE, ...)
        settings = _settings()
    except ValidationError as exc:
        raise click.ClickException(f"settings file {path}: {settings_problems(exc)}") from None
    chosen = VENDORS if "all" in vendors else (tuple(vendors) or ("hubspot", "xero"))
    if validate_responses:
        try:
            import openapi_core  # noqa: F401
            import yaml  # noqa: F401
        except ImportError:
            raise click.ClickException("--validate-responses needs the test extra: pip install 'opsconsole[test]'") from None
    run(host=host, hubspot_port=hubspot_port, xero_port=xero_port, profile=profile, companies=companies,
        scenario=scenario, seed=seed, port_file=port_file, webhook_target=webhook_target, parent_pid=parent_pid,
        vendors=tuple(dict.fromkeys(chosen)), intercom_port=intercom_port, settings=settings, state_dir=state_dir,
        validate_responses=validate_responses, base_ms=int(time.time() * 1000) if dated_today else None)


@sandbox.group("crm")
def sandbox_crm() -> None:
    """Change records in the running demo's HubSpot sandbox, as a CRM user would."""


@sandbox_crm.command("set")
@click.argument("company_id")
@click.argument("assignments", nargs=-1, required=True)
def sandbox_crm_set(company_id: str, assignments: tuple[str, ...]) -> None:
    """Set properties of a company: `opsconsole sandbox crm set 1234 vat_number=GB123456789`."""
    import httpx

    from opsconsole.sandboxes import HUBSPOT_TOKEN

    props = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not PROPERTY=VALUE", param_hint="ASSIGNMENTS")
        props[key] = value
    port_file = Path("var/sandboxes.json")
    if not port_file.exists():
        raise click.ClickException("no demo sandboxes are running here (var/sandboxes.json is missing)")
    url = json.loads(port_file.read_text())["hubspot_url"]
    resp = httpx.patch(f"{url}/crm/v3/objects/companies/{company_id}", json={"properties": props},
                       headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"})
    if resp.status_code >= 400:
        raise click.ClickException(f"HubSpot sandbox answered {resp.status_code}: {resp.text[:300]}")
    click.echo(f"company {company_id}: " + ", ".join(f"{k}={v}" for k, v in props.items()))


def _register_verbs() -> None:
    """The verbs live in opsconsole/verbs/, one module each (imported here, so `--help` lists them)."""
    from opsconsole.verbs.approvals import approvals
    from opsconsole.verbs.audit import audit
    from opsconsole.verbs.conflicts import conflicts
    from opsconsole.verbs.connectors import connectors
    from opsconsole.verbs.db import db, erase
    from opsconsole.verbs.exceptions import exceptions
    from opsconsole.verbs.export import export
    from opsconsole.verbs.mappings import mappings
    from opsconsole.verbs.milestones import milestones
    from opsconsole.verbs.replay import replay
    from opsconsole.verbs.runs import runs
    from opsconsole.verbs.status import status
    from opsconsole.verbs.sync import sync
    from opsconsole.verbs.trace import trace

    for verb in (status, runs, exceptions, trace, replay, conflicts, approvals, connectors, audit, mappings,
                 milestones, sync, db, erase, export):
        main.add_command(verb)


_register_verbs()


if __name__ == "__main__":  # `python -m opsconsole.cli`, used to start the sandboxes as a child
    sys.exit(main())
