"""Applying frames to stored visits and publishing the decided events, exactly once per claim.

For each frame with at least one good face:

1. read the door's visit (with its version);
2. `observe` it (pure rules);
3. for each decided event: claim it (conditional write), PutEvents, mark it EMITTED; a
   rejected or failed publish releases its claim and fails the record, so the retry
   publishes again;
4. write the new visit state, conditional on the version read; on a conflict, start again
   from 1 (claims already EMITTED make the repeated decisions duplicates, not new events).

A person the unknown-visitor workflow approved in this visit is decided there: their
KnownFaceDetected is suppressed (the workflow took their known-visitor claim before enrolling
the face). A stranger seen after the visit's unknown was decided is announced in a new visit
only once the owner approved the first stranger (`split_for_stranger`), on frames seen after
the approval was recorded; before that, and after a denial, the visit has had its one stranger
decision.

The state is written only after the events went out: a record that failed halfway is retried
from the same state and decides the same events again. Frames without a good face touch no
storage at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from smartdoor.adapters.visit_store import ClaimOutcome
from smartdoor.domain.records import Frame
from smartdoor.domain.visits import (
    Emission,
    MatchRules,
    Observation,
    decided_visitors,
    observe,
    screen,
    split_for_stranger,
)
from smartdoor.errors import TransientError, VersionConflict
from smartdoor.models import BusEvent, KnownFaceDetail
from smartdoor.observability import logger

if TYPE_CHECKING:
    from smartdoor.ports import EventBus, VisitStore

MAX_STATE_CONFLICTS = 5


class EmissionInFlight(TransientError):
    """Another invocation holds the claim on this event and has not finished publishing it."""


class EventsRejected(TransientError):
    """EventBridge kept rejecting entries after retries; their claims were released."""


class VisitStateContended(TransientError):
    """The door's visit state kept changing under us; retry the record later."""


@dataclass
class BatchStats:
    """What one invocation saw (the handler logs it once, as counts)."""

    records: int = 0
    malformed_records: int = 0
    failed_records: int = 0
    faces: int = 0
    faces_skipped: int = 0
    duplicate_frames: int = 0
    visits_opened: int = 0
    events_emitted: int = 0
    duplicates_suppressed: int = 0


