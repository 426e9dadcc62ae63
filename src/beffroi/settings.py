"""Settings: environment variables (``BEFFROI_*``) over an optional TOML file over defaults.

Settings are built once, by the CLI or by whoever calls ``create_app(settings)``; nothing reads
the environment at import time.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from beffroi.errors import ConfigError

CONFIG_ENV = "BEFFROI_CONFIG"


class Settings(BaseSettings):
    """Every setting of a Beffroi installation, with its help text (also shown in the docs)."""

    model_config = SettingsConfigDict(env_prefix="BEFFROI_", extra="forbid")

    database_url: str = Field(
        "sqlite:///./beffroi.db",
        description="SQLAlchemy URL of the store: sqlite:///path.db or postgresql://user@host/db.",
    )
    host: str = Field("127.0.0.1", description="Address `beffroi serve` listens on.")
    port: int = Field(8000, description="Port `beffroi serve` listens on.")
    timezone: str = Field(
        "Europe/Paris", description="Default time zone of new territories (IANA name)."
    )
    min_timestamp_ms: int = Field(
        946_684_800_000,
        description="Readings older than this (epoch ms, default 2000-01-01) are rejected.",
    )
    max_future_ms: int = Field(
        86_400_000,
        description="Readings further than this in the future (ms, default 1 day) are rejected.",
    )
    max_batch_readings: int = Field(
        50_000, description="Largest number of readings accepted in one ingest request."
    )
    rollup_interval_s: float = Field(
        30.0, description="How often `beffroi serve` materialises hourly and daily rollups."
    )
    rollup_grace_s: int = Field(
        300, description="An hour is materialised this long after it ends (late readings)."
    )
    partitions_ahead_months: int = Field(
        3, description="PostgreSQL: monthly observation partitions created ahead of time."
    )
    mqtt_host: str = Field("127.0.0.1", description="MQTT broker `beffroi worker` connects to.")
    mqtt_port: int = Field(1883, description="MQTT broker port.")
    mqtt_username: str | None = Field(None, description="MQTT user of the workers.")
    mqtt_password: str | None = Field(None, description="MQTT password of the workers.")
    log_format: str = Field(
        "json", pattern="^(json|text)$",
        description="Logs of serve and worker: json (one object per line) or text.")
    log_level: str = Field("INFO", description="Logging level (DEBUG, INFO, WARNING, ERROR).")
    map_tile_url: str | None = Field(
        None, description="XYZ raster tile URL template drawn under the map's districts, e.g. "
        "https://tiles.example.org/{z}/{x}/{y}.png; none: the offline base map only.")
    citizen_contact_retention_days: int = Field(
        365, ge=1, description="Residents' contact data (name, email, phone) are deleted this "
        "many days after their request is closed.")
    report_rate_per_hour: int = Field(
        10, ge=1, description="Reports one address (or API key) may post per hour on the "
        "public report page and Open311.")
    opendata_k_threshold: int = Field(
        5, ge=1, description="Counts of people or vehicles are published only when at least "
        "this large (k-anonymity); smaller ones are suppressed.")
    opendata_licence: str = Field(
        "etalab-2.0", pattern="^(etalab-2.0|odbl-1.0)$",
        description="Default licence of published datasets: etalab-2.0 (Licence Ouverte 2.0) "
        "or odbl-1.0.")
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL of this installation as the public "
        "sees it (Open311 discovery, DCAT-AP identifiers and download URLs).")
    map_basemap_dir: str | None = Field(
        None, description="Directory of GeoJSON district files for the map's base map, "
        "searched before the shipped ones.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_engine(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings: explicit overrides > environment > TOML file > defaults.

    The TOML file is ``config_file``, else ``$BEFFROI_CONFIG``; its keys are the setting names
    without the prefix (``database_url = "..."``).
    """
    path = config_file or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    file_values: dict[str, Any] = {}
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"configuration file {path} not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"configuration file {path}: {exc}") from exc
    env_names = {name for name in Settings.model_fields if f"BEFFROI_{name.upper()}" in os.environ}
    values = {k: v for k, v in file_values.items() if k not in env_names}
    values.update({k: v for k, v in overrides.items() if v is not None})
    from pydantic import ValidationError

    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
