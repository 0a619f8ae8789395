"""`smartdoor-door init`: the configuration from the local stack or the deployed stack's outputs.

- Local: `GET <api>/local/stack` gives the door id and, when the local stack runs a broker,
  `mqtt: {host, port}`; device routes need no credential locally (api.auth = "none").
- AWS: CloudFormation `describe_stacks` outputs `ApiUrl` (api.url), `DoorPageUrl` (its
  `?door=` is the door id) and `DeviceApiKeyId` (when present, the key's value is read with
  API Gateway `get_api_key`; without it the routes use IAM). The IoT Core endpoint is IoT's
  `describe_endpoint` (iot:Data-ATS) unless `--iot-endpoint` is given; the certificate files
  are flags. With `-c lockIot=true` the stack also outputs `LockThingName`
  (`smartdoor-<doorId>`, the agent's MQTT client id): a thing that is not this door's is an error
  (the policy lets the certificate connect only as that thing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import requests

from smartdoor_door.config import ApiConfig, DoorConfig, GpioConfig, MqttConfig


class SetupError(Exception):
    """The stack could not be read; the message says what to do."""


@dataclass(frozen=True)
class CertificateFiles:
    ca_file: str
    cert_file: str
    key_file: str


def from_local_stack(
    api_url: str, mqtt_host: str, mqtt_port: int, *, session: requests.Session | None = None
) -> DoorConfig:
    stack = _local_stack(api_url.rstrip("/"), session or requests.Session())
    door_id, api_key, mqtt = stack.get("doorId"), stack.get("apiKey"), stack.get("mqtt")
    if not isinstance(door_id, str):
        raise SetupError(f"{api_url}/local/stack names no doorId: is this a Smart Door local stack?")
    if not isinstance(mqtt, dict):
        mqtt = {"host": mqtt_host, "port": mqtt_port}
    return DoorConfig(
        door_id=door_id,
        api=ApiConfig(
            url=api_url.rstrip("/"),
            auth="apiKey" if api_key else "none",
            api_key=str(api_key or ""),
        ),
        mqtt=MqttConfig(mode="local", host=str(mqtt["host"]), port=int(mqtt["port"])),
    )


def _local_stack(api_url: str, session: requests.Session) -> dict[str, Any]:
    url = f"{api_url}/local/stack"
    try:
        response = session.get(url, timeout=5)
    except requests.RequestException:
        raise SetupError(
            f"the local stack is not answering at {api_url}: start it with `smartdoor local`"
        ) from None
    try:
        stack = response.json() if response.status_code == 200 else None
    except ValueError:
        stack = None
    if not isinstance(stack, dict):
        raise SetupError(f"GET {url} answered {response.status_code}: is this a Smart Door local stack?")
    return stack


def from_aws_stack(
    stack_name: str,
    certificates: CertificateFiles,
    *,
    iot_endpoint: str | None = None,
    gpio: bool = False,
    cloudformation: Any = None,
    apigateway: Any = None,
    iot: Any = None,
) -> DoorConfig:
    """Clients default to boto3's (the usual credential chain and region)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        outputs = _outputs(cloudformation or _client("cloudformation"), stack_name)
        api = _api_config(outputs, stack_name, apigateway)
        if not iot_endpoint:
            endpoint = (iot or _client("iot")).describe_endpoint(endpointType="iot:Data-ATS")
            iot_endpoint = str(endpoint["endpointAddress"])
    except ClientError as error:
        raise SetupError(f"AWS refused: {error.response['Error']['Message']}") from None
    except BotoCoreError as error:
        raise SetupError(f"cannot reach AWS: {error}") from None
    door_id = _door_id(_required(outputs, "DoorPageUrl", stack_name))
    thing = outputs.get("LockThingName")
    if thing is not None and thing != f"smartdoor-{door_id}":
        raise SetupError(
            f"stack {stack_name}'s IoT thing is {thing}, not smartdoor-{door_id}: the agent connects as "
            "smartdoor-<doorId>; is the stack deployed with this door's -c doorId?"
        )
    return DoorConfig(
        door_id=door_id,
        api=api,
        gpio=GpioConfig(enabled=gpio),
        mqtt=MqttConfig(mode="aws", host=iot_endpoint, port=8883, **certificates.__dict__),
    )


def _api_config(outputs: dict[str, str], stack_name: str, apigateway: Any) -> ApiConfig:
    api_url = _required(outputs, "ApiUrl", stack_name).rstrip("/")
    key_id = outputs.get("DeviceApiKeyId")
    if not key_id:
        return ApiConfig(url=api_url, auth="iam", region=_region(api_url))
    key = (apigateway or _client("apigateway")).get_api_key(apiKey=key_id, includeValue=True)
    return ApiConfig(url=api_url, auth="apiKey", api_key=str(key["value"]))


def _client(service: str) -> Any:
    import boto3

    return cast(Any, boto3).client(service)


def _outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        raise SetupError(f"cannot read stack {stack_name}: {error.response['Error']['Message']}") from None
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def _required(outputs: dict[str, str], key: str, stack_name: str) -> str:
    if key not in outputs:
        raise SetupError(f"stack {stack_name} has no {key} output: is it a Smart Door stack, fully deployed?")
    return outputs[key]


def _door_id(door_page_url: str) -> str:
    doors = parse_qs(urlsplit(door_page_url).query).get("door")
    if not doors:
        raise SetupError(f"the DoorPageUrl output ({door_page_url}) names no door (?door=)")
    return doors[0]


def _region(api_url: str) -> str:
    parts = urlsplit(api_url).netloc.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "execute-api" else ""
