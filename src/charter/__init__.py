"""Charter: what may each asset be used for, decided along its lineage.

    from charter import Registry
    reg = Registry.open()                      # ./.charter/registry.db or $CHARTER_REGISTRY
    reg.add_files(["examples/ecosystem.yaml"])
    d = reg.can("model/base@1", ["fine-tuning", "machine-translation", "commercial"])
    d.allowed, [r.to_json() for r in d.reasons]
"""

from charter.core.assets import Asset, Edge, Event, Withdrawal
from charter.errors import CharterError
from charter.policy.decide import Decision, Reason, Request, Upstream, decide
from charter.registry import Registry

__all__ = ["Asset", "CharterError", "Decision", "Edge", "Event", "Reason", "Registry", "Request", "Upstream", "Withdrawal", "decide"]
__version__ = "0.1.0"
