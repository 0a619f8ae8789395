"""faceSource=snapshots: a home with the door agent, nothing streaming (issue 17, part 2).

No Kinesis Video stream, no Kinesis Data Stream, no doorbell session or its sampling; the
agent's uploads reach the same match function (invoked by process_snapshot) and the same
workflows. cdk-nag and cfn-lint on this template: tests/infra/test_compliance.py.
"""

from __future__ import annotations

from tests.infra.synth import Synthesized, statements_of


def _types(synthesized: Synthesized) -> list[str]:
    return [resource["Type"] for resource in synthesized.resources.values()]


def test_nothing_streams(synthesized_snapshots: Synthesized) -> None:
    types = _types(synthesized_snapshots)
    assert "AWS::KinesisVideo::Stream" not in types
    assert "AWS::Kinesis::Stream" not in types
    assert "AWS::Lambda::EventSourceMapping" not in types
    assert "AWS::Rekognition::StreamProcessor" not in types


def test_the_default_deployment_still_streams(synthesized: Synthesized) -> None:
    # The contrast that makes the test above mean something: images mode has both streams.
    types = _types(synthesized)
    assert "AWS::KinesisVideo::Stream" in types
    assert "AWS::Kinesis::Stream" in types


def test_no_doorbell_session_or_sampling(synthesized_snapshots: Synthesized) -> None:
    stack = synthesized_snapshots.stack
    assert not stack.doorbell.sessions
    assert not hasattr(stack.doorbell, "sample_door")
    assert not hasattr(stack.doorbell, "session")
    functions = [
        r["Properties"].get("Description", "")
        for r in synthesized_snapshots.resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert not [d for d in functions if "doorbell" in d.lower()]
    machines = [
        r for r in synthesized_snapshots.resources.values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    assert len(machines) == 2  # the unknown- and known-visitor workflows only
    rules = [r for r in synthesized_snapshots.resources.values() if r["Type"] == "AWS::Events::Rule"]
    patterns = [str(r["Properties"].get("EventPattern")) for r in rules]
    assert not [p for p in patterns if "DoorbellPressed" in p or "MotionDetected" in p]


def test_process_snapshot_invokes_the_match_function(synthesized_snapshots: Synthesized) -> None:
    stack = synthesized_snapshots.stack
    snapshot = synthesized_snapshots.properties(stack.doorbell.process_snapshot.function)
    variables = snapshot["Environment"]["Variables"]
    assert "FACE_SEARCH_STREAM_NAME" not in variables
    match_id = synthesized_snapshots.logical_id(stack.stream_match.function)
    assert variables["MATCH_FUNCTION_NAME"] == {"Ref": match_id}
    actions = [
        action
        for statement in statements_of(synthesized_snapshots, stack.doorbell.process_snapshot.role)
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]
    assert "lambda:InvokeFunction" in actions
    assert not [a for a in actions if a.startswith(("kinesis:", "kinesisvideo:"))]


def test_extract_frame_reads_snapshots_only(synthesized_snapshots: Synthesized) -> None:
    stack = synthesized_snapshots.stack
    extract = synthesized_snapshots.properties(stack.tasks.extract_frame.function)
    assert "VIDEO_STREAM_ARN" not in extract["Environment"]["Variables"]
    actions = [
        action
        for statement in statements_of(synthesized_snapshots, stack.tasks.extract_frame.role)
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]
    assert not [a for a in actions if a.startswith("kinesisvideo:")]
    assert "s3:GetObject" in actions
