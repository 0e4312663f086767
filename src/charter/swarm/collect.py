"""The coordinator's side of the ledger: volunteers' signed reports, read from the DHT, checked and chained.

A report is accepted only when its signature verifies against the volunteer key it names, that key is
the DHT subkey it was stored under, it is for this run, its volunteer is admitted (it published a valid
admission proof with that key), its order number ``n`` is newer than the last accepted one, and its
totals never decrease. Accepted reports are appended to ``ledger.jsonl``; every refusal is counted by
reason (``refused``), never silently dropped.
"""

from __future__ import annotations

import json
from pathlib import Path


class Collector:
    def __init__(self, run_id: str, folder: Path, admission):
        from charter.swarm.ledger import Ledger

        self.run_id, self.folder, self.admission = run_id, Path(folder), admission
        self.ledger = Ledger(self.folder / "ledger.jsonl", run=run_id)
        self.last: dict[str, dict] = {}  # volunteer key -> last accepted record
        self.terms: dict[str, dict] = {}  # volunteer key -> {"compute", "terms"}
        self.progress: dict[str, dict] = {}  # volunteer key -> {"loss", "samples_per_s"} as last published (unsigned)
        self.refused: dict[str, int] = {}
        for e in self.ledger.entries():  # a restarted coordinator continues the chain
            rec = json.loads(e["record"])
            self.last[rec["peer"]] = rec

    def _refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def collect(self, dht) -> dict:
        from charter.swarm.admission import subkey_name
        from charter.swarm.peer import CONTRIBUTIONS, VOLUNTEERS

        admitted_keys = set(self.admission.admitted.values())
        got = dht.get(f"{self.run_id}.{VOLUNTEERS}", latest=True)
        for sub, item in ((got.value if got is not None and isinstance(got.value, dict) else {}).items()):
            key, v = subkey_name(sub), getattr(item, "value", None)
            if isinstance(key, str) and isinstance(v, dict) and isinstance(v.get("compute"), str):
                self.terms[key] = {"compute": v["compute"], "terms": v.get("terms")}
                self.progress[key] = {k: v[k] for k in ("loss", "samples_per_s") if isinstance(v.get(k), (int, float)) and not isinstance(v.get(k), bool)}
        got = dht.get(f"{self.run_id}.{CONTRIBUTIONS}", latest=True)
        for sub, item in ((got.value if got is not None and isinstance(got.value, dict) else {}).items()):
            self._accept(subkey_name(sub), getattr(item, "value", None), admitted_keys)
        return self.summary()

    def _accept(self, key, value, admitted_keys: set) -> None:
        from charter.errors import InvalidInput

        if not (isinstance(key, str) and isinstance(value, dict) and isinstance(value.get("record"), str) and isinstance(value.get("sig"), str)):
            return self._refuse("malformed")
        try:
            rec = json.loads(value["record"])
        except ValueError:
            return self._refuse("malformed")
        if not isinstance(rec, dict) or rec.get("peer") != key:
            return self._refuse("wrong-key")
        prev = self.last.get(key)
        if prev is not None and isinstance(rec.get("seq"), int) and rec["seq"] <= prev["seq"]:
            return None  # already in the ledger: the DHT keeps serving a volunteer's latest report
        if key not in admitted_keys:
            return self._refuse("not-admitted")
        try:
            self.ledger.append_signed(value["record"], value["sig"])  # signature, run, order, totals: checked there
        except InvalidInput as e:
            return self._refuse("refused-by-ledger: " + e.message.split(": ", 1)[-1][:120])
        self.last[key] = rec

    def summary(self) -> dict:
        count, head = self.ledger.head()
        peers = {}
        for key, rec in sorted(self.last.items(), key=lambda kv: kv[1].get("compute", "")):
            t = self.terms.get(key, {})
            peers[key] = {"compute": rec.get("compute") or t.get("compute"), "samples": rec["samples"], "steps": rec["steps"],
                          "last_report": _epoch(rec.get("time")), "loss": None, "samples_per_s": None, **self.progress.get(key, {})}
        return {"contributors": peers, "ledger": {"entries": count, "head": head}, "refused_reports": dict(self.refused),
                "terms": self.terms}


def _epoch(iso: str | None) -> float | None:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None
