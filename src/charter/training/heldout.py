"""Held-out loss: the mean next-token loss of a registered model on text it was not trained on, so an
adaptation's effect is measured, not assumed (``charter adapt --heldout DATASET``)."""

from __future__ import annotations

from charter.core.assets import Asset

MAX_BLOCKS = 64  # enough blocks for a stable mean, few enough for a CPU


def loss(get, model: Asset, texts: list[str], seq_len: int, max_blocks: int = MAX_BLOCKS) -> dict:
    """{"loss": mean over blocks of the per-token cross-entropy (nats), "blocks", "tokens"} of ``model`` on
    ``texts`` cut into ``seq_len`` blocks (the first ``max_blocks``: the same blocks for every model that
    shares the tokenizer, which a base and its adapter do)."""
    import torch

    from charter.models.loading import load_registered
    from charter.training import data as data_mod

    net, tok = load_registered(get, model)
    blocks = data_mod.blocks(tok, texts, seq_len)[:max_blocks]
    net.eval()
    total = 0.0
    with torch.inference_mode():
        for i in range(0, len(blocks), 8):
            batch = blocks[i:i + 8]
            total += float(net(input_ids=batch, labels=batch).loss) * len(batch)
    return {"loss": round(total / len(blocks), 6), "blocks": len(blocks), "tokens": int(blocks.numel())}
