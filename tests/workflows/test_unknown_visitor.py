"""The unknown-visitor state machine (workflows/unknown_visitor.asl.json) end to end on moto,
with the real task handlers. Each test is one path a visit can take."""

from __future__ import annotations

import json

import pytest

from smartdoor.adapters.visit_store import DynamoVisitStore
from smartdoor.domain.approvals import ApprovalAlreadyDecided, ApprovalExpired
from smartdoor.domain.face_matching import visitor_id_for
from smartdoor.domain.phones import mask_phone
from smartdoor.models import DetailType, KnownFaceDetail
from smartdoor_local.workflows import wait_for_event
from tests.workflows.conftest import (
    APPROVAL_LINK,
    OWNER_DECISION,
    OWNER_PHONE,
    SHORT_APPROVAL_TIMEOUT_SECONDS,
    SITE_URL,
    SmartDoorOnMoto,
    face_event_detail,
    known_face_detail,
)


def ref_of(approval_id: str) -> str:
    """The approvalRef an owner's approval id (`<ref>.<mac>`) names: the Approvals table's key."""
    return approval_id.partition(".")[0]


VISITOR_NAME = "Anna Example"
VISITOR_PHONE = "+15550123467"
# The adapters' botocore clients try each call this many times before giving up (adapters/aws.py).
SDK_ATTEMPTS = 3

BEFORE_APPROVAL = [
    "Claim visit",
    "Extract frame from video",
    "Search collection again",
    "Already known?",
    "Create approval request",
    OWNER_DECISION,
]


def test_approved_visitor_is_enrolled_saved_and_sent_a_code(door: SmartDoorOnMoto) -> None:
    # GIVEN a face nobody knows at the door
    detail = face_event_detail()
    visit_id = detail["visitId"]

    # WHEN the workflow runs and the owner approves, naming the visitor
    execution = door.start_unknown(detail)
    approval_id = door.wait_for_owner(execution)
    door.decide(approval_id, "approve", VISITOR_NAME, VISITOR_PHONE)
    finished = door.finish(execution)

    # THEN the visitor was enrolled, saved and texted a code, and the owner told
    assert finished.status == "SUCCEEDED"
    assert finished.states == [
        *BEFORE_APPROVAL,
        "Owner's decision",
        "Record visitor as decided in this visit",
        "Enrol face",
        "Save visitor",
        "Issue passcode",
        "Code texted?",
        "Email owner: code sent",
        "Let later strangers be announced",
        "AccessCodeSent",
    ]
    visitor_id = visitor_id_for(ref_of(approval_id))
    visitor = door.item("visitors", visitorId=visitor_id)
    assert visitor is not None
    assert (visitor["name"], visitor["phone"]) == (VISITOR_NAME, VISITOR_PHONE)
    assert list(visitor["faceIds"]) == door.engine.faces_of(visitor_id)
    approval = door.item("approvals", approvalId=ref_of(approval_id))
    assert approval is not None and approval["status"] == "APPROVED"
    claim = door.claim(visit_id, "unknown")
    assert claim is not None and claim["executionName"] == execution.rsplit(":", 1)[1]

    photos = {call.image_key for call in door.engine.calls}
    assert photos >= {f"visits/{visit_id}/face.jpg", f"visits/{visit_id}/frame.jpg"}

    codes = door.passcodes_sent_to(VISITOR_PHONE)
    assert len(codes) == 1
    stored = door.items("passcodes")
    assert stored and all(codes[0] not in json.dumps(item, default=str) for item in stored)
    # AND the code was issued for this visit: the task got its visitId and the code item keeps it
    (issue,) = door.runtime.invocations_of("issue_passcode")
    assert issue.event == {"visitorId": visitor_id, "doorId": "front-door", "visitId": visit_id}
    assert [item["visitId"] for item in stored if item["sk"] == "CODE"] == [visit_id]

    emails = door.emails()
    assert [e.subject for e in emails] == [
        "Someone is at front-door",
        "Smart Door: visitor let in at front-door",
    ]
    assert (
        emails[1].body == f"{VISITOR_NAME} is at front-door; a code was sent to {mask_phone(VISITOR_PHONE)}."
    )


