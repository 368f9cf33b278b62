"""A hub with FHIR sources, shared by the FHIR tests of a module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HubProcess

HMAC_SECRET = "medplum-subscription-secret-for-tests"


@pytest.fixture(scope="module")
def fhir_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    state: Path = tmp_path_factory.mktemp("fhir")
    hub = HubProcess(state)
    settings = json.loads(hub.env()["HUB_PLUGINS__SETTINGS"])
    settings["fhir"] = {
        "sources": [
            {"name": "default", "accept_hub_tokens": True},
            {"name": "medplum", "hmac_secret_env": "TEST_MEDPLUM_SECRET", "fhir_version": "R4"},
        ]
    }
    hub.extra_env.update(
        HUB_PLUGINS__SETTINGS=json.dumps(settings), TEST_MEDPLUM_SECRET=HMAC_SECRET
    )
    yield hub.start()
    hub.stop()
