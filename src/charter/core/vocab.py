"""The names Charter writes into standard formats and reads back from them (exports/, imports/).

Charter's own terms travel under one namespace, ``NS``: uses are ``NS + "use/" + id`` (the use
taxonomy, one IRI per use id), assets ``NS + "asset/" + id``, policies ``NS + "policy/" + id``, and
the few properties no standard has (``NS + "relation"``...). CycloneDX and SPDX 3 carry them as
namespaced name/value properties (``charter:uses:deny`` = ``biometric-identification``).
The namespace is Charter's; ``charter.exports.odrl.vocabulary`` writes the taxonomy under it as SKOS
concepts (Turtle), so a reader can resolve every use IRI without Charter.
"""

from __future__ import annotations

NS = "https://w3id.org/charter/"
USE = NS + "use/"
ASSET = NS + "asset/"
POLICY = NS + "policy/"
PREFIX = "charter"

# name/value properties (CycloneDX component properties, SPDX 3 CdxPropertiesExtension entries)
P_ID = "charter:id"  # the asset id, kind/name@version
P_KIND = "charter:kind"
P_LICENSE = "charter:license"  # a licence name outside SPDX's list, kept verbatim
P_ALLOW = "charter:uses:allow"  # one property per use id: the asset's own allow list
P_DENY = "charter:uses:deny"  # the asset's own deny list
P_DUTY = "charter:duty"
P_REQUIRES = "charter:requires"  # one requirement as canonical JSON
P_ATTEST = "charter:attest"
P_PUBLIC_KEY = "charter:public-key"
P_RELATION = "charter:relation"  # on a pedigree ancestor / a lineage edge: the Charter relation
P_EVALUATION = "charter:evaluation"  # one evaluated property (benchmark, version, metric, value, ci, n) as canonical JSON
P_EFFECTIVE_ALLOW = "charter:effective:allow"  # informational: what the asset inherits, with the source
P_EFFECTIVE_DENY = "charter:effective:deny"
OWN = (P_ID, P_KIND, P_LICENSE, P_ALLOW, P_DENY, P_DUTY, P_REQUIRES, P_ATTEST, P_PUBLIC_KEY, P_RELATION, P_EVALUATION)
INFORMATIONAL = (P_EFFECTIVE_ALLOW, P_EFFECTIVE_DENY)


def asset_iri(asset_id: str) -> str:
    return ASSET + asset_id


def use_iri(use: str) -> str:
    return USE + use


def policy_iri(asset_id: str) -> str:
    return POLICY + asset_id


def strip(iri: str, prefix: str) -> str | None:
    """The part of ``iri`` after ``prefix``, or None when it is not under it."""
    return iri[len(prefix):] if isinstance(iri, str) and iri.startswith(prefix) and len(iri) > len(prefix) else None