def test_the_approval_link_carries_the_approval_id_and_never_the_task_token(door: SmartDoorOnMoto) -> None:
    # GIVEN an unknown visitor whose owner has been asked
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)

    # WHEN we look at what the owner received and what the server keeps
    approval = door.item("approvals", approvalId=ref_of(approval_id))
    owner_sms = door.sms_to(OWNER_PHONE)
    approval_email = door.emails()[0]

    # THEN the link is <site>/owner/?a=<approvalRef>.<mac>; the token stays in the approval record
    assert approval is not None
    token = approval["taskToken"]
    assert token and token not in approval_id
    ref, mac = approval_id.split(".")
    assert len(ref) >= 22 and len(mac) == 22  # 128+ random bits and a 128-bit MAC, URL-safe base64
    link = f"{SITE_URL}/owner/?a={approval_id}"
    assert link in owner_sms[0].text and link in approval_email.body
    assert token not in owner_sms[0].text and token not in approval_email.body
    door.decide(approval_id, "deny")
    assert door.finish(execution).status == "SUCCEEDED"


def test_the_execution_history_holds_the_approval_ref_but_never_a_working_link(door: SmartDoorOnMoto) -> None:
    # GIVEN an unknown visitor whose owner has been asked, by SMS and by email
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    ref, mac = approval_id.split(".")

    # WHEN the owner approves through the API with the id from the link, and the visit ends
    answer = door.api(
        "POST", approval_id, {"decision": "approve", "name": VISITOR_NAME, "phone": VISITOR_PHONE}
    )
    finished = door.finish(execution)

    # THEN the link works: the decision reached the workflow, which enrolled the visitor
    assert answer["statusCode"] == 200, answer
    assert finished.status == "SUCCEEDED" and finished.states[-1] == "AccessCodeSent"
    assert [approval_id] == sorted(door.owner_approval_ids())
    # AND the history, the execution's input and output and every task's input carry the ref only
    history = json.dumps(finished.history, default=str)
    assert ref in history
    description = door.sfn.describe_execution(executionArn=execution)
    recorded = [history, description["input"], description.get("output", "")]
    recorded += [
        json.dumps(call.event, default=str)
        for call in door.runtime.invocations
        if call.function_name != "api"
    ]
    recorded += [
        json.dumps(call.result, default=str)
        for call in door.runtime.invocations
        if call.function_name != "api"
    ]
    for text in recorded:
        assert approval_id not in text and mac not in text
    # AND the workflow was resumed with the ref, not with the owner's id
    resumed = finished.state_output(OWNER_DECISION)["owner"]
    assert resumed == {"approvalRef": ref, "decision": "approve"}
    # AND a MAC that is one character off opens nothing
    forged = f"{ref}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}"
    assert door.api("GET", forged)["statusCode"] == 404


def test_denied_visitor_is_recorded_and_announced(door: SmartDoorOnMoto) -> None:
    # GIVEN an unknown visitor whose owner has been asked
    detail = face_event_detail()
    execution = door.start_unknown(detail)
    approval_id = door.wait_for_owner(execution)

    # WHEN the owner denies
    door.decide(approval_id, "deny")
    finished = door.finish(execution)

    # THEN the denial is on the visit and on the bus, and nobody was enrolled or texted a code
    assert finished.status == "SUCCEEDED"
    assert finished.states == [
        *BEFORE_APPROVAL,
        "Owner's decision",
        "Record denial",
        "Announce access denied",
        "Denied",
    ]
    approval = door.item("approvals", approvalId=ref_of(approval_id))
    assert approval is not None and approval["status"] == "DENIED"
    claim = door.claim(detail["visitId"], "unknown")
    assert claim is not None and claim["outcome"] == "DENIED"
    denied = door.bus_events(DetailType.ACCESS_DENIED)
    assert [event["detail"] for event in denied] == [
        {"version": "1", "visitId": detail["visitId"], "doorId": "front-door", "reason": "OWNER_DENIED"}
    ]
    assert door.items("visitors") == []
    assert door.engine.calls_to("index") == []
    assert [sms.phone for sms in door.sms()] == [OWNER_PHONE]