class VisitMatcher:
    """Frames in, events out, with the door's visit state kept in a VisitStore."""

    def __init__(
        self,
        rules: MatchRules,
        store: VisitStore,
        bus: EventBus,
        *,
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._rules = rules
        self._store = store
        self._bus = bus
        self._new_token = new_token

    def process(self, frame: Frame, stats: BatchStats) -> None:
        screened = screen(frame.faces, self._rules.gate)
        good, skipped = screened
        stats.faces += len(frame.faces)
        stats.faces_skipped += sum(skipped.values())
        if not good:
            return
        for _ in range(MAX_STATE_CONFLICTS):
            stored = self._store.load(frame.door_id)
            observation = observe(stored.state if stored else None, frame, self._rules, screened)
            if observation.later_stranger is not None:
                observation = self._stranger_after_decision(observation)
            if observation.duplicate_frame or observation.state is None:
                stats.duplicate_frames += int(observation.duplicate_frame)
                return
            self._publish(observation.emissions, stats)
            try:
                self._store.save(observation.state, stored.version if stored else None)
            except VersionConflict:
                logger.info(
                    "Visit state changed concurrently; applying the frame again",
                    extra={"door_id": frame.door_id},
                )
                continue
            if observation.opened_visit:
                stats.visits_opened += 1
                logger.info(
                    "Visit opened", extra={"door_id": frame.door_id, "visit_id": observation.state.visit_id}
                )
            return
        raise VisitStateContended(f"visit state of door {frame.door_id} kept changing")

    def _stranger_after_decision(self, observation: Observation) -> Observation:
        state, count = observation.state, observation.later_stranger
        assert state is not None and count is not None  # observe sets both
        approved = self._store.approved_visitor(state.visit_id)
        where = {"door_id": state.door_id, "visit_id": state.visit_id}
        if approved is None:
            logger.info(
                "Another unknown face in a visit whose stranger is pending or denied; not announced",
                extra=where,
            )
            return observation
        if approved.approved_at is not None and count.since < approved.approved_at:
            # Frames from before the approval may show the first stranger, not yet enrolled: the
            # count starts again (it already has, in the observed state) on frames after it.
            logger.info("An unknown face counted partly before the approval; counting again", extra=where)
            return observation
        split = split_for_stranger(state, count.best, approved.visitor_id)
        assert split.state is not None
        self._store.carry_decided(split.state.visit_id, state.door_id, decided_visitors(split.state))
        logger.info(
            "A new stranger after the owner approved this visit's first one; announced in a new visit",
            extra={**where, "new_visit": split.state.visit_id},
        )
        return replace(
            observation,
            state=split.state,
            emissions=observation.emissions + split.emissions,
            opened_visit=True,
        )

    def _already_decided(self, emission: Emission) -> bool:
        """A known person whose known-visitor claim in this visit is taken (the owner approved them)."""
        detail = emission.detail
        return isinstance(detail, KnownFaceDetail) and self._store.known_visitor_handled(
            emission.visit_id, detail.visitor_id
        )

    def _publish(self, emissions: tuple[Emission, ...], stats: BatchStats) -> None:
        if not emissions:
            return
        token = self._new_token()
        claimed: list[Emission] = []
        try:
            for emission in emissions:
                if self._already_decided(emission):
                    stats.duplicates_suppressed += 1
                    logger.info("Person already decided in this visit; suppressed", extra=_describe(emission))
                    continue
                outcome = self._store.claim(emission.visit_id, emission.key, token)
                if outcome is ClaimOutcome.ALREADY_EMITTED:
                    stats.duplicates_suppressed += 1
                    logger.info("Event already emitted; suppressed", extra=_describe(emission))
                elif outcome is ClaimOutcome.HELD_ELSEWHERE:
                    raise EmissionInFlight(
                        f"{emission.detail_type} of visit {emission.visit_id} is being published"
                    )
                else:
                    claimed.append(emission)
            if not claimed:
                return
            event_ids = self._bus.publish(
                [
                    BusEvent(e.detail_type, json.dumps(e.detail.to_wire(), separators=(",", ":")))
                    for e in claimed
                ]
            )
        except Exception:
            self._release_quietly(claimed, token)
            raise

        rejected: list[Emission] = []
        for emission, event_id in zip(claimed, event_ids, strict=True):
            if event_id is None:
                rejected.append(emission)
                continue
            stats.events_emitted += 1
            logger.info("Event emitted", extra={**_describe(emission), "event_id": event_id})
            self._mark_emitted(emission, token, event_id)
        if rejected:
            self._release_quietly(rejected, token)
            raise EventsRejected(f"EventBridge rejected {len(rejected)} event(s) after retries")

    def _mark_emitted(self, emission: Emission, token: str, event_id: str) -> None:
        # The event is out. If this write fails the state write below still records the
        # decision; failing the record instead would make its retry publish a second event.
        try:
            if not self._store.mark_emitted(emission.visit_id, emission.key, token, event_id):
                logger.warning("Claim was taken over before it was marked emitted", extra=_describe(emission))
        except TransientError:
            logger.warning("Could not mark the claim emitted", extra=_describe(emission))

    def _release_quietly(self, emissions: list[Emission], token: str) -> None:
        for emission in emissions:
            try:
                self._store.release(emission.visit_id, emission.key, token)
            except Exception as error:  # the lease frees it later
                logger.warning(
                    "Could not release an emission claim; it frees itself when its lease ends",
                    extra={**_describe(emission), "error_type": type(error).__name__},
                )


def _describe(emission: Emission) -> dict[str, str]:
    return {
        "visit_id": emission.visit_id,
        "door_id": emission.detail.door_id,
        "detail_type": emission.detail_type,
    }
