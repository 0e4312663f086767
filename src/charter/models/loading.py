"""Loading registered models: the one way adapt, train, eval, serve and generate reach a model's weights.

``get`` is any ``ref -> Asset`` callable: ``Registry.get``, or a prefetched dict's ``__getitem__`` (the
gateway loads on its model thread without touching the registry). Every folder loaded here is verified
against its registered digest first (IntegrityError when a file was swapped or edited); a LoRA adapter's
base is its ``adapter-of`` parent, verified and loaded the same way.

torch, transformers and peft are imported inside ``load_registered`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from charter.core.assets import Asset
from charter.errors import InvalidInput
from charter.models.weights import Weights

Get = Callable[[str], Asset]


def weights_of(a: Asset) -> Weights:
    """The asset's registered weights (InvalidInput when it has none, or a malformed record)."""
    w = Weights.of(a)
    if w is None:
        raise InvalidInput(f"{a.id} has no registered weights", hint="register weights with `charter model add` (or adapt/train a registered model)", field="BASE")
    return w


def adapter_base(a: Asset) -> str | None:
    """The ``adapter-of`` parent of a LoRA adapter (None for plain weights, no weights, or an adapter registered without one)."""
    w = Weights.of(a)
    if w is None or not w.is_adapter:
        return None
    return next((e.parent for e in a.derived_from if e.relation == "adapter-of"), None)


def chain(get: Get, a: Asset) -> list[Asset]:
    """The model and, when it is a LoRA adapter, its adapter-of bases in order (the assets loading it reads)."""
    out = [a]
    while (parent := adapter_base(out[-1])) is not None and parent not in {x.id for x in out}:
        out.append(get(parent))
    return out


def weights_folder(a: Asset) -> Path:
    """The folder of a registered model's weights, verified first against the digest recorded when they
    were registered (IntegrityError naming the changed file, both hashes and the fix)."""
    from charter.core.digests import verify_weights

    return verify_weights(a.id, weights_of(a).to_json())


def tokenizer_registered(get: Get, a: Asset):
    """The tokenizer ``load_registered`` returns with the model (an adapter's is its base's), verified the same way."""
    from charter.models.hf import load_tokenizer

    while weights_of(a).is_adapter:
        parent = adapter_base(a)
        if parent is None:
            return load_registered(get, a)[1]  # refused there, with its message
        a = get(parent)
    return load_tokenizer(weights_folder(a))


def verify_registered(get: Get, a: Asset) -> None:
    """The model's weights, and its adapter-of bases', still have their registered digests (IntegrityError if not)."""
    for x in chain(get, a):
        weights_folder(x)


def load_registered(get: Get, a: Asset):
    """(model, tokenizer) for a registered model: a weights folder, or a LoRA adapter over its base.

    An adapter's base is its ``adapter-of`` parent, loaded the same way (itself possibly an adapter, whose
    weights are then merged, as ``adapt`` merged them before training the adapter on top)."""
    from charter.models.hf import load

    if weights_of(a).is_adapter:
        from peft import PeftModel

        parent = adapter_base(a)
        if parent is None:  # its base folder would be loaded unverified: refused
            raise InvalidInput(f"{a.id} is a LoRA adapter with no registered base (no adapter-of edge)",
                               hint="register the adapter with derived_from: [{asset: BASE, relation: adapter-of}] (charter adapt does)")
        model, tok = load_registered(get, get(parent))
        if isinstance(model, PeftModel):
            model = model.merge_and_unload()
        return PeftModel.from_pretrained(model, weights_folder(a)), tok
    return load(weights_folder(a))


__all__ = ["Get", "adapter_base", "chain", "load_registered", "tokenizer_registered", "verify_registered", "weights_folder", "weights_of"]
