"""The coordinator's side of the ledger: volunteers' signed reports, read from the DHT, checked and chained.

A report is accepted only when its signature verifies against the volunteer key it names, that key is
the DHT subkey it was stored under, it is for this run, its volunteer is admitted (it published a valid
admission proof with that key), its order number ``n`` is newer than the last accepted one, and its
totals never decrease. Accepted reports are appended to ``ledger.jsonl``; every refusal is counted by
reason (``refused``), never silently dropped.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path


def _verify(key: str, sig: str, body: str) -> bool:
    from charter.swarm.admission import _verify_sig

    return _verify_sig(key, sig, body.encode())


class Collector:
    def __init__(self, run_id: str, folder: Path, admission):
        from charter.swarm.ledger import Ledger

        self.run_id, self.folder, self.admission = run_id, Path(folder), admission
        self.ledger = Ledger(self.folder / "ledger.jsonl")
        self.last: dict[str, dict] = {}  # volunteer key -> last accepted record
        self.terms: dict[str, dict] = {}  # volunteer key -> {"compute", "terms"}
        self.refused: dict[str, int] = {}
        for e in self.ledger.entries():  # a restarted coordinator continues the chain
            rec = json.loads(e["record"])
            self.last[rec["peer"]] = rec

    def _refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def collect(self, dht) -> dict:
        from charter.swarm.peer import CONTRIBUTIONS, VOLUNTEERS

        admitted_keys = set(self.admission.admitted.values())
        got = dht.get(f"{self.run_id}.{VOLUNTEERS}", latest=True)
        for key, item in ((got.value if got is not None and isinstance(got.value, dict) else {}).items()):
            v = getattr(item, "value", None)
            if isinstance(key, str) and isinstance(v, dict) and isinstance(v.get("compute"), str):
                self.terms[key] = {"compute": v["compute"], "terms": v.get("terms")}
        got = dht.get(f"{self.run_id}.{CONTRIBUTIONS}", latest=True)
        for key, item in ((got.value if got is not None and isinstance(got.value, dict) else {}).items()):
            self._accept(key, getattr(item, "value", None), admitted_keys)
        return self.summary()

    def _accept(self, key, value, admitted_keys: set) -> None:
        if not (isinstance(key, str) and isinstance(value, dict) and isinstance(value.get("record"), str) and isinstance(value.get("sig"), str)):
            return self._refuse("malformed")
        try:
            rec = json.loads(value["record"])
        except ValueError:
            return self._refuse("malformed")
        if not isinstance(rec, dict) or rec.get("peer") != key or rec.get("run") != self.run_id:
            return self._refuse("wrong-run-or-key")
        if not all(isinstance(rec.get(k), int) and not isinstance(rec.get(k), bool) and rec[k] >= 0 for k in ("samples", "steps", "n")):
            return self._refuse("malformed")
        prev = self.last.get(key)
        if prev is not None and rec["n"] <= prev["n"]:
            return None  # already in the ledger (the DHT keeps serving the latest report)
        if not _verify(key, value["sig"], value["record"]):
            return self._refuse("bad-signature")
        if key not in admitted_keys:
            return self._refuse("not-admitted")
        if prev is not None and (rec["samples"] < prev["samples"] or rec["steps"] < prev["steps"]):
            return self._refuse("decreasing-totals")
        self.ledger.append_signed(value["record"], value["sig"])
        self.last[key] = rec

    def summary(self) -> dict:
        count, head = self.ledger.head()
        peers = {}
        for key, rec in sorted(self.last.items(), key=lambda kv: kv[1].get("compute", "")):
            t = self.terms.get(key, {})
            peers[key] = {"compute": rec.get("compute") or t.get("compute"), "samples": rec["samples"], "steps": rec["steps"],
                          "last_report": rec.get("time")}
        return {"contributors": peers, "ledger": {"entries": count, "head": head}, "refused_reports": dict(self.refused),
                "terms": self.terms}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
