"""smartdoor-door.toml, `init` (local stack over HTTP, AWS outputs with Stubber), clear errors."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smartdoor_door.cli import main
from smartdoor_door.config import ConfigError, MqttConfig, load_config, parse_config, render_config
from smartdoor_door.mqtt import CertificateError, tls_context
from smartdoor_door.stack_outputs import CertificateFiles, SetupError, from_aws_stack, from_local_stack
from tests.door.conftest import DOOR_ID, DeviceApi, closed_port

MINIMAL = {"door_id": DOOR_ID, "api": {"url": "http://127.0.0.1:8080", "auth": "none"}}


# ---------------------------------------------------------------------------- the file


def test_a_minimal_config_takes_the_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.thing_name == "smartdoor-front-door"
    assert (config.unlock_seconds, config.camera.index, config.camera.upload_frames) == (5, 0, 3)
    assert (config.mqtt.mode, config.mqtt.host, config.mqtt.port) == ("local", "127.0.0.1", 1883)
    assert config.gpio.enabled is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"door_id": "front door!"}, "door_id must be"),
        ({"api": {"url": "ftp://x"}}, "api.url must be an http"),
        ({"api": {"url": "https://x", "auth": "apiKey"}}, "api.api_key is empty"),
        ({"api": {"url": "https://x", "auth": "password"}}, "api.auth must be one of"),
        ({"camera": {"index": "zero"}}, "camera.index must be a whole number"),
        ({"camera": {"motion_sensitivity": 5}}, "camera.motion_sensitivity must be a number"),
        ({"door": {"unlock_seconds": 120}}, "door.unlock_seconds must be a whole number from 1 to 30"),
        ({"gpio": {"relay_active_high": "yes"}}, "gpio.relay_active_high must be true or false"),
        ({"mqtt": {"mode": "aws"}}, "mqtt.ca_file is needed"),
    ],
)
def test_a_wrong_key_is_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({**MINIMAL, **change})


def test_a_missing_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"api\.url is missing"):
        parse_config({"door_id": DOOR_ID})


def test_the_rendered_file_reads_back_as_the_same_config() -> None:
    config = parse_config(
        {**MINIMAL, "gpio": {"enabled": True, "relay_pin": 5}, "door": {"unlock_seconds": 7}}
    )
    assert parse_config(tomllib.loads(render_config(config))) == config


# ---------------------------------------------------------------------------- init


def test_init_local_reads_the_local_stack_and_writes_the_file(device_api: DeviceApi, tmp_path: Path) -> None:
    target = tmp_path / "smartdoor-door.toml"
    status = main(["init", "--local", "--api-url", device_api.url, "--config", str(target)])
    assert status == 0
    config = load_config(target)
    assert (config.door_id, config.api.url, config.api.auth) == (DOOR_ID, device_api.url, "none")
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", 1883)
    assert target.stat().st_mode & 0o077 == 0


def test_init_local_takes_the_stacks_broker_when_it_names_one(device_api: DeviceApi) -> None:
    device_api.stack_extra = {"mqtt": {"host": "127.0.0.1", "port": 18830}}
    config = from_local_stack(device_api.url, "127.0.0.1", 1883)
    assert config.mqtt.port == 18830


def test_init_refuses_to_overwrite_without_force(
    device_api: DeviceApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "smartdoor-door.toml"
    target.write_text("# mine\n")
    args = ["init", "--local", "--api-url", device_api.url, "--config", str(target)]
    assert main(args) == 2
    assert "exists: pass --force" in capsys.readouterr().err
    assert target.read_text() == "# mine\n"
    assert main([*args, "--force"]) == 0
    assert load_config(target).door_id == DOOR_ID


def test_init_local_with_no_stack_running_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["init", "--local", "--api-url", f"http://127.0.0.1:{closed_port()}", "--config", str(tmp_path / "x")]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert "the local stack is not answering" in err
    assert "Traceback" not in err


OUTPUTS = [
    {"OutputKey": "ApiUrl", "OutputValue": "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/"},
    {"OutputKey": "DoorPageUrl", "OutputValue": "https://d111.cloudfront.net/door/?door=front-door"},
    {"OutputKey": "DeviceApiKeyId", "OutputValue": "k3y1d"},
]
CERTS = CertificateFiles("AmazonRootCA1.pem", "door.pem.crt", "door.pem.key")


def describe(outputs: list[dict[str, str]]) -> dict[str, object]:
    return {
        "Stacks": [
            {
                "StackName": "SmartDoor",
                "CreationTime": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": outputs,
            }
        ]
    }


def test_init_aws_reads_the_stacks_outputs_the_key_and_the_iot_endpoint() -> None:
    cloudformation, apigateway, iot = (boto3.client(name) for name in ("cloudformation", "apigateway", "iot"))
    with Stubber(cloudformation) as cfn, Stubber(apigateway) as apigw, Stubber(iot) as iot_stub:
        cfn.add_response("describe_stacks", describe(OUTPUTS), {"StackName": "SmartDoor"})
        apigw.add_response(
            "get_api_key", {"id": "k3y1d", "value": "s3cr3t"}, {"apiKey": "k3y1d", "includeValue": True}
        )
        iot_stub.add_response(
            "describe_endpoint",
            {"endpointAddress": "a1b2c3-ats.iot.eu-west-1.amazonaws.com"},
            {"endpointType": "iot:Data-ATS"},
        )
        config = from_aws_stack(
            "SmartDoor", CERTS, gpio=True, cloudformation=cloudformation, apigateway=apigateway, iot=iot
        )
    assert config.door_id == DOOR_ID
    assert config.api.url == "https://abc123.execute-api.eu-west-1.amazonaws.com/v1"
    assert (config.api.auth, config.api.api_key) == ("apiKey", "s3cr3t")
    assert config.mqtt == MqttConfig(
        "aws",
        "a1b2c3-ats.iot.eu-west-1.amazonaws.com",
        8883,
        "AmazonRootCA1.pem",
        "door.pem.crt",
        "door.pem.key",
    )
    assert config.gpio.enabled is True


def test_init_aws_without_a_device_key_uses_iam_in_the_apis_region() -> None:
    cloudformation = boto3.client("cloudformation")
    with Stubber(cloudformation) as cfn:
        cfn.add_response("describe_stacks", describe(OUTPUTS[:2]), {"StackName": "SmartDoor"})
        config = from_aws_stack("SmartDoor", CERTS, iot_endpoint="iot.example", cloudformation=cloudformation)
    assert (config.api.auth, config.api.region, config.mqtt.host) == ("iam", "eu-west-1", "iot.example")


def test_init_aws_checks_the_lock_thing_is_this_doors() -> None:
    cloudformation = boto3.client("cloudformation")
    lock = {"OutputKey": "LockThingName", "OutputValue": "smartdoor-front-door"}
    wrong = {"OutputKey": "LockThingName", "OutputValue": "smartdoor-garage"}
    with Stubber(cloudformation) as cfn:
        cfn.add_response("describe_stacks", describe([*OUTPUTS[:2], lock]), {"StackName": "SmartDoor"})
        cfn.add_response("describe_stacks", describe([*OUTPUTS[:2], wrong]), {"StackName": "SmartDoor"})
        config = from_aws_stack("SmartDoor", CERTS, iot_endpoint="iot.example", cloudformation=cloudformation)
        assert config.door_id == DOOR_ID
        with pytest.raises(SetupError, match="IoT thing is smartdoor-garage, not smartdoor-front-door"):
            from_aws_stack("SmartDoor", CERTS, iot_endpoint="iot.example", cloudformation=cloudformation)


def test_init_aws_names_a_missing_stack_or_output() -> None:
    cloudformation = boto3.client("cloudformation")
    with Stubber(cloudformation) as cfn:
        cfn.add_client_error("describe_stacks", "ValidationError", "Stack with id Nope does not exist")
        cfn.add_response("describe_stacks", describe(OUTPUTS[1:]), {"StackName": "SmartDoor"})
        with pytest.raises(SetupError, match="cannot read stack Nope: Stack with id Nope does not exist"):
            from_aws_stack("Nope", CERTS, cloudformation=cloudformation)
        with pytest.raises(SetupError, match="has no ApiUrl output"):
            from_aws_stack("SmartDoor", CERTS, cloudformation=cloudformation)


# ---------------------------------------------------------------------------- certificates


def write_certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smartdoor-front-door")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "door.pem.crt", tmp_path / "door.pem.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def aws_mqtt(ca: Path, cert: Path, key: Path) -> MqttConfig:
    return MqttConfig("aws", "iot.example", 8883, str(ca), str(cert), str(key))


def test_a_matching_certificate_and_key_make_a_tls_context(tmp_path: Path) -> None:
    cert, key = write_certificate(tmp_path)
    context = tls_context(aws_mqtt(cert, cert, key))
    assert context.verify_mode.name == "CERT_REQUIRED"


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    cert, key = write_certificate(tmp_path)
    with pytest.raises(CertificateError, match=r"mqtt.ca_file: no file at .*AmazonRootCA1.pem"):
        tls_context(aws_mqtt(tmp_path / "AmazonRootCA1.pem", cert, key))


def test_a_garbage_ca_or_a_foreign_key_is_a_clear_error(tmp_path: Path) -> None:
    cert, key = write_certificate(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateError, match=r"mqtt\.ca_file: .* is not a CA certificate"):
        tls_context(aws_mqtt(garbage, cert, key))
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = write_certificate(other)
    with pytest.raises(CertificateError, match="not a matching certificate and private key"):
        tls_context(aws_mqtt(cert, cert, other_key))


# ---------------------------------------------------------------------------- run's clear errors


def test_run_without_a_config_says_how_to_write_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err
    assert "no configuration at" in err and "smartdoor-door init" in err
    assert "Traceback" not in err


def test_run_with_an_invalid_key_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "smartdoor-door.toml"
    config.write_text(
        'door_id = "front-door"\n[api]\nurl = "http://127.0.0.1:8080"\nauth = "none"\n[camera]\nindex = -1\n'
    )
    assert main(["run", "--config", str(config)]) == 2
    assert "camera.index must be a whole number from 0 to 63 (got -1)" in capsys.readouterr().err


def test_run_with_an_unreadable_video_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "smartdoor-door.toml"
    config.write_text('door_id = "front-door"\n[api]\nurl = "http://127.0.0.1:8080"\nauth = "none"\n')
    video = tmp_path / "clip.avi"
    video.write_bytes(b"\x00" * 100)
    assert main(["run", "--config", str(config), "--video", str(video)]) == 1
    err = capsys.readouterr().err
    assert f"cannot play {video}" in err
    assert "Traceback" not in err


def test_run_with_missing_certificates_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "smartdoor-door.toml"
    config.write_text(
        'door_id = "front-door"\n[api]\nurl = "https://x.example"\nauth = "none"\n'
        '[mqtt]\nmode = "aws"\nhost = "iot.example"\n'
        'ca_file = "ca.pem"\ncert_file = "c.pem"\nkey_file = "k.pem"\n'
    )
    assert main(["run", "--config", str(config), "--no-camera"]) == 1
    assert "mqtt.ca_file: no file at ca.pem" in capsys.readouterr().err


def test_init_aws_says_what_aws_refused_without_a_traceback() -> None:
    cloudformation, apigateway = boto3.client("cloudformation"), boto3.client("apigateway")
    with Stubber(cloudformation) as cfn, Stubber(apigateway) as apigw:
        cfn.add_response("describe_stacks", describe(OUTPUTS), {"StackName": "SmartDoor"})
        apigw.add_client_error("get_api_key", "AccessDeniedException", "not allowed: apigateway:GET")
        with pytest.raises(SetupError, match="AWS refused: not allowed: apigateway:GET"):
            from_aws_stack("SmartDoor", CERTS, cloudformation=cloudformation, apigateway=apigateway)


def test_init_local_against_something_else_says_so(device_api: DeviceApi) -> None:
    device_api.stack_extra = {"doorId": None}
    with pytest.raises(SetupError, match="names no doorId"):
        from_local_stack(device_api.url, "127.0.0.1", 1883)
    with pytest.raises(SetupError, match="answered 404: is this a Smart Door local stack"):
        from_local_stack(f"{device_api.url}/elsewhere", "127.0.0.1", 1883)
