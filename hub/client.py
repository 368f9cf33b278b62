"""The seed's six emit functions over HTTP, for workers in other processes (Celery tasks ...).

::

    from hub.client import HubClient
    hub = HubClient("http://127.0.0.1:5000", token=SERVICE_TOKEN)
    hub.emit_risk_update("P123", 0.92, "critical", {"feature": "heart_rate"})
    # -> {"id": "...", "seq": 42, "duplicate": False}

Each call gets an event id before the first attempt, so a retry after a timeout or a 5xx can
never journal the event twice. ``AsyncHubClient`` has the same methods as coroutines.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from hub import seed_api
from hub.events import new_event_id

_RETRY_STATUS = {429, 502, 503, 504}


class HubError(Exception):
    """The hub refused the event (4xx) or stayed unavailable through every retry."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"hub answered {status}: {body}")
        self.status = status
        self.body = body


class _SeedMethods:
    """The six seed functions; subclasses define ``_send(event_type, body, event_id)``."""

    def _send(self, event_type: str, body: dict[str, Any], event_id: str | None) -> Any:
        raise NotImplementedError

    def _call(self, built: seed_api.Body, event_id: str | None) -> Any:
        event_type, body = built
        return self._send(event_type, body, event_id)

    def emit_patient_alert(
        self,
        patient_id: str,
        alert_type: str,
        alert_data: dict[str, Any] | None = None,
        *,
        event_id: str | None = None,
        **extra: Any,
    ) -> Any:
        return self._call(
            seed_api.patient_alert(patient_id, alert_type, alert_data, **extra), event_id
        )

    def emit_risk_update(
        self,
        patient_id: str,
        risk_score: float,
        risk_level: str,
        explanation: dict[str, Any] | None = None,
        *,
        event_id: str | None = None,
        **extra: Any,
    ) -> Any:
        return self._call(
            seed_api.risk_update(patient_id, risk_score, risk_level, explanation, **extra),
            event_id,
        )

    def emit_hospital_alert(
        self,
        hospital_id: str,
        alert_type: str,
        alert_data: dict[str, Any] | None = None,
        *,
        event_id: str | None = None,
        **extra: Any,
    ) -> Any:
        return self._call(
            seed_api.hospital_alert(hospital_id, alert_type, alert_data, **extra), event_id
        )

    def emit_triage_update(
        self,
        triage_id: str,
        status: str,
        patient_id: str,
        *,
        event_id: str | None = None,
        **extra: Any,
    ) -> Any:
        return self._call(seed_api.triage_update(triage_id, status, patient_id, **extra), event_id)

    def emit_availability_update(
        self,
        hospital_id: str,
        staff_id: str,
        staff_type: str,
        available: bool,
        *,
        event_id: str | None = None,
        **extra: Any,
    ) -> Any:
        return self._call(
            seed_api.availability_update(hospital_id, staff_id, staff_type, available, **extra),
            event_id,
        )

    def emit_bed_status_update(
        self,
        hospital_id: str,
        bed_info: dict[str, Any],
        *,
        event_id: str | None = None,
        **extra: Any,
    ) -> Any:
        return self._call(seed_api.bed_status_update(hospital_id, bed_info, **extra), event_id)


def _result(response: httpx.Response) -> dict[str, Any]:
    if response.status_code == 202:
        return response.json()  # type: ignore[no-any-return]
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    raise HubError(response.status_code, body)


class HubClient(_SeedMethods):
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        source: str | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        if source:
            headers["X-Hub-Source"] = source
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self._retries = retries

    def _send(self, event_type: str, body: dict[str, Any], event_id: str | None) -> Any:
        payload = {**body, "id": event_id or new_event_id()}
        for attempt in range(self._retries + 1):
            try:
                response = self._http.post(f"/api/events/{event_type}", json=payload)
            except httpx.TransportError:
                if attempt == self._retries:
                    raise
            else:
                if response.status_code not in _RETRY_STATUS or attempt == self._retries:
                    return _result(response)
            time.sleep(min(0.2 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


class AsyncHubClient(_SeedMethods):
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        source: str | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        if source:
            headers["X-Hub-Source"] = source
        self._http = httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=timeout)
        self._retries = retries

    async def _send(self, event_type: str, body: dict[str, Any], event_id: str | None) -> Any:
        payload = {**body, "id": event_id or new_event_id()}
        for attempt in range(self._retries + 1):
            try:
                response = await self._http.post(f"/api/events/{event_type}", json=payload)
            except httpx.TransportError:
                if attempt == self._retries:
                    raise
            else:
                if response.status_code not in _RETRY_STATUS or attempt == self._retries:
                    return _result(response)
            await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHubClient:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.aclose()
