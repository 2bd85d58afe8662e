"""Node configuration: one frozen dataclass, loaded once from config.yaml and FABCOMMONS_* env.

This module does not create data directories or keys; `node.setup` does.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "NodeConfig", "load_config"]

CONFIG_FILE = "config.yaml"
KEY_FILE = "node.key"
TOKEN_FILE = "admin.token"  # noqa: S105 (a file name, not a secret)


class ConfigError(Exception):
    """A configuration file or variable that cannot be used."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """Everything a node needs to run. Units are in the field names."""

    data_dir: Path
    name: str
    origin: str
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8700
    public_url: str = ""
    max_blob_bytes: int = 64 * 1024 * 1024
    max_request_bytes: int = 1024 * 1024
    signature_window_s: int = 300
    append_batch_max: int = 512
    max_entries_per_request: int = 1000
    required_cosignatures: int = 0
    peer_timeout_s: float = 10.0
    sync_interval_s: float = 5.0
    # specs/03-federation.md §3.5: leaves per verified batch (one transaction),
    # from as many entries answers as the source needs.
    sync_batch: int = 4000
    # Worker processes that open leaves during sync (0: the main process does).
    sync_workers: int = 2
    inbox_rate_per_s: float = 50.0
    # Job routing judges every open offer (tens of ms at 10^4 offers): per client address.
    route_rate_per_s: float = 2.0
    log_json: bool = False
    behind_proxy: bool = False
    background_tasks: bool = True

    def __post_init__(self) -> None:
        if not self.database_url:
            url = f"sqlite+aiosqlite:///{self.data_dir / 'node.db'}"
            object.__setattr__(self, "database_url", url)
        if not self.public_url:
            object.__setattr__(self, "public_url", f"http://{self.host}:{self.port}")
        for name in ("max_blob_bytes", "max_request_bytes", "signature_window_s", "port"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        for name in ("inbox_rate_per_s", "route_rate_per_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive")
        if self.sync_batch <= 0 or self.sync_workers < 0:
            raise ConfigError("sync_batch must be positive and sync_workers not negative")
        if not self.origin or any(ch.isspace() or ch == "+" for ch in self.origin):
            raise ConfigError("origin must be non-empty, without spaces or '+'")

    @property
    def key_path(self) -> Path:
        return self.data_dir / KEY_FILE

    @property
    def token_path(self) -> Path:
        return self.data_dir / TOKEN_FILE

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def public_dict(self) -> dict[str, Any]:
        """The settings worth showing an operator (no secrets are held here)."""
        out = dataclasses.asdict(self)
        out["data_dir"] = str(self.data_dir)
        return out


_FIELDS = {f.name: f for f in dataclasses.fields(NodeConfig)}


def _coerce(name: str, value: Any) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            return str(value).lower() in ("1", "true", "yes", "on")
        if kind == "Path":
            return Path(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {value!r} is not a valid {kind}") from exc


def load_config(
    data_dir: Path, *, env: Mapping[str, str] | None = None, **overrides: Any
) -> NodeConfig:
    """Read <data_dir>/config.yaml, then FABCOMMONS_<FIELD> variables, then overrides."""
    env = os.environ if env is None else env
    path = data_dir / CONFIG_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{path} not found: run `fabcommons init --data {data_dir}` first"
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _FIELDS or key == "data_dir":
            raise ConfigError(f"{path}: unknown setting {key!r}")
        values[key] = _coerce(key, value)
    for name in _FIELDS:
        env_value = env.get(f"FABCOMMONS_{name.upper()}")
        if env_value is not None and name != "data_dir":
            values[name] = _coerce(name, env_value)
    for key, value in overrides.items():
        if value is not None:
            values[key] = _coerce(key, value)
    if "name" not in values or "origin" not in values:
        raise ConfigError(f"{path} must set name and origin")
    return NodeConfig(data_dir=data_dir, **values)
