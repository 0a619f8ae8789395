"""The known-visitor state machine (workflows/known_visitor.asl.json) end to end on moto, with
the real issue_passcode handler."""

from __future__ import annotations

import json

from smartdoor.adapters.visitor_store import DynamoVisitorStore, Visitor
from smartdoor.models import DetailType
from tests.workflows.conftest import OWNER_PHONE, SmartDoorOnMoto, known_face_detail

VISITOR_ID = "vis-anna"
VISITOR_NAME = "Anna Example"
VISITOR_PHONE = "+15550123467"


def enrol_anna(door: SmartDoorOnMoto) -> None:
    enrol(door, VISITOR_ID, VISITOR_NAME, VISITOR_PHONE)


def enrol(door: SmartDoorOnMoto, visitor_id: str, name: str, phone: str) -> None:
    DynamoVisitorStore(door.names["visitors"]).put(
        Visitor(
            visitor_id=visitor_id,
            name=name,
            phone=phone,
            face_ids=(f"face-of-{visitor_id}",),
            created_at="2026-11-01T10:00:00Z",
            door_id="front-door",
        )
    )


def test_known_visitor_gets_a_code_and_the_owner_an_email(door: SmartDoorOnMoto) -> None:
    # GIVEN Anna is a known visitor
    enrol_anna(door)
    detail = known_face_detail(VISITOR_ID)

    # WHEN her face is recognised at the door
    finished = door.finish(door.start_known(detail))

    # THEN she is texted one code, the owner is told, and neither her phone nor the code is in the state
    assert finished.status == "SUCCEEDED"
    assert finished.states == [
        "Claim visit",
        "Load visitor",
        "Visitor on record?",
        "Issue passcode",
        "Code texted?",
        "Email owner: code sent",
        "AccessCodeSent",
    ]
    assert len(door.passcodes_sent_to(VISITOR_PHONE)) == 1
    assert door.sms_to(OWNER_PHONE) == []
    (email,) = door.emails()
    assert email.subject == "Smart Door: visitor at front-door"
    assert email.body == f"{VISITOR_NAME} is at front-door; a code was sent."
    # AND the code was issued for this visit: the task got its visitId and the code item keeps it
    (issue,) = door.runtime.invocations_of("issue_passcode")
    assert issue.event == {"visitorId": VISITOR_ID, "doorId": "front-door", "visitId": detail["visitId"]}
    codes = [item for item in door.items("passcodes") if item["sk"] == "CODE"]
    assert [item["visitId"] for item in codes] == [detail["visitId"]]
    loaded = finished.state_output("Load visitor")["visitorRecord"]["Item"]
    assert set(loaded) == {"visitorId", "name"}
    claim = door.claim(detail["visitId"], f"known#{VISITOR_ID}")
    assert claim is not None and claim["doorId"] == "front-door"
    assert VISITOR_PHONE not in json.dumps(finished.history, default=str)


def test_two_known_visitors_in_one_visit_each_get_a_code(door: SmartDoorOnMoto) -> None:
    # GIVEN Anna and Ben are both known, and arrive together: one visit, one event per person
    enrol_anna(door)
    enrol(door, "vis-ben", "Ben Example", "+15550123468")
    anna = known_face_detail(VISITOR_ID)
    ben = known_face_detail("vis-ben", visit_id=anna["visitId"])

    # WHEN the known-visitor workflow runs for each of them
    first = door.finish(door.start_known(anna))
    second = door.finish(door.start_known(ben))

    # THEN both get their own code: the claim is per visitor within the visit
    assert first.states[-1] == "AccessCodeSent" and second.states[-1] == "AccessCodeSent"
    assert len(door.passcodes_sent_to(VISITOR_PHONE)) == 1
    assert len(door.passcodes_sent_to("+15550123468")) == 1
    assert door.claim(anna["visitId"], f"known#{VISITOR_ID}") is not None
    assert door.claim(anna["visitId"], "known#vis-ben") is not None


def test_a_duplicate_known_face_event_is_ignored(door: SmartDoorOnMoto) -> None:
    # GIVEN a known visitor's visit already handled
    enrol_anna(door)
    detail = known_face_detail(VISITOR_ID)
    assert door.finish(door.start_known(detail)).status == "SUCCEEDED"

    # WHEN the same event is delivered again
    again = door.finish(door.start_known(detail))

    # THEN no second code is sent
    assert again.status == "SUCCEEDED"
    assert again.states == ["Claim visit", "Duplicate delivery ignored"]
    assert len(door.passcodes_sent_to(VISITOR_PHONE)) == 1
    assert len(door.runtime.invocations_of("issue_passcode")) == 1


