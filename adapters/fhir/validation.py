"""Structural validation of pushed resources with fhir.resources, once per resource.

R5 documents use the R5 models; R4 and R4B documents use the R4B models, which accept R4
resources where the two agree (Observation, Encounter, Location, Flag ... are compatible for
the elements the hub reads). The validated model goes to plugins beside the JSON they read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a resource was refused: FHIRPath-like element and the problem."""

    element: str
    text: str


@cache
def _model(resource_type: str, version: str) -> Any:
    if version == "R5":
        from fhir.resources import get_fhir_model_class
    else:
        from fhir.resources.R4B import get_fhir_model_class
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        return None


def validate(resource: dict[str, Any], version: str) -> Any | Invalid:
    """The validated model, or why not (an unknown resource type is invalid too)."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return Invalid("resourceType", "resourceType is missing")
    model = _model(rtype, version)
    if model is None:
        return Invalid("resourceType", f"{rtype} is not a FHIR {version} resource type")
    try:
        return model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
        element = f"{rtype}.{path}" if path else rtype
        text = "unknown element" if first["type"] == "extra_forbidden" else first["msg"]
        return Invalid(element, f"{element}: {text}")
