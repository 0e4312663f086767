"""CrowS-Pairs throughput: Charter's evaluation next to lm-evaluation-harness 0.4.13, same model, same data.

Both contenders score the same pairs of the vendored CrowS-Pairs CSV with the same model object in
memory (SmolLM2-135M-Instruct, the safetensors folder of charter.models.smollm2.converted(), float32;
with --tiny a tiny random Llama) and the same batch size, offline:

  charter  charter.evals.run.evaluate(HFModel(model, tokenizer, batch_size=B), ["crows-pairs"], limit)
           (what `charter eval --bench crows-pairs` runs): read the CSV, tokenize each distinct
           sentence once, score (sequences sharing a prefix packed into token-trie rows), metrics
           with 1,000-resample bootstrap intervals per bias type.
  harness  lm_eval.simple_evaluate(HFLM(pretrained=model, tokenizer=tokenizer, batch_size=B),
           tasks=["charter_crows_pairs"]) with the local task file bench/harness_tasks/ (the official
           crows_pairs_english task's choices and process_results over the same CSV; a TaskManager
           with include_defaults=False, so the harness's index of its ~10,000 task files is not
           timed), samples= the same pair ids, log_samples=True.

Rounds alternate after an untimed warm-up, in ABBA order (charter, harness, harness, charter, ...);
each timing is the whole call. Reported: medians of pairs/s, the ratio of the medians, process CPU
time per pair, the difference between the two contenders' metric values (must be under 1e-4) and
between their per-sentence log-likelihoods (max, median, how many reach 1e-4: float32 rounding,
which moves the harness's own value for a sentence as much when the other sentences in its batch
pad it to another length; see bench/README.md).
Target: charter's throughput at least 1.5x the harness's, with equal metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
TARGET = 1.5
TOL = 1e-4
TASK = "charter_crows_pairs"


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=500, help="pairs (a stratified subset; default 500, ~5 min; 1508 = all)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2, help="timed runs of each contender, alternating (ABBA)")
    ap.add_argument("--bbq", type=int, default=24, help="also BBQ on this many questions (a stratified subset), one round each (0: none)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's, one per core)")
    ap.add_argument("--tiny", action="store_true", help="a tiny random Llama instead of SmolLM2 (a quick run)")
    ap.add_argument("--model-folder", type=Path, help="another Hugging Face model folder")
    return ap.parse_args()


def task_dir(d: Path | None = None) -> Path:
    """The local harness task files copied into ``d`` (default: a new temporary folder), their data paths
    made absolute (tests/evals/test_exactness.py uses them too)."""
    d = d or Path(tempfile.mkdtemp(prefix="charter-harness-"))
    src = HERE / "harness_tasks"
    for f in src.iterdir():
        if f.suffix == ".yaml":
            text = re.sub(r"(?m)^(\s+(?:- |test: ))(src/charter/evals/resources/\S+)$", lambda m: m.group(1) + str(ROOT / m.group(2)), f.read_text())
            (d / f.name).write_text(text)
        elif f.suffix == ".py":
            shutil.copy(f, d / f.name)
    return d


def run_charter(model, tok, bs: int, limit: int):
    from charter.evals.run import evaluate
    from charter.models.hf import HFModel

    res = evaluate(HFModel(model, tok, "bench", batch_size=bs), ["crows-pairs"], limit=limit)["crows-pairs"]
    lls = {r["id"]: (r["ll_more"], r["ll_less"]) for r in res["rows"]}
    return lls, {m: v["value"] for m, v in res["metrics"].items()}


def run_harness(model, tok, bs: int, ids: list[int], tasks: Path):
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    h = HFLM(pretrained=model, tokenizer=tok, batch_size=bs)
    res = lm_eval.simple_evaluate(model=h, tasks=[TASK], task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
                                  samples={TASK: ids}, log_samples=True, verbosity="ERROR")
    lls = {s["doc_id"]: tuple(float(r[0][0]) for r in s["resps"]) for s in res["samples"][TASK]}
    got = res["results"][TASK]
    return lls, {m: got[f"{m},none"] for m in ("likelihood_diff", "pct_stereotype")}


def run_charter_bbq(model, tok, bs: int, limit: int):
    from charter.evals.run import evaluate
    from charter.models.hf import HFModel

    res = evaluate(HFModel(model, tok, "bench", batch_size=bs), ["bbq"], limit=limit)["bbq"]
    return {r["index"]: r["lls"] for r in res["rows"]}, {m: v["value"] for m, v in res["metrics"].items()}


def run_harness_bbq(model, tok, bs: int, ids: list[int], tasks: Path):
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    h = HFLM(pretrained=model, tokenizer=tok, batch_size=bs)
    res = lm_eval.simple_evaluate(model=h, tasks=["charter_bbq"], task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
                                  samples={"charter_bbq": ids}, log_samples=True, verbosity="ERROR")
    lls = {s["doc_id"]: [float(r[0][0]) for r in s["resps"]] for s in res["samples"]["charter_bbq"]}
    got = res["results"]["charter_bbq"]
    return lls, {m: got[f"{m},none"] for m in ("acc", "accuracy_amb", "accuracy_disamb", "amb_bias_score", "disamb_bias_score")}


def bbq_round(model, tok, args, tasks: Path) -> dict:
    """BBQ: one timed call each (charter first), the same questions; 12 requests per question sharing its prompt."""
    from charter.evals import bbq

    ids = [it["index"] for it in bbq.load(args.bbq)]
    (c_lls, c_m), c_wall, _ = timed(run_charter_bbq, model, tok, args.batch_size, args.bbq)
    (h_lls, h_m), h_wall, _ = timed(run_harness_bbq, model, tok, args.batch_size, ids, tasks)
    diff = max(abs(a - b) for i in ids for a, b in zip(c_lls[i], h_lls[i]))
    m_diff = max(abs(c_m[m] - h_m[m]) for m in h_m if c_m[m] is not None)
    n = len(ids)
    print(f"BBQ {n} questions ({12 * n} requests): charter {c_wall:.1f} s ({n / c_wall:.2f} q/s), lm-eval {h_wall:.1f} s "
          f"({n / h_wall:.2f} q/s) = {h_wall / c_wall:.2f}x; max |delta| metrics {m_diff:.1e}, per-choice {diff:.1e}", flush=True)
    return {"questions": n, "charter_s": c_wall, "harness_s": h_wall, "ratio": h_wall / c_wall, "metrics": {"charter": c_m, "harness": h_m},
            "max_abs_diff": {"metrics": m_diff, "loglikelihood": diff}}


def timed(fn, *a):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*a)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    args = parse()
    import logging

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    import lm_eval

    from charter.evals import crows_pairs
    from charter.models.hf import load

    if args.tiny:
        from charter.models.tiny import make_tiny

        folder = make_tiny(Path(tempfile.mkdtemp(prefix="charter-tiny-")) / "tiny",
                           texts=[s for it in crows_pairs.load(300) for s in (it["sent_more"], it["sent_less"])], vocab=512)
    elif args.model_folder:
        folder = args.model_folder
    else:
        from charter.models.smollm2 import converted

        folder = converted(progress=lambda m: print(m, file=sys.stderr))
    model, tok = load(folder)
    ids = [it["id"] for it in crows_pairs.load(args.limit)]
    n = len(ids)
    tasks = task_dir()
    print(f"CrowS-Pairs: {n} pairs, batch size {args.batch_size}, model {folder}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), transformers {transformers.__version__}, lm-eval {lm_eval.__version__}", flush=True)

    # warm-up (untimed): a few pairs each
    warm = crows_pairs.load(16)
    run_charter(model, tok, args.batch_size, 16)
    run_harness(model, tok, args.batch_size, [it["id"] for it in warm], tasks)

    rounds = {"charter": [], "harness": []}
    results = {}
    order = []
    for r in range(args.rounds):
        order += ["charter", "harness"] if r % 2 == 0 else ["harness", "charter"]
    for who in order:
        if who == "charter":
            out, wall, cpu = timed(run_charter, model, tok, args.batch_size, args.limit)
        else:
            out, wall, cpu = timed(run_harness, model, tok, args.batch_size, ids, tasks)
        rounds[who].append({"wall_s": wall, "cpu_s": cpu, "pairs_per_s": n / wall})
        results[who] = out
        print(f"  {who:8s} {wall:7.1f} s  {n / wall:6.2f} pairs/s  cpu {cpu:7.1f} s", flush=True)

    (c_lls, c_m), (h_lls, h_m) = results["charter"], results["harness"]
    assert sorted(c_lls) == sorted(h_lls) == sorted(ids), "the contenders scored different pairs"
    diffs = [abs(a - b) for i in ids for a, b in zip(c_lls[i], h_lls[i])]
    ll_diff, over = max(diffs), sum(d >= TOL for d in diffs)
    m_diff = {m: abs(c_m[m] - h_m[m]) for m in h_m}
    med = {w: statistics.median(x["pairs_per_s"] for x in v) for w, v in rounds.items()}
    cpu = {w: statistics.median(x["cpu_s"] for x in v) / n for w, v in rounds.items()}
    ratio = med["charter"] / med["harness"]
    equal = all(d < TOL for d in m_diff.values())

    print()
    print(f"{'':10s} {'pairs/s':>9s} {'cpu ms/pair':>12s} {'likelihood_diff':>16s} {'pct_stereotype':>15s}")
    for w in ("charter", "harness"):
        m = c_m if w == "charter" else h_m
        print(f"{w:10s} {med[w]:9.2f} {cpu[w] * 1000:12.1f} {m['likelihood_diff']:16.6f} {m['pct_stereotype']:15.6f}")
    print(f"max |delta| metrics {', '.join(f'{k} {v:.2e}' for k, v in m_diff.items())}; per-sentence log-likelihood: max {ll_diff:.2e}, "
          f"median {statistics.median(diffs):.1e}, {over} of {len(diffs)} sentences >= {TOL}")
    ok = ratio >= TARGET and equal
    print(f"RESULT eval crows-pairs ({n} pairs, batch {args.batch_size}): charter {med['charter']:.2f} pairs/s vs lm-eval "
          f"{med['harness']:.2f} pairs/s = {ratio:.2f}x (target >= {TARGET}x; cpu {cpu['harness'] / cpu['charter']:.2f}x), "
          f"metrics {'equal' if equal else 'DIFFERENT'} (max |delta| {max(m_diff.values()):.1e}, < {TOL}; sentences max {ll_diff:.1e}) "
          f"{'PASS' if ok else 'FAIL'}")

    bbq_result = bbq_round(model, tok, args, tasks) if args.bbq else None

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "eval.json"
    path.write_text(json.dumps({
        "benchmark": "eval", "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(), "transformers": transformers.__version__,
                    "lm_eval": lm_eval.__version__, "load": os.getloadavg()},
        "model": str(folder), "pairs": n, "batch_size": args.batch_size, "order": order, "rounds": rounds,
        "median_pairs_per_s": med, "cpu_s_per_pair": cpu, "ratio": ratio, "target": TARGET,
        "metrics": {"charter": c_m, "harness": h_m}, "max_abs_diff": {"loglikelihood": ll_diff, **m_diff},
        "sentences_over_tol": over, "sentences": len(diffs), "pass": ok, "bbq": bbq_result}, indent=2))
    print(f"wrote {path}")
    shutil.rmtree(tasks, ignore_errors=True)


if __name__ == "__main__":
    main()
