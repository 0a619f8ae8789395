"""smartdoor-door.toml: one file holds everything the agent needs (docs/door.md lists every key).

Read with tomllib and checked key by key, so a mistake names the key; written by `init` with
tomlkit (comments kept for a person editing it later).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

DEFAULT_CONFIG_FILE = Path("smartdoor-door.toml")
DOOR_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
AUTH_MODES = ("apiKey", "iam", "none")
MQTT_MODES = ("aws", "local")
CAMERA_SOURCES = ("opencv", "picamera2")
MIN_UNLOCK_SECONDS = 1
MAX_UNLOCK_SECONDS = 30


class ConfigError(Exception):
    """The configuration file is missing or a key is wrong; the message names the key."""


@dataclass(frozen=True)
class ApiConfig:
    url: str
    auth: str = "apiKey"
    api_key: str = field(default="", repr=False)
    region: str = ""


@dataclass(frozen=True)
class CameraConfig:
    source: str = "opencv"
    index: int = 0
    motion_sensitivity: float = 0.02
    motion_cooldown_seconds: float = 15.0
    burst_frames: int = 6
    burst_seconds: float = 2.0
    upload_frames: int = 3


@dataclass(frozen=True)
class GpioConfig:
    enabled: bool = False
    relay_pin: int = 17
    relay_active_high: bool = True
    button_pin: int = 27


@dataclass(frozen=True)
class MqttConfig:
    mode: str = "local"
    host: str = "127.0.0.1"
    port: int = 1883
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class DoorConfig:
    door_id: str
    api: ApiConfig
    camera: CameraConfig = field(default_factory=CameraConfig)
    gpio: GpioConfig = field(default_factory=GpioConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    unlock_seconds: int = 5

    @property
    def thing_name(self) -> str:
        """The IoT thing and MQTT client id."""
        return f"smartdoor-{self.door_id}"


def load_config(path: Path) -> DoorConfig:
    """The checked configuration; ConfigError (naming the key) for anything wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no configuration at {path}: write one with `smartdoor-door init --local` or `--aws`"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return parse_config(raw, str(path))


def parse_config(raw: dict[str, Any], source: str = "the configuration") -> DoorConfig:
    reader = _Reader(raw, source)
    door_id = reader.text("door_id", None)
    if not DOOR_ID.match(door_id):
        raise ConfigError(f"{source}: door_id must be 1-64 letters, digits, '-' or '_' (got {door_id!r})")
    return DoorConfig(
        door_id=door_id,
        api=_api(reader),
        camera=_camera(reader),
        gpio=_gpio(reader),
        mqtt=_mqtt(reader),
        unlock_seconds=reader.integer("door.unlock_seconds", 5, MIN_UNLOCK_SECONDS, MAX_UNLOCK_SECONDS),
    )


def _api(reader: _Reader) -> ApiConfig:
    url = reader.text("api.url", None).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{reader.source}: api.url must be an http(s) URL (got {url!r})")
    auth = reader.choice("api.auth", "apiKey", AUTH_MODES)
    api_key = reader.text("api.api_key", "")
    if auth == "apiKey" and not api_key:
        raise ConfigError(f'{reader.source}: api.api_key is empty but api.auth is "apiKey"')
    return ApiConfig(url=url, auth=auth, api_key=api_key, region=reader.text("api.region", ""))


def _camera(reader: _Reader) -> CameraConfig:
    burst = reader.integer("camera.burst_frames", 6, 2, 30)
    return CameraConfig(
        source=reader.choice("camera.source", "opencv", CAMERA_SOURCES),
        index=reader.integer("camera.index", 0, 0, 63),
        motion_sensitivity=reader.number("camera.motion_sensitivity", 0.02, 0.0001, 1.0),
        motion_cooldown_seconds=reader.number("camera.motion_cooldown_seconds", 15.0, 0.0, 3600.0),
        burst_frames=burst,
        burst_seconds=reader.number("camera.burst_seconds", 2.0, 0.0, 10.0),
        upload_frames=reader.integer("camera.upload_frames", 3, 1, min(3, burst)),
    )


def _gpio(reader: _Reader) -> GpioConfig:
    return GpioConfig(
        enabled=reader.boolean("gpio.enabled", False),
        relay_pin=reader.integer("gpio.relay_pin", 17, 0, 40),
        relay_active_high=reader.boolean("gpio.relay_active_high", True),
        button_pin=reader.integer("gpio.button_pin", 27, 0, 40),
    )


def _mqtt(reader: _Reader) -> MqttConfig:
    mode = reader.choice("mqtt.mode", "local", MQTT_MODES)
    files = {name: reader.text(f"mqtt.{name}", "") for name in ("ca_file", "cert_file", "key_file")}
    if mode == "aws":
        for name, value in files.items():
            if not value:
                raise ConfigError(f'{reader.source}: mqtt.{name} is needed when mqtt.mode is "aws"')
    return MqttConfig(
        mode=mode,
        host=reader.text("mqtt.host", "127.0.0.1"),
        port=reader.integer("mqtt.port", 8883 if mode == "aws" else 1883, 1, 65535),
        **files,
    )


class _Reader:
    """Typed look-ups of dotted keys, each error naming its key."""

    def __init__(self, raw: dict[str, Any], source: str) -> None:
        self._raw = raw
        self.source = source

    def _get(self, key: str, default: Any) -> Any:
        node: Any = self._raw
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is None:
                    raise ConfigError(f"{self.source}: {key} is missing")
                return default
            node = node[part]
        return node

    def _wrong(self, key: str, wanted: str, value: Any) -> ConfigError:
        return ConfigError(f"{self.source}: {key} must be {wanted} (got {value!r})")

    def text(self, key: str, default: str | None) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._wrong(key, "a string", value)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false", value)
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._wrong(key, f"a whole number from {low} to {high}", value)
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self._wrong(key, f"a number from {low} to {high}", value)
        return float(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._get(key, default)
        if value not in choices:
            raise self._wrong(key, "one of " + ", ".join(f'"{c}"' for c in choices), value)
        return str(value)


def render_config(config: DoorConfig) -> str:
    """The file `init` writes: every key, with a comment saying what it is."""
    document = tomlkit.document()
    document.add(tomlkit.comment("Smart Door door agent (smartdoor-door run). Every key: docs/door.md"))
    document.add("door_id", config.door_id)
    document.add("api", _table(config.api.__dict__, "The HTTP API: auth is apiKey, iam or none"))
    document.add("camera", _table(config.camera.__dict__, "source: opencv (index) or picamera2"))
    document.add("gpio", _table(config.gpio.__dict__, "enabled = false: a console relay, Enter rings"))
    document.add("mqtt", _table(config.mqtt.__dict__, "mode: aws (IoT Core, TLS) or local (plain TCP)"))
    document.add("door", _table({"unlock_seconds": config.unlock_seconds}, "default open time, 1-30"))
    return tomlkit.dumps(document)


def _table(values: dict[str, Any], comment: str) -> Any:
    table = tomlkit.table()
    table.add(tomlkit.comment(comment))
    for key, value in values.items():
        table.add(key, value)
    return table


def write_config(path: Path, config: DoorConfig, *, force: bool) -> None:
    if path.exists() and not force:
        raise ConfigError(f"{path} exists: pass --force to overwrite it")
    path.write_text(render_config(config), encoding="utf-8")
    path.chmod(0o600)  # it may hold the API key
