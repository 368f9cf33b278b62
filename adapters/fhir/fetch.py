"""Reading from a source's FHIR server: id-only foci, ``$events`` and ``_lastUpdated`` searches.

Every request has a timeout and is retried with backoff on network errors, 429 and 5xx; a 4xx
other than 429 is an answer (the server does not have it, or does not support the operation)
and is not retried.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import orjson

log = logging.getLogger("adapters.fhir")

FHIR_JSON = "application/fhir+json"


class FetchError(Exception):
    """A read failed for good; ``status`` is the HTTP status when there was one."""

    def __init__(self, text: str, status: int | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.status = status


class FhirFetcher:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout_s: float,
        attempts: int,
        backoff_s: float,
    ) -> None:
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout_s)
        self._attempts = attempts
        self._backoff_s = backoff_s

    async def close(self) -> None:
        await self._client.aclose()

    def url(self, reference: str) -> str:
        """Absolute URL of a reference: absolute ones are used as sent."""
        if reference.startswith(("http://", "https://")):
            return reference
        return f"{self.base_url}/{reference.lstrip('/')}"

    async def get(self, url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        last = "no attempt made"
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = await self._client.get(url, params=params)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__} from {url}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code} from {url}"
                continue
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code} from {url}", response.status_code)
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise FetchError(f"{url} did not answer JSON", response.status_code) from None
            if not isinstance(body, dict):
                raise FetchError(f"{url} did not answer a FHIR resource", response.status_code)
            return body
        raise FetchError(f"gave up after {self._attempts} attempts: {last}")

    async def read(self, reference: str) -> dict[str, Any]:
        return await self.get(self.url(reference))

    async def events(self, subscription: str, since: int, until: int) -> dict[str, Any]:
        """``Subscription/{id}/$events`` for a range of event numbers (Backport IG)."""
        return await self.get(
            f"{self.url(subscription)}/$events",
            {"eventsSinceNumber": str(since), "eventsUntilNumber": str(until)},
        )

    async def search_since(
        self, resource_type: str, since: str, limit: int
    ) -> list[dict[str, Any]]:
        """Resources of a type updated at or after ``since``, following ``next`` links."""
        found: list[dict[str, Any]] = []
        url: str | None = f"{self.base_url}/{resource_type}"
        params: dict[str, str] | None = {"_lastUpdated": f"ge{since}", "_count": "100"}
        while url and len(found) < limit:
            bundle = await self.get(url, params)
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict):
                    found.append(resource)
            url = next(
                (
                    link.get("url")
                    for link in bundle.get("link") or []
                    if isinstance(link, dict) and link.get("relation") == "next"
                ),
                None,
            )
            params = None
        return found[:limit]
