"""Settings: the example file is valid, env overrides the file, credentials are references."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsconsole.settings import load_settings, mask, resolve_secret

EXAMPLE = Path(__file__).resolve().parents[2] / "opsconsole.example.toml"


def test_the_example_settings_file_loads(monkeypatch):
    monkeypatch.delenv("OPSCONSOLE_INGRESS_PORT", raising=False)
    s = load_settings(EXAMPLE)
    assert s.ingress_port == 8085 and s.hubspot.token == "env:HUBSPOT_PRIVATE_APP_TOKEN"
    assert s.has_role("alice", "finance") and not s.has_role("bob", "finance")
    assert s.keymap == {"exceptions.retry": "ctrl+r"}


def test_environment_overrides_the_file(monkeypatch):
    monkeypatch.setenv("OPSCONSOLE_INGRESS_PORT", "9999")
    monkeypatch.setenv("OPSCONSOLE_XERO__TENANT_ID", "from-env")
    s = load_settings(EXAMPLE)
    assert s.ingress_port == 9999 and s.xero.tenant_id == "from-env"


@pytest.mark.parametrize("text,env,message", [
    ("concurrency = \n", {}, "settings file {path} is not valid TOML: Invalid value (at line 1, column 15)"),
    ('[xero]\ntimeout_s = "slow"\n', {}, "invalid settings ({path} or the OPSCONSOLE_ environment): xero.timeout_s: "
     "Input should be a valid number, unable to parse string as a number"),
    ("", {"OPSCONSOLE_CONCURRENCY": "many"}, "invalid settings ({path} or the OPSCONSOLE_ environment): concurrency: "
     "Input should be a valid integer, unable to parse string as an integer"),
])
def test_bad_settings_are_one_line_naming_the_key_not_a_traceback(tmp_path, monkeypatch, text, env, message):
    from click.testing import CliRunner

    from opsconsole.cli import main

    path = tmp_path / "opsconsole.toml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["status"], env={"OPSCONSOLE_CONFIG": str(path), **env})
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"Error: {message.format(path=path)}\n")


def test_credential_references(tmp_path):
    assert resolve_secret("env:TOKEN_X", {"TOKEN_X": "abc"}) == "abc"
    with pytest.raises(KeyError, match="TOKEN_Y is not set"):
        resolve_secret("env:TOKEN_Y", {})
    f = tmp_path / "secret"
    f.write_text("s3cret\n")
    assert resolve_secret(f"file:{f}") == "s3cret"
    assert mask("0123456789abcdef") == "01****ef" and "s3cret" not in mask("s3cret")


def test_every_connector_declares_its_settings_model():
    from connectors import registry
    from connectors.settings import ConnectorSettings
    from opsconsole.settings import Settings

    for name in registry.available():
        model = registry.load(name).settings_model
        assert issubclass(model, ConnectorSettings)
        assert Settings.model_fields[name].annotation is model


def test_identity_and_roles_never_come_from_the_environment(monkeypatch):
    from opsconsole.settings import load_settings

    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("OPSCONSOLE_OPERATOR", "mallory")
    monkeypatch.setenv("OPSCONSOLE_ROLES", '{"mallory": ["finance"]}')
    monkeypatch.setenv("OPSCONSOLE_CONCURRENCY", "7")
    monkeypatch.setattr("opsconsole.settings.os_account", lambda: "alice")
    s = load_settings(None)
    assert (s.operator, s.roles, s.concurrency) == ("alice", {}, 7)