@pytest.mark.parametrize("approval_timeout_seconds", [SHORT_APPROVAL_TIMEOUT_SECONDS])
def test_unanswered_request_expires_and_the_owner_is_told(door: SmartDoorOnMoto) -> None:
    # GIVEN an approval timeout of a few seconds (create_approval's APPROVAL_TIMEOUT_SECONDS)
    detail = face_event_detail()
    execution = door.start_unknown(detail)
    approval_id = door.wait_for_owner(execution)

    # WHEN nobody decides in time
    finished = door.finish(execution, timeout=SHORT_APPROVAL_TIMEOUT_SECONDS + 30)

    # THEN the wait timed out, the approval is EXPIRED (token gone), announced and emailed
    assert finished.status == "SUCCEEDED"
    assert finished.states == [
        *BEFORE_APPROVAL,
        "Mark approval expired",
        "Announce approval expired",
        "Email owner: approval expired",
        "Expired",
    ]
    assert finished.failures_of(OWNER_DECISION) == ["States.Timeout"]
    approval = door.item("approvals", approvalId=ref_of(approval_id))
    assert approval is not None
    assert approval["status"] == "EXPIRED" and "expiredAt" in approval and "taskToken" not in approval
    expired = door.bus_events(DetailType.APPROVAL_EXPIRED)
    assert [event["detail"]["visitId"] for event in expired] == [detail["visitId"]]
    assert "approvalId" not in expired[0]["detail"]
    assert door.emails()[-1].subject == "Smart Door: approval request expired at front-door"
    assert execution.rsplit(":", 1)[1] in door.emails()[-1].body
    # AND a late click changes nothing
    with pytest.raises(ApprovalExpired):
        door.decide(approval_id, "approve", VISITOR_NAME, VISITOR_PHONE)
    assert door.items("visitors") == []


def test_a_duplicate_delivery_is_ignored(door: SmartDoorOnMoto) -> None:
    # GIVEN a visit whose workflow is already waiting for the owner
    event_detail = face_event_detail()
    first = door.start_unknown(event_detail)
    approval_id = door.wait_for_owner(first)
    invocations_before = len(door.runtime.invocations)

    # WHEN EventBridge delivers the same event again
    second = door.finish(door.start_unknown(event_detail))

    # THEN the second execution stops at the claim and does nothing else
    assert second.status == "SUCCEEDED"
    assert second.states == ["Claim visit", "Duplicate delivery ignored"]
    assert second.failures_of("Claim visit") == ["DynamoDB.ConditionalCheckFailedException"]
    assert len(door.runtime.invocations) == invocations_before
    assert len(door.items("approvals")) == 1
    assert len(door.sms_to(OWNER_PHONE)) == 1
    door.decide(approval_id, "deny")
    assert door.finish(first).status == "SUCCEEDED"


def test_a_face_enrolled_meanwhile_is_handed_to_the_known_visitor_workflow(door: SmartDoorOnMoto) -> None:
    # GIVEN a visitor enrolled after the event was emitted
    door.engine.will_match("vis-anna", similarity=98.5)
    detail = face_event_detail()

    # WHEN the unknown-visitor workflow searches the collection again
    finished = door.finish(door.start_unknown(detail))

    # THEN it announces a known face for the visit and asks nobody
    assert finished.status == "SUCCEEDED"
    assert finished.states == [
        "Claim visit",
        "Extract frame from video",
        "Search collection again",
        "Already known?",
        "Announce known visitor",
        "Recognised on second look",
    ]
    assert door.items("approvals") == [] and door.sms() == []
    (announced,) = door.bus_events(DetailType.KNOWN_FACE_DETECTED)
    known = KnownFaceDetail.parse(announced["detail"])
    assert (known.visit_id, known.visitor_id, known.similarity) == (detail["visitId"], "vis-anna", 98.5)
    assert known.face_id in door.engine.faces_of("vis-anna")
    assert announced["detail"] | {} == known.to_wire()  # nothing but the contract's fields


