"""The `smartdoor` command.

    smartdoor local [--port N] [--no-story] [--lock iot|webhook|none]
                                                       the local stack (what `make demo` runs)
    smartdoor replay TRACE.jsonl [rule options]        a recorded day through the match function
    smartdoor enrol --name NAME --phone +E164 PHOTO    add a known visitor
    smartdoor visitors list                            the known visitors
    smartdoor visitors forget VISITOR_ID               erase a visitor: faces, photos, codes, claims, record
    smartdoor device ring|snapshot [PHOTO.jpg]         play a door device (smartdoor_local.device)
    smartdoor --version

enrol and visitors work against the local stack (the running one: --port, else SMARTDOOR_PORT,
else the one `smartdoor local` announced, else 8080; smartdoor_local.discovery) or, with --aws,
against the deployed stack (--stack-name, default SmartDoor; --region).
Exit status: 0 done, 1 the target failed (no stack running, AWS refused), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartdoor_local.visitors import Forgotten

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
MAX_PHOTO_BYTES = 15 * 1024 * 1024


class CommandError(Exception):
    def __init__(self, message: str, status: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------- arguments


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartdoor", description="Smart Door on this machine, or on your AWS account (--aws)."
    )
    parser.add_argument("--version", action="version", version=f"smartdoor {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser("local", help="run the whole system locally (pages, API, workflows)")
    local.add_argument(
        "--port", type=_port, default=None, help="the local server's port (default SMARTDOOR_PORT or 8080)"
    )
    local.add_argument("--no-story", action="store_true", help="skip the scripted story; just serve")
    local.add_argument(
        "--visit-gap",
        type=_positive,
        default=5.0,
        help="seconds without a face that end a visit (default 5 locally; 120 on AWS)",
    )
    local.add_argument(
        "--face-source",
        choices=("images", "snapshots"),
        default="images",
        help="the CDK context faceSource to synthesize: images (the camera page streams frames, "
        "the default) or snapshots (a home with the door agent: its uploads only, no streams)",
    )
    local.add_argument(
        "--lock",
        choices=("iot", "webhook", "none"),
        default=None,
        help="the door's lock: iot (the door agent's relay over the local MQTT broker; the default "
        "with a --door-* option), webhook (a lock with an HTTP API: the local receiver "
        "/local/lock-webhook) or none (as CDK's default: the default without a --door-* option)",
    )
    local.add_argument(
        "--lock-webhook-url",
        type=_webhook_url,
        default=None,
        help="with --lock webhook: call this lock (http or https, e.g. a Home Assistant webhook on your "
        "network) instead of the local receiver; its key header's value comes from "
        "SMARTDOOR_LOCK_WEBHOOK_KEY",
    )
    local.add_argument(
        "--lock-seconds",
        type=_lock_seconds,
        default=None,
        help="how long an unlock command is valid and the lock has to answer (CDK's lockCommandSeconds)",
    )
    agent = local.add_mutually_exclusive_group()
    agent.add_argument(
        "--door-agent",
        action="store_true",
        help="also run the door agent (smartdoor-door) with no camera: its relay on this console",
    )
    agent.add_argument(
        "--door-video", type=Path, metavar="FILE", help="the door agent, a video file its camera"
    )
    agent.add_argument("--door-camera", type=int, metavar="N", help="the door agent, webcam N its camera")
    local.add_argument("--verbose", action="store_true", help="show the functions' INFO logs")

    replay = commands.add_parser("replay", help="run recorded face-search records through the match function")
    replay.add_argument("trace", metavar="TRACE.jsonl", help="one face-search record per line ('-': stdin)")
    replay.add_argument("--door-id", help="the door of records without doorId")
    replay.add_argument("--stream-arn", help="the door's KVS stream (default: the first record's)")
    replay.add_argument("--threshold", type=_percentage, help="FACE_MATCH_THRESHOLD (90)")
    replay.add_argument("--min-frames", type=_count, help="MIN_FRAMES_FOR_DECISION (2)")
    replay.add_argument("--visit-gap", type=_positive, help="VISIT_GAP_SECONDS (120)")
    replay.add_argument("--min-confidence", type=_percentage, help="MIN_FACE_CONFIDENCE (90)")
    replay.add_argument("--min-face-size", type=_ratio, help="MIN_FACE_SIZE_RATIO (0.05)")
    replay.add_argument("--min-sharpness", type=_percentage, help="MIN_FACE_SHARPNESS (20)")
    replay.add_argument("--min-brightness", type=_percentage, help="MIN_FACE_BRIGHTNESS (20)")

    enrol = commands.add_parser("enrol", help="add a known visitor from a photo of their face")
    enrol.add_argument("--name", required=True, help="the visitor's name (1-64 characters)")
    enrol.add_argument("--phone", required=True, help="the visitor's mobile, E.164 (+15551234567)")
    enrol.add_argument("photo", metavar="PHOTO", help="a JPEG or PNG showing the visitor's face, alone")
    _target_options(enrol)

    visitors = commands.add_parser("visitors", help="list or forget known visitors")
    actions = visitors.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the known visitors (phone numbers masked)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    _target_options(listing)
    forget = actions.add_parser(
        "forget", help="erase everything that names a visitor: faces, photos, codes, claims, approval, record"
    )
    forget.add_argument("visitor_id", metavar="VISITOR_ID")
    _target_options(forget)

    from smartdoor_local.device import add_commands

    device = commands.add_parser("device", help="play a door device: ring the doorbell, send a snapshot")
    add_commands(device.add_subparsers(dest="action", required=True, metavar="ACTION"))
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smartdoor")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def _target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("where (default: the local stack)")
    group.add_argument(
        "--port", type=_port, default=None, help="the local stack's port (default: the running one, or 8080)"
    )
    group.add_argument("--aws", action="store_true", help="the deployed stack instead (default credentials)")
    group.add_argument("--stack-name", default="SmartDoor", help="with --aws: the CloudFormation stack")
    group.add_argument("--region", help="with --aws: the stack's region (default: your AWS config)")


def _number(text: str, low: float, high: float, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} is a number, not {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what} must be between {low:g} and {high:g}")
    return value


def _percentage(text: str) -> float:
    return _number(text, 0, 100, "a percentage")


def _ratio(text: str) -> float:
    return _number(text, 0, 1, "a ratio")


def _positive(text: str) -> float:
    return _number(text, 0.001, 86400, "seconds")


def _webhook_url(text: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"a lock's webhook is an http(s):// URL, not {text!r}")
    return text


def _lock_seconds(text: str) -> int:
    low, high = _lock_seconds_bounds()
    if not text.isdigit() or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(f"lock seconds are a whole number {low}-{high}, not {text!r}")
    return int(text)


def _lock_seconds_bounds() -> tuple[int, int]:
    """lockCommandSeconds' bounds, as cdk_app/config.py states them (the one place)."""
    from smartdoor_local import ensure_repository_importable

    ensure_repository_importable()
    from cdk_app.config import SmartDoorConfig

    metadata = SmartDoorConfig.model_fields["lock_command_seconds"].metadata
    low = next(int(m.ge) for m in metadata if hasattr(m, "ge"))
    high = next(int(m.le) for m in metadata if hasattr(m, "le"))
    return low, high


