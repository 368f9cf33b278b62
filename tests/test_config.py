"""Configuration: defaults, file, environment overrides, and clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import ConfigError, describe, load_config

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_file_equals_defaults() -> None:
    # config/hub.toml documents every default; it must not drift from the model
    from hub.config import HubConfig

    assert load_config(ROOT / "config" / "hub.toml", environ={}) == HubConfig()


def test_every_key_is_documented_in_the_shipped_file() -> None:
    text = (ROOT / "config" / "hub.toml").read_text()
    for key, _default, description in describe():
        assert description, f"{key} has no description"
        leaf = key.rsplit(".", 1)[-1]
        if key.startswith("plugins.settings") or key == "auth.secret":
            continue
        assert f"{leaf} =" in text or f"# {leaf} =" in text, f"{key} missing from hub.toml"


def test_env_overrides_file(tmp_path: Path) -> None:
    cfg = load_config(
        ROOT / "config" / "hub.toml",
        environ={
            "HUB_SERVER__PORT": "6001",
            "HUB_REALTIME__TRANSPORTS": "websocket",
            "SOCKET_IO_CORS_ORIGINS": "https://ui.example.org, https://b.example.org",
        },
    )
    assert cfg.server.port == 6001
    assert cfg.realtime.transports == ["websocket"]
    assert cfg.server.cors_origins == ["https://ui.example.org", "https://b.example.org"]


@pytest.mark.parametrize(
    ("toml", "env", "expected"),
    [
        (
            "[server]\nport = 99999\n",
            {},
            "server.port: Input should be less than or equal to 65535",
        ),
        ("[server]\nprot = 1\n", {}, "server.prot: unknown key"),
        ("", {"HUB_SERVER__CORS_ORIGINS": "*"}, "server.cors_origins"),
        ("", {"HUB_AUTH__SECRET": "short"}, "auth.secret: Value error, must be at least 32 bytes"),
        ("[journal]\nretention_days = -1\n", {}, "journal.retention_days"),
        ("[server\n", {}, "invalid configuration"),
    ],
)
def test_invalid_config_names_key_and_problem(
    tmp_path: Path, toml: str, env: dict[str, str], expected: str
) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(path, environ=env)
    assert expected in str(err.value)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", environ={})


def test_serve_refuses_to_start_on_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("[realtime]\nmax_queue_per_client = 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "hub", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "realtime.max_queue_per_client" in proc.stderr
    assert "greater than or equal to 10" in proc.stderr


def test_serve_refuses_bad_plugin_settings_naming_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        "[journal]\npath = 'j.sqlite3'\n"
        "[plugins.settings.adt]\nrelease_statuss = 'cleaning'\n"
        "[[plugins.settings.hl7_mllp.listeners]]\nname = 'pas'\nport = 99999\n"
    )
    for plugins, expected in (
        ("adt", "plugins.settings.adt.release_statuss: unknown key"),
        ("hl7_mllp", "plugins.settings.hl7_mllp.listeners.0.port"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "hub", "serve", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
            env={**os.environ, "HUB_PLUGINS": plugins},
        )
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr
