"""Reasons worded once (charter.policy.explain), for the CLI, the gateway's refusals and the web view: the text of
decisions on the example registry, each checked by hand against its charters, pinned here."""

from __future__ import annotations

from importlib import resources

import pytest

from charter.policy.decide import Decision, Reason
from charter.policy.explain import conditions_text, reason_head, reason_line, reason_text, refusal_line, verdict_line
from charter.registry import Registry

LLAMA = "model/meta-llama/llama-3.2-1b-instruct@1"


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    r = Registry.open(str(tmp_path_factory.mktemp("explain") / "r.db"))
    ex = resources.files("charter") / "resources" / "examples"
    r.add_files([ex / f for f in ("ecosystem.yaml", "compute-alice.yaml", "llama-upstream.yaml")])
    r.withdraw("dataset/forum-posts@1", "consent revoked")
    r.restrict("dataset/parallel-corpus@1", ["commercial"], "under review")
    yield r
    r.close()


def lines(d) -> list[str]:
    return [verdict_line(d)] + [reason_text(r) for r in d.reasons] + [f"{a} / {b}" for a, b in conditions_text(d)]


def test_deny_from_upstream(reg):
    # vision-encoder's charter denies biometric-identification, of which face-recognition is a kind; fine-tuning is allowed
    d = reg.check("model/photo-tagger@1", ("fine-tuning", "face-recognition"))
    assert lines(d) == ["DENIED model/photo-tagger@1 for fine-tuning, face-recognition: 1 reason",
                        "deny face-recognition: model/vision-encoder@1 denies biometric-identification (uses.deny)\n"
                        "      path: model/photo-tagger@1 -> model/vision-encoder@1"]
    assert refusal_line(d, "application/x@1 may not use M for face-recognition") == (
        "application/x@1 may not use M for face-recognition: 1 reason; first: deny face-recognition: model/vision-encoder@1 "
        "denies biometric-identification (uses.deny) (path: model/photo-tagger@1 -> model/vision-encoder@1)")


def test_withdrawn_three_hops_up(reg):
    d = reg.check("application/helpdesk-bot@1", ("conversational-agent",))
    assert lines(d) == ["DENIED application/helpdesk-bot@1 for conversational-agent: 1 reason",
                        "withdrawn: dataset/forum-posts@1 (consent revoked)\n      path: application/helpdesk-bot@1 -> "
                        "model/support-assistant@1 -> model/foundation-lm@1 -> dataset/forum-posts@1"]
    assert reason_line(d.reasons[0]) == ("withdrawn: dataset/forum-posts@1 (consent revoked) (path: application/helpdesk-bot@1 -> "
                                         "model/support-assistant@1 -> model/foundation-lm@1 -> dataset/forum-posts@1)")


def test_restriction_and_allow_only(reg):
    d = reg.check("model/translator@1", ("commercial",))
    assert reason_head(d.reasons[0]) == "deny commercial: dataset/parallel-corpus@1 denies commercial (restriction: under review)"
    d = reg.check("application/translate-app@1", ("summarization",))
    assert reason_text(d.reasons[0]) == ("allow-only summarization: application/translate-app@1 permits only machine-translation "
                                         "(uses.allow)\n      path: application/translate-app@1")


def test_licence_condition_unmet_then_attested(reg):
    d = reg.check(LLAMA, ("commercial",))
    assert verdict_line(d) == f"DENIED {LLAMA} for commercial: 1 reason"
    assert reason_head(d.reasons[0]).startswith(f"condition commercial: {LLAMA}'s licence llama3.2 permits commercial only if the "
                                                "licensee and its affiliates had no more than 700 million monthly active users")
    assert reason_head(d.reasons[0]).endswith("attest it with --attest llama32-700m-mau")
    d = reg.check(LLAMA, ("commercial",), ("llama32-700m-mau",))
    assert verdict_line(d) == f"ALLOWED {LLAMA} for commercial"
    [(what, whose)] = conditions_text(d)
    assert what.startswith("on condition llama32-700m-mau: the licensee and its affiliates had no more than 700 million")
    assert what.endswith("(Llama 3.2 Community License Agreement §2)") and whose == f"licence llama3.2 of {LLAMA}"


def test_the_gateways_own_reasons_and_json_round_trip(reg):
    """The gate's not-declared and not-deployed reasons (serve/gate.py builds them) read as themselves, not as
    allow-only; an audit record's reasons (JSON) read back word for word."""
    declared = Reason("application/a@1", "not-declared", "summarization", "application", ("application/a@1",), ("machine-translation",),
                      "application/a@1 did not declare summarization (declared: machine-translation)")
    deployed = Reason("application/a@1", "not-deployed", None, "application", ("application/a@1",), ("model/m@1",),
                      "application/a@1 is deployed from model/m@1, not model/o@1")
    assert reason_head(declared) == "not-declared summarization: application/a@1 did not declare summarization (declared: machine-translation)"
    assert reason_head(deployed) == "not-deployed: application/a@1 is deployed from model/m@1, not model/o@1"
    d = Decision("application/a@1", ("summarization",), False, (declared, deployed))
    assert refusal_line(d, "LEAD").startswith("LEAD: 2 reasons; first: not-declared summarization: ")
    for r in (declared, deployed, *reg.check(LLAMA, ("commercial",)).reasons, *reg.check("model/translator@1", ("commercial",)).reasons):
        assert Reason.from_json(r.to_json()) == r