def test_no_face_in_the_photo_tells_the_owner_someone_came(door: SmartDoorOnMoto) -> None:
    # GIVEN a frame in which the engine finds no face (neither the crop nor the whole frame)
    door.engine.photo_has_no_face()
    detail = face_event_detail()

    # WHEN the workflow runs
    execution = door.start_unknown(detail)
    finished = door.finish(execution)

    # THEN the owner is emailed that someone was there, and nothing is asked
    assert finished.status == "SUCCEEDED"
    assert finished.states == [
        "Claim visit",
        "Extract frame from video",
        "Search collection again",
        "Email owner: no clear face",
        "No clear face captured",
    ]
    assert finished.failures_of("Search collection again") == ["NoFaceInPhoto"]
    (email,) = door.emails()
    assert email.subject == "Smart Door: someone was at front-door"
    assert detail["detectedAt"] in email.body and "no clear face" not in email.subject
    assert door.items("approvals") == []


def test_an_approved_photo_without_a_usable_face_is_not_enrolled(door: SmartDoorOnMoto) -> None:
    # GIVEN an approval for a photo IndexFaces cannot enrol from
    door.engine.index_rejects_face(("LOW_SHARPNESS",))
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)

    # WHEN the owner approves
    door.decide(approval_id, "approve", VISITOR_NAME, VISITOR_PHONE)
    finished = door.finish(execution)

    # THEN the owner is told by email, and no visitor or code exists
    assert finished.status == "SUCCEEDED"
    assert finished.states[-3:] == ["Enrol face", "Email owner: no usable face", "No usable face to enrol"]
    assert finished.failures_of("Enrol face") == ["NoUsableFace"]
    assert door.emails()[-1].subject == "Smart Door: visitor at front-door could not be enrolled"
    assert door.items("visitors") == [] and door.sms_to(VISITOR_PHONE) == []


def test_media_late_then_available_is_retried(door: SmartDoorOnMoto) -> None:
    # GIVEN KVS that has no image for the frame yet on the first try
    door.frames.missing_times = 1
    detail = face_event_detail()

    # WHEN the workflow runs
    execution = door.start_unknown(detail)
    approval_id = door.wait_for_owner(execution)

    # THEN extract_frame was retried after MediaNotAvailable and the photos were stored
    assert len(door.frames.calls) == 2
    assert [call.error_type for call in door.runtime.invocations_of("extract_frame")] == [
        "MediaNotAvailable",
        None,
    ]
    door.decide(approval_id, "deny")
    finished = door.finish(execution)
    assert finished.status == "SUCCEEDED"
    assert finished.failures_of("Extract frame from video") == ["MediaNotAvailable"]
    assert finished.state_output("Extract frame from video")["photo"] == {
        "bucket": door.names["photos"],
        "frameKey": f"visits/{detail['visitId']}/frame.jpg",
        "faceKey": f"visits/{detail['visitId']}/face.jpg",
    }


# moto warns that Publish's common ThrottlingException is not among SNS's modelled errors: true,
# and the point of the test (Step Functions names it SNS.ThrottlingException all the same).
@pytest.mark.filterwarnings("ignore:Exception\\(SNSException\\) with code ThrottlingException:UserWarning")
def test_sns_failing_then_recovering_loses_and_repeats_nothing(door: SmartDoorOnMoto) -> None:
    # GIVEN SNS failing the owner's SMS for longer than the adapter's own SDK retries last ...
    door.sns_outage.fail(times=SDK_ATTEMPTS + 1, when=lambda publish: publish["phone_number"] == OWNER_PHONE)
    # ... and throttling the workflow's own "code sent" email once
    door.sns_outage.fail(
        times=1,
        when=lambda publish: (publish.get("subject") or "").startswith("Smart Door: visitor let in"),
        # Publish is throttled with the common ThrottlingException (docs/internals.md, "Error
        # names"); ThrottledException belongs to other SNS actions and is not retried.
        error="ThrottlingException",
    )

    # WHEN the visitor is approved
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    door.decide(approval_id, "approve", VISITOR_NAME, VISITOR_PHONE)
    finished = door.finish(execution)

    # THEN both failures were retried to success, and every message went out exactly once
    assert finished.status == "SUCCEEDED"
    assert finished.states[-1] == "AccessCodeSent"
    assert len(door.sns_outage.failed) == SDK_ATTEMPTS + 2
    assert finished.failures_of(OWNER_DECISION) == ["TransientError"]
    assert len(door.runtime.invocations_of("ask_owner")) == 2
    assert finished.failures_of("Email owner: code sent") == ["SNS.ThrottlingException"]
    assert len(door.sms_to(OWNER_PHONE)) == 1
    assert len(door.passcodes_sent_to(VISITOR_PHONE)) == 1
    subjects = [email.subject for email in door.emails()]
    assert subjects == ["Someone is at front-door", "Smart Door: visitor let in at front-door"]


def test_a_refused_owner_sms_still_reaches_the_owner_by_email_with_the_link(door: SmartDoorOnMoto) -> None:
    # GIVEN SNS refusing every text to the owner's number (e.g. the account is in the SMS
    # sandbox and the number is not verified)
    door.sns_outage.fail(
        times=100, when=lambda publish: publish["phone_number"] == OWNER_PHONE, error="InvalidParameter"
    )

    # WHEN an unknown visitor comes
    execution = door.start_unknown()
    wait_for_event(door.sfn, execution, "TaskSubmitted", after_state=OWNER_DECISION)

    # THEN the request still waits for the owner, and their email says why no text came and
    # carries the link
    assert door.sms_to(OWNER_PHONE) == []
    assert len(door.runtime.invocations_of("ask_owner")) == 1  # refused for good: not retried
    [email] = door.emails()
    assert email.subject == "Someone is at front-door"
    assert email.body.startswith("The text message to your phone could not be sent (InvalidParameter)")
    [approval_id] = APPROVAL_LINK.findall(email.body)

    # AND the owner can approve from the email alone
    door.decide(approval_id, "approve", VISITOR_NAME, VISITOR_PHONE)
    finished = door.finish(execution)
    assert finished.status == "SUCCEEDED"
    assert finished.states[-1] == "AccessCodeSent"
    assert len(door.passcodes_sent_to(VISITOR_PHONE)) == 1


def test_a_refused_passcode_sms_is_emailed_to_the_owner(door: SmartDoorOnMoto) -> None:
    # GIVEN SNS refusing texts to the visitor's number
    door.sns_outage.fail(
        times=100, when=lambda publish: publish["phone_number"] == VISITOR_PHONE, error="InvalidParameter"
    )

    # WHEN the owner approves the visitor
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    door.decide(approval_id, "approve", VISITOR_NAME, VISITOR_PHONE)
    finished = door.finish(execution)

    # THEN the visitor is enrolled, the task is not retried, and the owner learns the visitor
    # has no code; the execution fails under that name
    assert finished.status == "FAILED"
    assert finished.description["error"] == "SmsNotDelivered"
    assert finished.states[-4:] == [
        "Save visitor",
        "Issue passcode",
        "Alert owner: passcode not delivered",
        "Passcode not delivered",
    ]
    assert finished.failures_of("Issue passcode") == ["SmsNotDelivered"]
    assert door.passcodes_sent_to(VISITOR_PHONE) == []
    subjects = [email.subject for email in door.emails()]
    assert subjects == ["Someone is at front-door", "Smart Door: no code could be texted at front-door"]
    notice = door.emails()[-1].body
    assert VISITOR_NAME in notice and "SMS sandbox" in notice
    assert VISITOR_PHONE not in notice and mask_phone(VISITOR_PHONE) not in notice


