"""FHIR notifications over real HTTP into a real hub (integration-engines.md §3.1, §9.5;
clinical-reference §2.1 interpretation codes). Synthetic resources only."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from tests.conftest import HubProcess, token, uid
from tests.fhir.conftest import HMAC_SECRET
from tests.test_socketio import Listener

INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def observation(
    oid: str,
    patient: str,
    value: float,
    interpretation: str | None,
    *,
    status: str = "final",
    version: str = "1",
    loinc: str = "2823-3",
    name: str = "Potassium",
) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "meta": {"versionId": version},
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}], "text": name},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-03-10T16:00:00Z",
        "valueQuantity": {
            "value": value,
            "unit": "mmol/L",
            "system": "http://unitsofmeasure.org",
            "code": "mmol/L",
        },
    }
    if interpretation:
        obs["interpretation"] = [{"coding": [{"system": INTERP, "code": interpretation}]}]
    return obs


def notification(
    version: str,
    kind: str,
    number: int | None,
    resources: list[dict[str, Any]],
    sub: str = "sub-1",
    *,
    base: str = "https://fhir.example.test/fhir",
    content: str = "full-resource",
) -> dict[str, Any]:
    """A topic-based notification Bundle as the Backport IG (R4, R4B) and R5 shape it."""
    events = (
        []
        if number is None
        else [{"eventNumber": str(number)}]
        if content == "empty"
        else [
            {"eventNumber": str(number), "focus": {"reference": f"{base}/Observation/{r['id']}"}}
            for r in resources[:1]
        ]
    )
    if version == "R4":
        params: list[dict[str, Any]] = [
            {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{sub}"}},
            {"name": "topic", "valueCanonical": "http://example.test/topic/observations"},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": kind},
            {"name": "events-since-subscription-start", "valueString": str(number or 0)},
        ]
        for e in events:
            parts: list[dict[str, Any]] = [
                {"name": "event-number", "valueString": e["eventNumber"]}
            ]
            if "focus" in e:
                parts.append({"name": "focus", "valueReference": e["focus"]})
            params.append({"name": "notification-event", "part": parts})
        status: dict[str, Any] = {"resourceType": "Parameters", "id": uid("s"), "parameter": params}
    else:
        status = {
            "resourceType": "SubscriptionStatus",
            "status": "active",
            "type": kind,
            "eventsSinceSubscriptionStart": str(number or 0),
            "notificationEvent": events,
            "subscription": {"reference": f"{base}/Subscription/{sub}"},
            "topic": "http://example.test/topic/observations",
        }
    entries = [
        {
            "fullUrl": f"urn:uuid:{uid('u')}",
            "resource": status,
            "request": {"method": "GET", "url": f"Subscription/{sub}/$status"},
        }
    ]
    entries += [
        {
            "fullUrl": f"{base}/Observation/{r['id']}",
            "resource": r,
            "request": {"method": "PUT", "url": f"Observation/{r['id']}"},
        }
        for r in (resources if content == "full-resource" else [])
    ]
    return {
        "resourceType": "Bundle",
        "id": uid("b"),
        "type": "subscription-notification" if version == "R5" else "history",
        "timestamp": "2026-03-10T16:00:01Z",
        "entry": entries,
    }


def post(
    hub: HubProcess,
    body: Any,
    *,
    path: str = "/fhir/default",
    tok: str | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> httpx.Response:
    raw = json.dumps(body).encode()
    hdrs = {"Content-Type": "application/fhir+json", **(headers or {})}
    if tok is not False:
        hdrs.setdefault("Authorization", f"Bearer {tok or token(role='service')}")
    return httpx.request(method, hub.url + path, content=raw, headers=hdrs, timeout=30)


@pytest.mark.parametrize("version", ["R4", "R4B", "R5"])
async def test_event_notifications_reach_the_patient_room(
    fhir_hub: HubProcess, version: str
) -> None:
    patient = uid("p")
    watcher = Listener()
    await watcher.connect(fhir_hub, token(patients=[patient]))
    assert (await watcher.join(f"patient_{patient}"))["ok"] is True
    handshake = post(fhir_hub, notification(version, "handshake", None, []))
    assert handshake.status_code == 200, handshake.text
    heartbeat = post(fhir_hub, notification(version, "heartbeat", None, []))
    assert heartbeat.status_code == 200
    bundle = notification(
        version,
        "event-notification",
        1,
        [
            observation(uid("o"), patient, 6.8, "HH"),
            observation(uid("o"), patient, 5.4, "H", name="Potassium repeat"),
            observation(uid("o"), patient, 4.1, "N"),
        ],
    )
    reply = post(fhir_hub, bundle)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/fhir+json")
    await watcher.wait_for(lambda: len(watcher.of("patient_alert")) >= 2)
    alerts = watcher.of("patient_alert")
    assert [(a["alert_type"], a["alert_data"]["message"]) for a in alerts] == [
        ("critical", "Potassium 6.8 mmol/L (critical high)"),
        ("warning", "Potassium repeat 5.4 mmol/L (high)"),
    ]
    # a resend of the same notification: the same answer, no new events
    again = post(fhir_hub, bundle)
    assert (again.status_code, again.json()) == (200, reply.json())
    marker = observation(uid("o"), patient, 1.9, "LL")
    assert (
        post(fhir_hub, notification(version, "event-notification", 2, [marker])).status_code == 200
    )
    await watcher.wait_for(lambda: len(watcher.of("patient_alert")) >= 3)
    assert [a["alert_data"]["interpretation"] for a in watcher.of("patient_alert")] == [
        "critical high",
        "high",
        "critical low",
    ]
    await watcher.close()


async def test_invalid_entries_are_named_and_do_not_block_the_others(fhir_hub: HubProcess) -> None:
    patient = uid("p")
    watcher = Listener()
    await watcher.connect(fhir_hub, token(patients=[patient]))
    await watcher.join(f"patient_{patient}")
    bad = observation(uid("o"), patient, 6.8, "HH")
    bad["valueQuantity"]["value"] = "lots"
    good = observation(uid("o"), patient, 7.1, "HH")
    reply = post(fhir_hub, notification("R4B", "event-notification", 1, [bad, good], sub=uid("s")))
    assert reply.status_code == 422
    outcome = reply.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [problem] = outcome["issue"]
    assert problem["expression"] == ["Bundle.entry[1].resource.Observation.valueQuantity.value"]
    await watcher.wait_for(lambda: bool(watcher.of("patient_alert")))
    assert [a["alert_data"]["message"] for a in watcher.of("patient_alert")] == [
        "Potassium 7.1 mmol/L (critical high)"
    ]
    # the notification is kept as an error, naming the element, for inspection
    admin = {"Authorization": f"Bearer {token(role='admin')}"}
    kept = httpx.get(
        fhir_hub.url + "/api/inbound",
        params={"status": "error", "source": "fhir:default", "limit": 1000},
        headers=admin,
    ).json()["entries"]
    [mine] = [e for e in kept if "valueQuantity.value" in (e["error"] or "")]
    detail = httpx.get(f"{fhir_hub.url}/api/inbound/{mine['id']}", headers=admin).json()
    assert good["id"] in detail["raw"] and bad["id"] in detail["raw"]
    # reprocessing adds nothing twice, and the bad entry keeps it an error
    again = httpx.post(f"{fhir_hub.url}/api/inbound/{mine['id']}/reprocess", headers=admin)
    assert again.status_code == 200 and again.json()["status"] == "error"
    await asyncio.sleep(0.3)
    assert len(watcher.of("patient_alert")) == 1
    await watcher.close()


def test_bad_requests_get_operation_outcomes(fhir_hub: HubProcess) -> None:
    unauth = post(fhir_hub, {"resourceType": "Observation"}, tok="not-a-token")
    assert unauth.status_code == 401 and unauth.json()["resourceType"] == "OperationOutcome"
    nurse = post(fhir_hub, {"resourceType": "Observation"}, tok=token(role="nurse"))
    assert nurse.status_code == 401 and "nurse" in nurse.json()["issue"][0]["diagnostics"]
    not_json = httpx.post(
        fhir_hub.url + "/fhir/default",
        content=b"{nope",
        headers={
            "Authorization": f"Bearer {token(role='service')}",
            "Content-Type": "application/fhir+json",
        },
    )
    assert not_json.status_code == 400 and not_json.json()["issue"][0]["code"] == "invalid"
    no_type = post(fhir_hub, {"id": "x"})
    assert no_type.status_code == 422 and no_type.json()["issue"][0]["expression"] == [
        "resourceType"
    ]
    wrong_kind = post(fhir_hub, {"resourceType": "Bundle", "type": "document", "entry": []})
    assert wrong_kind.status_code == 422 and "document" in wrong_kind.text
    assert post(fhir_hub, {"resourceType": "Observation"}, path="/fhir/nowhere").status_code == 404
    xml = httpx.post(
        fhir_hub.url + "/fhir/default",
        content=b"<Observation/>",
        headers={
            "Authorization": f"Bearer {token(role='service')}",
            "Content-Type": "application/fhir+xml",
        },
    )
    assert xml.status_code == 415


async def test_hmac_source_and_classic_put(fhir_hub: HubProcess) -> None:
    patient = uid("p")
    watcher = Listener()
    await watcher.connect(fhir_hub, token(patients=[patient]))
    await watcher.join(f"patient_{patient}")
    obs = observation(uid("o"), patient, 2.1, "LL")
    raw = json.dumps(obs).encode()
    signature = hmac.new(HMAC_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    url = f"{fhir_hub.url}/fhir/medplum/Observation/{obs['id']}"
    headers = {"Content-Type": "application/fhir+json", "X-Signature": signature}
    assert httpx.put(url, content=raw, headers=headers).status_code == 200
    # the same version again (a retry): answered the same, no second alert
    assert httpx.put(url, content=raw, headers=headers).status_code == 200
    forged = {**headers, "X-Signature": "0" * 64}
    assert httpx.put(url, content=raw, headers=forged).status_code == 401
    # a PUT whose body is another resource than the URL names is refused
    other = httpx.put(
        f"{fhir_hub.url}/fhir/medplum/Observation/elsewhere", content=raw, headers=headers
    )
    assert other.status_code == 422
    await watcher.wait_for(lambda: bool(watcher.of("patient_alert")))
    # corrected: supersedes the earlier alert for that observation
    fixed = observation(obs["id"], patient, 3.9, "N", status="corrected", version="2")
    raw = json.dumps(fixed).encode()
    signature = hmac.new(HMAC_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert (
        httpx.put(url, content=raw, headers={**headers, "X-Signature": signature}).status_code
        == 200
    )
    gone = observation(obs["id"], patient, 3.9, None, status="entered-in-error", version="3")
    raw = json.dumps(gone).encode()
    signature = hmac.new(HMAC_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert (
        httpx.put(url, content=raw, headers={**headers, "X-Signature": signature}).status_code
        == 200
    )
    await watcher.wait_for(lambda: len(watcher.of("patient_alert")) >= 3)
    alerts = watcher.of("patient_alert")
    assert [(a["alert_type"], a["alert_data"]["action"]) for a in alerts] == [
        ("critical", "raise"),
        ("info", "supersede"),
        ("info", "retract"),
    ]
    assert {a["alert_data"]["observation"] for a in alerts} == {f"Observation/{obs['id']}"}
    await watcher.close()
