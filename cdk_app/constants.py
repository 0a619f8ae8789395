"""Names shared by the constructs of the Smart Door stack (one place, so nothing drifts)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
WORKFLOWS_DIR = REPO_ROOT / "workflows"
WEB_DIR = REPO_ROOT / "web"

STACK_NAME = "SmartDoor"
STACK_DESCRIPTION = "Smart Door: face search at the door, owner approval, one-time passcodes."

# EventBridge: the public event contract (functions/smartdoor/models.py holds the same names).
EVENT_BUS_NAME = "smartdoor"
EVENT_SOURCE = "smartdoor"
UNKNOWN_FACE_DETECTED = "UnknownFaceDetected"
KNOWN_FACE_DETECTED = "KnownFaceDetected"
DOOR_UNLOCKED = "DoorUnlocked"

# Lambda packaging: one asset (functions/) for every function, Powertools from AWS's public layer.
FUNCTION_ASSET_EXCLUDES = ["tests", "**/tests", "__pycache__", "**/__pycache__", "*.pyc", "**/*.pyc"]
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python313-arm64"
# Which public layer version carries which aws-lambda-powertools release: Powertools' docs publish
# the layer ARN per release (https://docs.aws.amazon.com/powertools/python/<release>/ "Lambda
# Layer"; docs/index.md of aws-powertools/powertools-lambda-python). The layer version must match
# the aws-lambda-powertools pin in requirements.txt, which the tests run; a test fails if the pin
# has no entry here or the default layer version is not the pin's. NOT YET CONFIRMED for 3.37.0:
# the sources reachable offline show the docs moving the layer to :27 (powertools-lambda-python
# PR #7757) but not for which release; before a deploy, check the Description of
# `aws lambda get-layer-version-by-arn --arn <the ARN>` (it names the release).
POWERTOOLS_LAYER_VERSIONS = {"3.37.0": 27}
METRICS_NAMESPACE = "SmartDoor"
SERVICE_NAME = "smartdoor"

# Lambda handlers are `<folder>.handler.handler` inside the functions/ asset.
STREAM_MATCH = "stream_match"
EXTRACT_FRAME = "extract_frame"
CHECK_COLLECTION = "check_collection"
CREATE_APPROVAL = "create_approval"
ASK_OWNER = "ask_owner"
ENROL_FACE = "enrol_face"
SAVE_VISITOR = "save_visitor"
ISSUE_PASSCODE = "issue_passcode"
API = "api"
LOCK_COMMAND = "lock_command"
LOCK_STATE = "lock_state"
TASK_FUNCTIONS = (
    EXTRACT_FRAME,
    CHECK_COLLECTION,
    CREATE_APPROVAL,
    ASK_OWNER,
    ENROL_FACE,
    SAVE_VISITOR,
    ISSUE_PASSCODE,
)

# Photos bucket layout (docs/internals.md): visit photos live under visits/<visitId>/, edge
# devices' uploads under snapshots/<doorId>/; both expire after photoRetentionDays.
VISIT_PHOTOS_PREFIX = "visits/"
SNAPSHOTS_PREFIX = "snapshots/"

# Lambda layers built in the repository from PyPI's wheels (scripts/build_layer.sh): every
# function validates with msgspec; extract_frame also needs Pillow.
MSGSPEC_LAYER_DIR = REPO_ROOT / "build" / "layers" / "msgspec-arm64"
MSGSPEC_LAYER_BUILD = "scripts/build_layer.sh msgspec arm64"
PILLOW_LAYER_DIR = REPO_ROOT / "build" / "layers" / "pillow-arm64"
PILLOW_LAYER_BUILD = "scripts/build_layer.sh pillow arm64"
LAYER_BUILDS = (
    (MSGSPEC_LAYER_DIR, "msgspec", MSGSPEC_LAYER_BUILD),
    (PILLOW_LAYER_DIR, "PIL", PILLOW_LAYER_BUILD),
)

# DynamoDB: every table expires items through this attribute (epoch seconds).
TTL_ATTRIBUTE = "expiresAt"

# Workflows: file name stem -> what the state machine handles.
UNKNOWN_VISITOR_WORKFLOW = "unknown_visitor"
KNOWN_VISITOR_WORKFLOW = "known_visitor"
# The lock's workflow, one file per way of telling the lock (docs/door.md).
OPEN_LOCK_IOT_WORKFLOW = "open_lock_iot"
OPEN_LOCK_WEBHOOK_WORKFLOW = "open_lock_webhook"
# How long the relay stays open for a command (the MQTT contract's unlockSeconds; 1-30).
LOCK_UNLOCK_SECONDS = 5

# The OTP HMAC key: long enough that brute force over the stored hashes is hopeless.
OTP_SECRET_LENGTH = 64

# Alarms: a face-search record older than this means the match Lambda is falling behind.
ITERATOR_AGE_ALARM_SECONDS = 60

# HTTP API (docs/api.md): one REST API stage; the pages read its base URL from config.json.
API_STAGE_NAME = "v1"
SITE_CONFIG_FILE = "config.json"
# The pages (web/): the approval link is <site>/owner/?a=<approvalId>; the keypad <site>/door/.
OWNER_PAGE_PATH = "/owner/"
DOOR_PAGE_PATH = "/door/"

# SMS delivery status (docs/sms.md): SNS logs failed deliveries only (0 % of successes), and a
# metric filter counts them as SmartDoor/SmsDeliveryFailures for the one alarm.
SMS_SUCCESS_SAMPLING_PERCENT = 0
SMS_DELIVERY_FAILURES_METRIC = "SmsDeliveryFailures"