def _count(text: str) -> int:
    return int(_number(text, 1, 1000, "a frame count"))


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {text!r}")
    return int(text)


# ---------------------------------------------------------------------------- logging


@contextmanager
def _quiet_logs(verbose: bool = False) -> Iterator[None]:
    """While a command runs: the functions' JSON logs go to stderr (stdout is for results), at
    WARNING and up unless verbose; moto's internal error reports are silenced (the console shows
    each workflow's path instead). Everything is put back afterwards."""
    from smartdoor.observability import logger
    from smartdoor_local.environment import patched_environ

    level = "INFO" if verbose else "WARNING"
    saved_level = logger.log_level
    moto_logger = logging.getLogger("moto")
    saved_moto_level = moto_logger.level
    streams = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    saved_streams = [h.stream for h in streams]
    logger.setLevel(level)
    for handler in streams:
        handler.setStream(sys.stderr)
    moto_logger.setLevel(logging.CRITICAL)
    try:
        with patched_environ({"POWERTOOLS_LOG_LEVEL": level}):
            yield
    finally:
        for handler, stream in zip(streams, saved_streams, strict=True):
            handler.setStream(stream)
        moto_logger.setLevel(saved_moto_level)
        logger.setLevel(saved_level)


@contextmanager
def _without_aws_config() -> Iterator[None]:
    """While a local command runs (anything without --aws): no AWS profile, and empty AWS config
    and credentials files, so that nothing in the developer's AWS configuration (a missing
    profile, an SSO session, a default region or endpoint) can reach the local stack. The local
    stack and targets set their own throwaway credentials and region."""
    from smartdoor_local.environment import patched_environ

    files = {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    with patched_environ(files, removed=("AWS_PROFILE", "AWS_DEFAULT_PROFILE")):
        yield


# ---------------------------------------------------------------------------- commands


def cmd_local(args: argparse.Namespace) -> int:
    from smartdoor_local.app import PortInUse, serve
    from smartdoor_local.stack import LocalConfig

    port = args.port if args.port is not None else _port_from_environment()
    args.lock = _lock(args)
    try:
        lock_seconds = {} if args.lock_seconds is None else {"lock_command_seconds": args.lock_seconds}
        if args.lock_webhook_url and args.lock != "webhook":
            raise CommandError("--lock-webhook-url goes with --lock webhook")
        config = LocalConfig(
            visit_gap_seconds=args.visit_gap,
            face_source=args.face_source,
            lock=args.lock,
            lock_webhook_url=args.lock_webhook_url,
            **lock_seconds,
        )
        return serve(config, port=port, story=not args.no_story, door_agent=_door_agent(args))
    except PortInUse as error:
        raise CommandError(str(error), EXIT_FAILED) from None


def _lock(args: argparse.Namespace) -> str:
    """The lock asked for; unsaid, as CDK's default (none) unless the door agent runs (iot)."""
    if args.lock is not None:
        return str(args.lock)
    return "iot" if _wants_door_agent(args) else "none"


def _wants_door_agent(args: argparse.Namespace) -> bool:
    return bool(args.door_agent or args.door_video or args.door_camera is not None)


def _door_agent(args: argparse.Namespace) -> Any:
    from smartdoor_local.app import DoorAgentOptions

    if not _wants_door_agent(args):
        return None
    if args.lock != "iot":
        raise CommandError(
            "the door agent is the iot lock: --door-agent, --door-video and --door-camera need --lock iot"
        )
    if args.door_video is not None and not args.door_video.is_file():
        raise CommandError(f"no video file {args.door_video}")
    return DoorAgentOptions(video=args.door_video, camera_index=args.door_camera)


def _port_from_environment() -> int:
    """A new stack takes SMARTDOOR_PORT or 8080, never the port of one already running."""
    from smartdoor_local.discovery import DEFAULT_PORT, PORT_VARIABLE

    text = os.environ.get(PORT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_PORT
    try:
        return _port(text)
    except argparse.ArgumentTypeError as error:
        raise CommandError(f"{PORT_VARIABLE}: {error}") from None


def cmd_device(args: argparse.Namespace) -> int:
    from smartdoor_local.device import run

    return run(args)


def cmd_replay(args: argparse.Namespace) -> int:
    from smartdoor_local.replay import TraceError, default_stream_arn, read_trace, replay

    try:
        if args.trace == "-":
            trace = read_trace(sys.stdin)
        else:
            with _open_file(args.trace, "trace").open(encoding="utf-8") as lines:
                trace = read_trace(lines)
    except TraceError as error:
        raise CommandError(f"{args.trace}: {error}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{args.trace}: not UTF-8 text (one JSON record per line)") from None
    config = _replay_config(args, default_stream_arn(record for _, record in trace))
    result = replay(trace, config)
    for event in result.events:
        sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    sys.stdout.flush()
    for number, reason in result.malformed:
        _say(f"line {number}: skipped by the match function (malformed record: {reason})")
    if result.failed:
        _say(f"{result.failed} records kept failing in the match function and were set aside")
    _say(f"{result.records} records in, {len(result.events)} events out")
    for line in result.dropped.summary(len(result.malformed)):
        _say(line)
    return EXIT_OK


def _replay_config(args: argparse.Namespace, trace_stream_arn: str | None) -> Any:
    """The flags given, CDK's defaults (cdk_app/config.py) for the others, the visit gap included."""
    from smartdoor_local.stack import LocalConfig, cdk_defaults

    given = {
        "door_id": args.door_id,
        "face_match_threshold": args.threshold,
        "min_frames_for_decision": args.min_frames,
        "visit_gap_seconds": args.visit_gap,
        "min_face_confidence": args.min_confidence,
        "min_face_size_ratio": args.min_face_size,
        "min_face_sharpness": args.min_sharpness,
        "min_face_brightness": args.min_brightness,
    }
    return LocalConfig(
        video_stream_arn=args.stream_arn or trace_stream_arn,
        **({"visit_gap_seconds": float(cdk_defaults()["visit_gap_seconds"])} | _given(given)),
    )


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def cmd_enrol(args: argparse.Namespace) -> int:
    from smartdoor.domain.phones import is_e164, mask_phone
    from smartdoor_local.visitors import check_name

    check_name(args.name)
    if not is_e164(args.phone):
        raise CommandError("--phone must be in E.164 form: + then country code and number, e.g. +15551234567")
    path = _open_file(args.photo, "photo")
    if path.stat().st_size > MAX_PHOTO_BYTES:
        raise CommandError(f"{args.photo}: the photo is over {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    photo = path.read_bytes()
    with _target(args) as admin:
        visitor = admin.enrol(args.name, args.phone, photo)
    print(f"Enrolled {visitor.name} as {visitor.visitor_id} ({mask_phone(visitor.phone)}, 1 face).")
    return EXIT_OK


def cmd_visitors(args: argparse.Namespace) -> int:
    from smartdoor.domain.phones import mask_phone

    with _target(args) as admin:
        if args.action == "list":
            visitors = admin.list()
            if args.json:
                for visitor in visitors:
                    row = {
                        "visitorId": visitor.visitor_id,
                        "name": visitor.name,
                        "phone": mask_phone(visitor.phone),
                        "faces": len(visitor.face_ids),
                        "createdAt": visitor.created_at,
                    }
                    print(json.dumps(row))
            elif not visitors:
                print("No known visitors.")
            else:
                print(f"{'VISITOR ID':<22} {'NAME':<24} {'PHONE':<16} {'FACES':>5}  CREATED")
                for visitor in visitors:
                    print(
                        f"{visitor.visitor_id:<22} {visitor.name[:24]:<24} {mask_phone(visitor.phone):<16} "
                        f"{len(visitor.face_ids):>5}  {visitor.created_at}"
                    )
            return EXIT_OK
        forgotten = admin.forget(args.visitor_id)
    print(describe_forgotten(forgotten))
    return EXIT_OK


def describe_forgotten(forgotten: Forgotten) -> str:
    erased = [
        f"{len(forgotten.faces_deleted)} faces",
        f"{len(forgotten.photos_deleted)} photos",
        f"{forgotten.passcode_items_deleted} passcode items",
        f"{forgotten.visit_items_erased} visit items",
    ]
    if forgotten.approval_deleted:
        erased.append("the approval request")
    revoked = "; their passcode no longer works" if forgotten.passcode_revoked else ""
    return (
        f"Forgot {forgotten.name} ({forgotten.visitor_id}): erased {', '.join(erased)} "
        f"and the record{revoked}."
    )


# ---------------------------------------------------------------------------- helpers


def _say(text: str) -> None:
    sys.stderr.write(f"smartdoor: {text}\n")


def _open_file(name: str, what: str) -> Path:
    path = Path(name)
    if not path.exists():
        raise CommandError(f"{name}: no such {what} file")
    if not path.is_file():
        raise CommandError(f"{name}: not a file")
    if not os.access(path, os.R_OK):
        raise CommandError(f"{name}: cannot read it (permissions)")
    return path


def _target(args: argparse.Namespace) -> AbstractContextManager[Any]:
    from smartdoor_local.targets import aws_target, local_target

    if args.aws:
        return aws_target(args.stack_name, args.region)
    return local_target(_local_port(args.port))


def _local_port(explicit: int | None) -> int:
    from smartdoor_local.discovery import SeveralStacks, local_port

    try:
        return local_port(explicit)
    except SeveralStacks as error:
        raise CommandError(str(error), EXIT_FAILED) from None
    except ValueError as error:
        raise CommandError(str(error)) from None


def _run(args: argparse.Namespace) -> int:
    from smartdoor.errors import InvalidImage, TransientError, VisitorNotFound
    from smartdoor_local.targets import TargetUnavailable
    from smartdoor_local.visitors import EnrolmentRejected

    handlers = {
        "local": cmd_local,
        "replay": cmd_replay,
        "enrol": cmd_enrol,
        "visitors": cmd_visitors,
        "device": cmd_device,
    }
    aws_config = nullcontext() if getattr(args, "aws", False) else _without_aws_config()
    try:
        with aws_config, _quiet_logs(verbose=getattr(args, "verbose", False)):
            return handlers[args.command](args)
    except (EnrolmentRejected, InvalidImage, VisitorNotFound) as error:
        raise CommandError(str(error)) from None
    except TargetUnavailable as error:
        raise CommandError(str(error), EXIT_FAILED) from None
    except TransientError:
        raise CommandError("AWS is throttling or failing; try again in a moment", EXIT_FAILED) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    prog = f"smartdoor {args.command}" + (f" {args.action}" if getattr(args, "action", None) else "")
    try:
        return _run(args)
    except CommandError as error:
        sys.stderr.write(f"{prog}: error: {error}\n")
        return error.status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
