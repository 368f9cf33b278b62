"""Nurse calls to patient alerts: an example of a complete third-party hub plugin."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import Blueprint, Response, request

from hub import hookimpl
from hub.events import EventDraft, HospitalAlert, PatientAlert
from hub.inputs import InboundMessage, Input, NormalizeFailed
from hub.runtime import HubContext

KIND = "nurse-call"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hospital_id: str = Field("default", description="Hospital the calls come from.")
    api_key_env: str = Field(
        "NURSE_CALL_KEY", description="Environment variable holding the sender's API key."
    )
    path: str = Field("/feeds/nurse-call", description="Where the nurse-call system POSTs.")


class Call(BaseModel):
    """One call as the vendor sends it."""

    model_config = ConfigDict(extra="ignore")

    call_id: str = Field(min_length=1, max_length=64)
    patient_id: str = Field(min_length=1, max_length=64)
    bed_id: str | None = None
    kind: Literal["normal", "staff-assist", "code-blue"] = "normal"


SETTINGS = Settings()


@hookimpl
def configure(hub: HubContext) -> None:
    global SETTINGS
    SETTINGS = Settings.model_validate(hub.plugin_settings("nurse_call"))


class NurseCallInput:
    """HTTP input: authenticate, store with the call and its events, then answer."""

    name = "nurse-call"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._hub: HubContext | None = None

    async def start(self, hub: HubContext) -> None:
        self._hub = hub

    async def stop(self) -> None:
        self._hub = None

    def health(self) -> str | None:
        return None if self._hub is not None else "not started"

    def blueprint(self) -> Blueprint:
        bp = Blueprint("nurse_call", __name__)

        @bp.post(self.settings.path)
        async def receive() -> Response:
            hub = self._hub
            if hub is None:
                return _json({"error": "not running"}, 503)
            key = os.environ.get(self.settings.api_key_env, "")
            sent = request.headers.get("X-Api-Key", "")
            if not key or not hmac.compare_digest(sent, key):
                return _json({"error": "unauthorized"}, 401)
            raw = await request.get_data(cache=False)
            assert isinstance(raw, bytes)
            try:
                call = Call.model_validate_json(raw)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                return _json({"error": "invalid", "detail": f"{where}: {first['msg']}"}, 422)
            message = InboundMessage(kind=KIND, source=self.name, body=call)

            def answer(failure: NormalizeFailed | None) -> bytes:
                return orjson.dumps({"accepted": failure is None, "call_id": call.call_id})

            accepted = await hub.accept(message, raw, f"nurse-call|{call.call_id}", answer)
            return Response(accepted.reply, status=200, content_type="application/json")

        return bp


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json")


@hookimpl
def register_inputs(hub: HubContext, register: Callable[[Input], None]) -> None:
    register(NurseCallInput(SETTINGS))


@hookimpl
def normalize(message: InboundMessage) -> list[EventDraft] | None:
    if message.kind != KIND:
        return None
    call: Call = message.body
    severity = {"normal": "info", "staff-assist": "warning", "code-blue": "critical"}[call.kind]
    where = f" at bed {call.bed_id}" if call.bed_id else ""
    drafts = [
        EventDraft(
            payload=PatientAlert(
                patient_id=call.patient_id,
                alert_type=severity,
                hospital_id=SETTINGS.hospital_id,
                alert_data={"message": f"nurse call: {call.kind}{where}", "call_id": call.call_id},
            ),
            source=message.source,
        )
    ]
    if call.kind == "code-blue":
        drafts.append(
            EventDraft(
                payload=HospitalAlert(
                    hospital_id=SETTINGS.hospital_id,
                    alert_type="emergency",
                    alert_data={"message": f"code blue{where}", "call_id": call.call_id},
                ),
                source=message.source,
            )
        )
    return drafts
