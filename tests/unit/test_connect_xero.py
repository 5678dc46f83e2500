"""`opsconsole connect xero` against the Xero sandbox's identity endpoints, over real HTTP."""

from __future__ import annotations

import json
import stat

import httpx
from click.testing import CliRunner

from connectors.sandbox import serve_in_thread
from connectors.xero.sandbox import XeroSandbox
from connectors.xero.sandbox_identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from opsconsole.cli import main
from tests.sandbox_contract import checked

REDIRECT = "http://localhost:8765/callback"


def _settings_file(tmp_path, url: str) -> str:
    path = tmp_path / "opsconsole.toml"
    path.write_text(f"""
var_dir = "{tmp_path}"
[xero]
base_url = "{url}/api.xro/2.0"
client_id = "{DEFAULT_CLIENT_ID}"
client_secret = "env:XERO_CLIENT_SECRET"
identity_url = "{url}"
token_store = "{tmp_path / 'tokens.json'}"
""")
    return str(path)


def test_connect_xero_stores_rotating_tokens_owner_only_and_names_the_tenant(tmp_path):
    server, _thread, url = serve_in_thread(checked(XeroSandbox().app, "xero"))
    try:
        consent = httpx.get(f"{url}/identity-sandbox/authorize", params={
            "response_type": "code", "client_id": DEFAULT_CLIENT_ID, "redirect_uri": REDIRECT, "state": "s"}).json()
        env = {"OPSCONSOLE_CONFIG": _settings_file(tmp_path, url), "XERO_CLIENT_SECRET": DEFAULT_CLIENT_SECRET}
        result = CliRunner().invoke(main, ["connect", "xero", "--code", consent["code"], "--redirect-uri", REDIRECT],
                                    env=env)
        assert result.exit_code == 0, result.output
        assert f"{url}/identity-sandbox/authorize?" in result.output
        assert 'tenant_id = "sandbox-tenant"' in result.output
        tokens = tmp_path / "tokens.json"
        assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
        saved = json.loads(tokens.read_text())
        assert saved["refresh_token"] and saved["refresh_token"] not in result.output
        assert saved["access_token"] not in result.output
        # the code is single-use: a second exchange is refused with a clear message, not a traceback
        again = CliRunner().invoke(main, ["connect", "xero", "--code", consent["code"], "--redirect-uri", REDIRECT],
                                   env=env)
        assert again.exit_code == 1 and "Xero refused" in again.output and "Traceback" not in again.output
    finally:
        server.should_exit = True


def test_connect_xero_without_an_app_configured_says_what_to_set(tmp_path):
    path = tmp_path / "opsconsole.toml"
    path.write_text('[xero]\nbase_url = "http://127.0.0.1:1"\n')
    result = CliRunner().invoke(main, ["connect", "xero", "--code", "x"], env={"OPSCONSOLE_CONFIG": str(path)})
    assert result.exit_code == 1 and "set [xero] client_id and client_secret" in result.output
