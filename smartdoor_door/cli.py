"""`smartdoor-door`: the door agent's command line (docs/door.md).

    smartdoor-door init --local [--api-url http://127.0.0.1:8080] [--mqtt-host H --mqtt-port P]
    smartdoor-door init --aws [--stack SmartDoor] --ca-file F --cert-file F --key-file F [--gpio]
    smartdoor-door run [--config FILE] [--video FILE | --camera N | --no-camera]

Exit status: 0 done (or Ctrl-C), 1 it could not run (camera, certificate, stack), 2 bad input
(configuration, flags). Errors are one sentence on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from smartdoor_door.camera import CameraError
from smartdoor_door.config import DEFAULT_CONFIG_FILE, ConfigError, load_config, write_config
from smartdoor_door.mqtt import CertificateError
from smartdoor_door.stack_outputs import CertificateFiles, SetupError, from_aws_stack, from_local_stack
from smartdoor_door.uploads import ApiError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartdoor-door", description="The Smart Door door agent.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="write smartdoor-door.toml from the local or the deployed stack")
    where = init.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", action="store_true", help="the running local stack (smartdoor local)")
    where.add_argument("--aws", action="store_true", help="the deployed stack's CloudFormation outputs")
    init.add_argument("--config", type=Path, default=DEFAULT_CONFIG_FILE, help="file to write")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument("--api-url", default="http://127.0.0.1:8080", help="local stack URL (--local)")
    init.add_argument("--mqtt-host", default="127.0.0.1", help="local broker, if the stack names none")
    init.add_argument("--mqtt-port", type=int, default=1883, help="local broker port")
    init.add_argument("--stack", default="SmartDoor", help="CloudFormation stack name (--aws)")
    init.add_argument("--iot-endpoint", help="IoT Core data endpoint (default: iot describe-endpoint)")
    init.add_argument("--ca-file", default="AmazonRootCA1.pem", help="Amazon root CA (--aws)")
    init.add_argument("--cert-file", default="certificate.pem.crt", help="the thing's certificate (--aws)")
    init.add_argument("--key-file", default="private.pem.key", help="the thing's private key (--aws)")
    init.add_argument("--gpio", action="store_true", help="a Raspberry Pi: relay and button on GPIO")
    run = commands.add_parser("run", help="run the agent")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG_FILE, help="configuration file")
    camera = run.add_mutually_exclusive_group()
    camera.add_argument("--video", type=Path, help="play a video file as the camera")
    camera.add_argument("--camera", type=int, help="camera index (overrides camera.index)")
    camera.add_argument("--no-camera", action="store_true", help="no camera: rings and unlocks only")
    return parser


def init_command(args: argparse.Namespace) -> int:
    if args.local:
        config = from_local_stack(args.api_url, args.mqtt_host, args.mqtt_port)
    else:
        files = CertificateFiles(args.ca_file, args.cert_file, args.key_file)
        config = from_aws_stack(args.stack, files, iot_endpoint=args.iot_endpoint, gpio=args.gpio)
    write_config(args.config, config, force=args.force)
    print(f"wrote {args.config} for door {config.door_id} (API {config.api.url}, MQTT {config.mqtt.host})")
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    from smartdoor_door.runner import RunOptions, run_agent

    config = load_config(args.config)
    options = RunOptions(video=args.video, camera_index=args.camera, no_camera=args.no_camera)
    stop = threading.Event()
    # systemd (or `kill`) stops the agent as Ctrl-C does: through run_agent's fail-secure exit.
    previous = signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
    try:
        run_agent(config, options, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return init_command(args) if args.command == "init" else run_command(args)
    except ConfigError as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    except (CameraError, CertificateError, SetupError, ApiError) as error:
        return _fail(str(error), EXIT_FAILED)
    except KeyboardInterrupt:
        return EXIT_OK


def _fail(message: str, status: int) -> int:
    print(f"smartdoor-door: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
