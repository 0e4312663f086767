"""Training data: a registered dataset's texts as fixed-length token blocks, and its record-tag check."""

from __future__ import annotations

from pathlib import Path

from charter.core.assets import Asset
from charter.core.digests import verify_data
from charter.data.predicate import compile_predicate
from charter.data.source import FORMATS, Shard, check_tags, fields_of, files_of, open_shard
from charter.registry import Registry


def texts(a: Asset) -> list[str]:
    import duckdb

    con = duckdb.connect()
    out: list[str] = []
    for path in files_of(a):
        shard = open_shard(con, Shard(a.id, Path(path), FORMATS[Path(path).suffix]), fields_of(a))
        out += [t for (t,) in con.execute(f"SELECT text FROM {shard.view} WHERE text IS NOT NULL ORDER BY source_row").fetchall()]
    return out


def tag_exclusions(reg: Registry, a: Asset, uses: tuple[str, ...]) -> dict[str, int]:
    """Records whose own tags (or withdrawn owners) do not permit ``uses``: {reason: count}. A tag that is
    not a use id stops here (UnknownUse naming the file and record), before any compute. A dataset that
    declares its crawl (``source: {crawl, url_field}``) has its sites' stored web signals re-checked too
    (the latest snapshots: consent can be withdrawn), with their reasons (``optout:...``)."""
    import duckdb

    con = duckdb.connect()
    verify_data(a)  # the records read are those registered
    crawl = (a.data or {}).get("source")
    if crawl:
        from charter.data import signals as sg

        sts, _ = sg.states(sg.snapshots_of(reg.store), sg.load_map(reg.taxonomy))
        sg.register_rules(con, sg.compile_rules(sts, uses, reg.taxonomy)[0], "now")
    pred = compile_predicate(uses, reg.taxonomy, sorted(reg.store.owner_withdrawals()), signals=bool(crawl))
    out: dict[str, int] = {}
    for path in files_of(a):
        extra = {"charter_url": (crawl["url_field"], "source.url_field in the dataset's charter")} if crawl else None
        shard = open_shard(con, Shard(a.id, Path(path), FORMATS[Path(path).suffix]), fields_of(a), extra=extra)
        if crawl:
            shard.view = sg.wrap_view(con, shard.view, "now")
        check_tags(con, shard, reg.taxonomy)  # the same validator as curate: an unknown tag stops training
        for r, n in con.execute(f"SELECT r, count(*) FROM (SELECT {pred.reason()} AS r FROM {shard.view}) WHERE r IS NOT NULL GROUP BY r").fetchall():
            out[r] = out.get(r, 0) + n
    return out


def blocks(tokenizer, docs: list[str], seq_len: int):
    """Concatenate documents (each ended by EOS) and cut into ``seq_len`` blocks (a LongTensor)."""
    import torch

    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for enc in tokenizer(docs, add_special_tokens=False)["input_ids"]:
        ids += enc + ([eos] if eos is not None else [])
    n = len(ids) // seq_len
    if n == 0:
        from charter.errors import InvalidInput

        raise InvalidInput(f"the data has {len(ids)} tokens, fewer than one block of {seq_len}", hint="use more data or a smaller --seq-len")
    return torch.tensor(ids[: n * seq_len], dtype=torch.long).view(n, seq_len)
