"""charter curate | withdraw-records"""

from __future__ import annotations

from pathlib import Path

from charter.cli.main import EXIT_DENIED, open_registry
from charter.cli.output import console, emit_json, progress_bars, escape
from charter.errors import UsageError


def register(sub, common) -> None:
    p = sub.add_parser("curate", parents=[common], help="keep the records usable for USE..., write Parquet and a manifest, register the result")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="registered datasets with data files")
    p.add_argument("--for", dest="uses", nargs="+", required=True, metavar="USE", help="the uses the curated data is for")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (new or empty, or an interrupted run's)")
    p.add_argument("--dedup", choices=["none", "exact", "near"], default="none")
    p.add_argument("--text-field", metavar="NAME", help="the text column (default: the charter's data.fields.text, else 'text')")
    p.add_argument("--min-chars", type=int, default=0, metavar="N", help="drop records with shorter text")
    p.add_argument("--max-records", type=int, metavar="N", help="keep at most N records (the first, in curation order)")
    p.add_argument("--on-error", choices=["stop", "skip"], default="stop", help="malformed JSON lines: stop, or skip and count them")
    p.add_argument("--name", help="name of the curated dataset (default: the --out folder's name)")
    p.add_argument("--version", dest="asset_version", metavar="V", help="its version (default: the config hash)")
    p.add_argument("--signals", action="store_true", help="exclude records whose site's web signals (charter signals import) deny the uses")
    p.add_argument("--signals-as-of", choices=["now", "crawl"], default="now",
                   help="now: the latest snapshot (default: consent can be withdrawn); crawl: the one in force when the record was fetched")
    p.add_argument("--url-field", default="url", metavar="NAME", help="the records' URL column (default: url)")
    p.add_argument("--fetched-at-field", default="fetched_at", metavar="NAME", help="the records' fetch time column, for --signals-as-of crawl")
    p.add_argument("--signals-map", type=Path, metavar="FILE", help="which uses each signal denies (default: the shipped map)")
    p.set_defaults(func=cmd_curate)
    p = sub.add_parser("withdraw-records", parents=[common], help="data contributors withdraw consent: their records are excluded from now on")
    p.add_argument("--owner", action="append", default=[], metavar="ID")
    p.add_argument("--owners-file", type=Path, metavar="FILE", help="one owner id per line")
    p.add_argument("--reason", required=True, metavar="TEXT")
    p.add_argument("--token", metavar="T", help="a consent token for the one --owner (`charter consent-token OWNER`): acts for that owner without registry rights")
    p.set_defaults(func=cmd_withdraw_records)


def cmd_curate(args) -> int:
    from charter.data.curate import CurateConfig, as_json, curate

    reg = open_registry(args, create=False)
    cfg = CurateConfig(tuple(args.sources), tuple(args.uses), args.out, args.dedup, args.text_field, args.min_chars,
                       args.max_records, args.on_error, args.name, args.asset_version, signals=args.signals,
                       signals_as_of=args.signals_as_of, url_field=args.url_field, fetched_at_field=args.fetched_at_field,
                       signals_map=args.signals_map)
    with progress_bars(quiet=args.json) as bars:
        r = curate(reg, cfg, bars)
    if args.json:
        emit_json(as_json(r))
    else:
        print_curation(r)
    everything_denied = r.manifest["input"] > 0 and all(not s["decision"]["allowed"] for s in r.manifest["sources"])
    return EXIT_DENIED if everything_denied else 0


def print_curation(r) -> None:
    m = r.manifest
    state = " (already done)" if r.already_done else (f" (resumed {r.resumed_shards} finished shards)" if r.resumed_shards else "")
    console.print(f"[green bold]curated[/] {r.asset.id} for {', '.join(m['uses'])}{state}: {m['output']:,} of {m['input']:,} records kept")
    for s in m["sources"]:
        verdict = "" if s["decision"]["allowed"] else "  [red]source denied[/]"
        if s.get("signals", "applied") != "applied":
            verdict += f"  (web signals {escape(s['signals'])})"
        console.print(f"  {s['asset']}: {s['selected']:,} of {s['input']:,} selected{verdict}")
    if m["excluded"]:
        console.print("  excluded:")
        for k, v in m["excluded"].items():
            console.print(f"    {v:>9,}  {escape(k)}")
    sig = m.get("signals")
    if sig:
        console.print(f"  web signals ({sig['as_of']}): {sig['domains_restricting']:,} of {sig['domains']:,} domains with signals restrict these uses"
                      + (f"; {sum(sig['problems'].values()):,} signals could not be read as written ({', '.join(f'{n} {k}' for k, n in sig['problems'].items())})"
                         if sig["problems"] else ""))
    console.print(f"  manifest: {r.manifest_path}")


def cmd_withdraw_records(args) -> int:
    from charter.data.owners import withdraw_records
    from charter.store.base import check_owner_withdrawal

    owners = list(args.owner)
    if args.owners_file:
        try:
            owners += [line.strip() for line in args.owners_file.read_text().splitlines() if line.strip() and not line.startswith("#")]
        except OSError as e:
            raise UsageError(f"cannot read {args.owners_file}: {e.strerror}", hint="pass a readable file with one owner id per line") from None
        except UnicodeDecodeError as e:
            raise UsageError(f"{args.owners_file} is not UTF-8 text (byte {e.start})", hint="pass a UTF-8 text file with one owner id per line") from None
    if not owners:
        raise UsageError("no owners given", hint="pass --owner ID (repeatable) or --owners-file FILE")
    check_owner_withdrawal(owners, args.reason)  # before the registry is even opened
    reg = open_registry(args, create=False)
    out = withdraw_records(reg, owners, args.reason, token=args.token)
    if args.json:
        emit_json(out)
        return 0
    who = ", ".join(out["owners"]) or "nobody new"
    console.print(f"[red bold]consent withdrawn[/] by {escape(who)}: {escape(out['reason'])}")
    if out["already_withdrawn"]:
        console.print(f"  already withdrawn before: {escape(', '.join(out['already_withdrawn']))}")
    for s in out["sources"]:
        console.print(f"  source {s['asset']}: {s['records']:,} records (excluded from every curation from now on)")
    for s in out["curated"]:
        console.print(f"  [yellow]curated[/] {s['asset']} contains {s['records']:,} of their records")
    for s in out["unreadable"]:
        console.print(f"  [yellow]not counted[/] {s['asset']}: {escape(s['error'])}")
    if out["affected"]:
        console.print("  built on those curated datasets:")
        for x in out["affected"]:
            console.print(f"    {'  ' * (x['depth'] - 1)}{x['id']}")
    return 0