def test_a_visitor_without_a_record_alerts_the_owner_and_fails(door: SmartDoorOnMoto) -> None:
    # GIVEN a face in the collection whose visitor record is gone
    detail = known_face_detail("vis-forgotten")

    # WHEN it is recognised
    execution = door.start_known(detail)
    finished = door.finish(execution)

    # THEN nothing is sent to anyone but the owner, who is alerted, and the execution fails by name
    assert finished.status == "FAILED"
    assert finished.description["error"] == "VisitorNotFound"
    assert finished.states == [
        "Claim visit",
        "Load visitor",
        "Visitor on record?",
        "Alert owner: visitor not on record",
        "Visitor not found",
    ]
    assert door.sms() == [] and door.runtime.invocations == []
    (alert,) = door.emails()
    assert "vis-forgotten" in alert.body and execution.rsplit(":", 1)[1] in alert.body


def test_a_face_enrolled_meanwhile_ends_with_a_code_through_both_workflows(door: SmartDoorOnMoto) -> None:
    # GIVEN Anna enrolled after her face was reported as unknown
    enrol_anna(door)
    door.engine.will_match(VISITOR_ID)

    # WHEN the unknown-visitor workflow hands the visit over and EventBridge starts the known one
    unknown = door.finish(door.start_unknown())
    assert unknown.states[-1] == "Recognised on second look"
    (announced,) = door.bus_events(DetailType.KNOWN_FACE_DETECTED)
    known = door.finish(door.start_known(announced["detail"]))

    # THEN Anna gets her code without the owner being asked
    assert known.status == "SUCCEEDED" and known.states[-1] == "AccessCodeSent"
    assert len(door.passcodes_sent_to(VISITOR_PHONE)) == 1
    assert door.items("approvals") == []
    visit_id = announced["detail"]["visitId"]
    assert door.claim(visit_id, "unknown") is not None
    assert door.claim(visit_id, f"known#{VISITOR_ID}") is not None


def test_a_refused_passcode_sms_tells_the_owner_the_visitor_has_no_code(door: SmartDoorOnMoto) -> None:
    # GIVEN a known visitor whose number SNS refuses (e.g. not verified in the SMS sandbox)
    enrol_anna(door)
    door.sns_outage.fail(
        times=100, when=lambda publish: publish["phone_number"] == VISITOR_PHONE, error="InvalidParameter"
    )

    # WHEN she is recognised
    execution = door.start_known(known_face_detail(VISITOR_ID))
    finished = door.finish(execution)

    # THEN the code is not retried, the owner is emailed that she got none, and the execution fails
    assert finished.status == "FAILED"
    assert finished.description["error"] == "SmsNotDelivered"
    assert finished.states[-3:] == [
        "Issue passcode",
        "Alert owner: passcode not delivered",
        "Passcode not delivered",
    ]
    assert len(door.runtime.invocations_of("issue_passcode")) == 1
    assert door.passcodes_sent_to(VISITOR_PHONE) == []
    (notice,) = door.emails()
    assert notice.subject == "Smart Door: no code could be texted at front-door"
    assert VISITOR_NAME in notice.body and execution.rsplit(":", 1)[1] in notice.body
    assert VISITOR_PHONE not in notice.body


def test_a_face_shown_again_and_again_is_texted_three_times_an_hour_then_the_owner_is_told(
    door: SmartDoorOnMoto,
) -> None:
    # GIVEN Anna is known, and her face (or a photo of it) comes to the door in four visits this hour
    enrol_anna(door)
    runs = [door.finish(door.start_known(known_face_detail(VISITOR_ID))) for _ in range(4)]

    # THEN she is texted three codes, the hourly limit for one visitor, and the fourth visit none
    assert [run.status for run in runs] == ["SUCCEEDED"] * 4
    assert len(door.passcodes_sent_to(VISITOR_PHONE)) == 3
    assert "Email owner: code held" in runs[3].states and "Email owner: code sent" not in runs[3].states
    # AND her third code is still the live one (a held visit replaces nothing)
    codes = [item for item in door.items("passcodes") if item["sk"] == "CODE"]
    assert (
        len(codes) == 1
        and codes[0]["visitId"] == json.loads(runs[2].description["input"])["detail"]["visitId"]
    )
    # AND the owner's email for the fourth visit says why no code went, and when texts resume
    held = door.emails()[-1]
    assert held.subject == "Smart Door: no code texted at front-door"
    assert held.body.startswith(
        f"{VISITOR_NAME} is at front-door, but no code was texted: they have been texted 3"
    )
    assert "Texts resume at" in held.body and "photo of them" in held.body