class ExplodingFaceEngine:
    """A face engine with a bug: not a transient error, not a named outcome."""

    def search(self, image: object, threshold: float, max_faces: int) -> dict[str, object]:
        raise KeyError("FaceMatches")

    def index(self, image: object, external_image_id: str) -> dict[str, object]:
        raise KeyError("FaceRecords")

    def delete(self, face_ids: object) -> dict[str, object]:
        raise KeyError("DeletedFaces")


def test_an_unexpected_lambda_error_alerts_the_owner_and_fails(door: SmartDoorOnMoto) -> None:
    # GIVEN check_collection hitting a bug
    function = door.runtime.function("check_collection")
    door.runtime.register(
        type(function)(**{**function.__dict__, "overrides": {"engine": ExplodingFaceEngine()}})
    )

    # WHEN the workflow runs
    execution = door.start_unknown()
    finished = door.finish(execution)

    # THEN it is not retried, the owner is alerted with the execution's name, and it fails
    assert finished.status == "FAILED"
    assert finished.description["error"] == "SmartDoor.WorkflowFailed"
    assert finished.states == [
        "Claim visit",
        "Extract frame from video",
        "Search collection again",
        "Alert owner: workflow failed",
        "Workflow failed",
    ]
    assert finished.failures_of("Search collection again") == ["KeyError"]
    assert len(door.runtime.invocations_of("check_collection")) == 1
    (alert,) = door.emails()
    assert alert.subject == "Smart Door: a visit could not be handled"
    assert execution.rsplit(":", 1)[1] in alert.body and "KeyError" in alert.body
    assert door.items("approvals") == []


def test_a_decision_for_a_finished_workflow_is_refused(door: SmartDoorOnMoto) -> None:
    # GIVEN a denied visit whose workflow has finished
    execution = door.start_unknown()
    approval_id = door.wait_for_owner(execution)
    door.decide(approval_id, "deny")
    assert door.finish(execution).status == "SUCCEEDED"

    # WHEN someone replays the approval
    # THEN it is refused and nothing changes
    with pytest.raises(ApprovalAlreadyDecided):
        door.decide(approval_id, "approve", VISITOR_NAME, VISITOR_PHONE)
    assert door.items("visitors") == []


def test_the_approved_visitor_counts_as_decided_in_that_visit(door: SmartDoorOnMoto) -> None:
    # GIVEN an approved stranger with her code, and the match function's view of the visit
    detail = face_event_detail()
    visit_id = detail["visitId"]
    execution = door.start_unknown(detail)
    approval_id = door.wait_for_owner(execution)
    door.decide(approval_id, "approve", VISITOR_NAME, VISITOR_PHONE)
    assert door.finish(execution).status == "SUCCEEDED"
    visitor_id = visitor_id_for(ref_of(approval_id))
    store = DynamoVisitStore(door.names["visits"])
    # THEN the workflow took her known-visitor claim, and marked the visit's stranger approved
    assert store.known_visitor_handled(visit_id, visitor_id)
    approved = store.approved_visitor(visit_id)
    assert approved is not None and approved.visitor_id == visitor_id and approved.approved_at is not None
    emails_before = len(door.emails())

    # WHEN she is still in front of the camera and a KnownFaceDetected for this visit arrives anyway
    again = door.finish(door.start_known(known_face_detail(visitor_id, visit_id=visit_id)))

    # THEN it is a duplicate: no second code (the first stays valid) and no second owner email
    assert again.states == ["Claim visit", "Duplicate delivery ignored"]
    assert len(door.passcodes_sent_to(VISITOR_PHONE)) == 1
    assert len(door.emails()) == emails_before
    # AND a later visit is a new one: she gets a new code as a known visitor
    later = door.finish(door.start_known(known_face_detail(visitor_id)))
    assert later.states[-1] == "AccessCodeSent"
    assert len(door.passcodes_sent_to(VISITOR_PHONE)) == 2
