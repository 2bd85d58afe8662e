"""The ledger as ValueFlows JSON-LD (specs/07-ledger.md §8).

Every contribution becomes a `vf:EconomicEvent` with its own action; every
part of a distribution becomes a `vf:transfer` event from the sharing
cooperative to the part's agent, `vf:triggeredBy` the job.complete.
Quantities are `om2:Measure`s; money keeps integer minor units under a
currency unit of our own namespace, since om2 has no currencies. The
context is inline, so the document needs no network to be read. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from protocol.did import Did
from protocol.records import RecordId

__all__ = ["CONTEXT", "export_graph", "record_iri", "unit_iri"]

VF = "https://w3id.org/valueflows/ont/vf#"
OM2 = "http://www.ontology-of-units-of-measure.org/resource/om-2/"
FAB = "https://fabcommons.org/ns/ledger#"

CONTEXT: dict[str, Any] = {
    "vf": VF,
    "om2": OM2,
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "fab": FAB,
    "action": {"@id": "vf:action", "@type": "@id"},
    "provider": {"@id": "vf:provider", "@type": "@id"},
    "receiver": {"@id": "vf:receiver", "@type": "@id"},
    "resourceQuantity": {"@id": "vf:resourceQuantity"},
    "effortQuantity": {"@id": "vf:effortQuantity"},
    "hasPointInTime": {"@id": "vf:hasPointInTime", "@type": "xsd:dateTime"},
    "resourceClassifiedAs": {"@id": "vf:resourceClassifiedAs"},
    "corrects": {"@id": "vf:corrects", "@type": "@id"},
    "triggeredBy": {"@id": "vf:triggeredBy", "@type": "@id"},
    "note": {"@id": "vf:note"},
    "hasNumericalValue": {"@id": "om2:hasNumericalValue", "@type": "xsd:decimal"},
    "hasUnit": {"@id": "om2:hasUnit", "@type": "@id"},
    "fulfils": {"@id": "fab:fulfils", "@type": "@id"},
    "log": {"@id": "fab:log", "@type": "@id"},
    "index": {"@id": "fab:index", "@type": "xsd:integer"},
    "reason": {"@id": "fab:reason"},
    "generation": {"@id": "fab:generation", "@type": "xsd:integer"},
    "design": {"@id": "fab:design", "@type": "@id"},
    "policyVersion": {"@id": "fab:policyVersion", "@type": "xsd:integer"},
    "part": {"@id": "fab:part", "@type": "xsd:integer"},
}

# Unit names that are om2 individuals under the same local name.
_OM2_UNITS = frozenset(
    {
        "one",
        "second-Time",
        "minute-Time",
        "hour",
        "day",
        "gram",
        "kilogram",
        "tonne",
        "metre",
        "millimetre",
        "squareMetre",
        "cubicMetre",
        "litre",
        "kilowattHour",
        "joule",
        "percent",
    }
)


def record_iri(record_id: str) -> str:
    """The IRI of a record: urn:fabcommons:record:sha256:<hex>."""
    return "urn:fabcommons:record:" + record_id


def unit_iri(unit: str) -> str:
    """om2's IRI for a known unit name, else one in the fabcommons namespace."""
    return OM2 + unit if unit in _OM2_UNITS else f"{FAB}unit/{unit}"


def _measure(quantity: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "@type": "om2:Measure",
        "hasNumericalValue": quantity["value"],
        "hasUnit": unit_iri(quantity["unit"]),
    }


def _contribution(log: Did, index: int, rid: RecordId, body: Mapping[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@id": record_iri(rid),
        "@type": "vf:EconomicEvent",
        "action": VF + body["action"],
        "provider": body["provider"],
        "receiver": body["receiver"],
        "hasPointInTime": body["at"],
        "log": log,
        "index": index,
    }
    if "resource_quantity" in body:
        node["resourceQuantity"] = _measure(body["resource_quantity"])
    if "effort_quantity" in body:
        node["effortQuantity"] = _measure(body["effort_quantity"])
    if "resource" in body:
        node["resourceClassifiedAs"] = body["resource"]
    if "fulfils" in body:
        node["fulfils"] = record_iri(body["fulfils"]["id"])
    if "corrects" in body:
        node["corrects"] = record_iri(body["corrects"])
    if "note" in body:
        node["note"] = body["note"]
    return node


def _parts(log: Did, index: int, rid: RecordId, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    currency = body["total"]["currency"]
    out = []
    for n, part in enumerate(body["parts"]):
        node: dict[str, Any] = {
            "@id": f"{record_iri(rid)}#part-{n}",
            "@type": "vf:EconomicEvent",
            "action": VF + "transfer",
            "provider": log,
            "receiver": part["agent"],
            "resourceQuantity": {
                "@type": "om2:Measure",
                "hasNumericalValue": str(part["amount"]),
                "hasUnit": f"{FAB}currency/{currency}/minor",
            },
            "triggeredBy": record_iri(body["complete"]),
            "reason": part["reason"],
            "policyVersion": part["policy_version"],
            "log": log,
            "index": index,
            "part": n,
        }
        if "generation" in part:
            node["generation"] = part["generation"]
        if "design" in part:
            node["design"] = record_iri(part["design"])
        out.append(node)
    return out


def export_graph(
    contributions: Sequence[tuple[Did, int, RecordId, Mapping[str, Any]]],
    distributions: Sequence[tuple[Did, int, RecordId, Mapping[str, Any]]],
) -> dict[str, Any]:
    """A JSON-LD document of the given ledger.contribution and ledger.distribution bodies."""
    graph: list[dict[str, Any]] = [_contribution(*c) for c in contributions]
    for d in distributions:
        graph.extend(_parts(*d))
    return {"@context": CONTEXT, "@graph": graph}
