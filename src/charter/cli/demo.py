"""charter demo:  build a small ecosystem from the shipped example charters and walk through it.

Each step is a real `charter` command run against a fresh SQLite registry (or, with ``--registry URL``, an empty
PostgreSQL database: `./dev demo --postgres`), printed as the command a user would type, followed by its output.
The second organisation of the bundle and gateway steps keeps its own SQLite registry in the demo's folder.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from charter.core.files import resource
from charter.data.corpora import write_python_reference
from charter.data.synth import owners, write_community_corpus


EVAL_BENCHES = "crows-pairs,bbq,stereoset,winobias"
EVAL_LIMIT = 100
SCREENER_EXPECT = 3  # SmolLM2 on its --limit 100 BBQ sample (seed 0): amb_bias_score -0.04, 95% CI [-0.12, 0]: not within [-0.05, 0.05]
# (on the first 100 questions in file order, the sample before bbq/1.1, it was above 0.05 and the step was refused)


@dataclass(frozen=True)
class Step:
    title: str
    argv: tuple[str, ...]
    expect: int = 0  # exit code the step must return; the demo fails loudly otherwise
    registry: str | None = None  # another registry than the demo's (the second organisation's)


def steps(examples: Path, corpus: Path, owner: str, runs: Path) -> list[Step]:
    eco = str(examples / "ecosystem.yaml")
    sources = ("dataset/community-messages@1", "dataset/web-text@1", "dataset/public-domain-books@2")
    return [
        Step("Register the ecosystem: sources with their contributors' choices, models, adaptations, apps", ("add", eco)),
        Step("Lineage of the help-desk bot", ("trace", "application/helpdesk-bot@1", "--up")),
        Step("A permitted use: commercial fine-tuning of the support assistant for chat",
             ("can", "model/support-assistant@1", "fine-tuning", "conversational-agent", "commercial")),
        Step("A data contributor's choice: the emails' donors said no machine translation",
             ("can", "model/foundation-lm@1", "fine-tuning", "machine-translation", "commercial"), 3),
        Step("Function creep: adapting the photo tagger for face recognition",
             ("can", "model/photo-tagger@1", "fine-tuning", "face-recognition"), 3),
        Step("What the help-desk bot inherits", ("show", "application/helpdesk-bot@1")),
        Step("The forum withdraws its posts: everything built on them is affected",
             ("withdraw", "dataset/forum-posts@1", "--reason", "forum members revoked consent on 2026-11-01")),
        Step("The help-desk bot may no longer be served",
             ("can", "application/helpdesk-bot@1", "inference", "conversational-agent", "commercial"), 3),
        Step("Models still usable for commercial fine-tuning", ("ls", "--kind", "model", "--allowed", "fine-tuning,commercial")),
        *licence_steps(examples),
        # --- data creation and curation ---------------------------------------------------------
        Step("Register the community corpus: messages tagged with each contributor's consent, CC-BY-NC web text, public-domain books",
             ("add", str(corpus / "sources.yaml"))),
        Step("Curate it for commercial machine-translation fine-tuning (one compiled predicate; near-duplicates removed)",
             ("curate", *sources, "--for", "fine-tuning", "machine-translation", "commercial", "--out", str(corpus / "curated-mt"),
              "--dedup", "near", "--min-chars", "20", "--name", "community-mt", "--version", "1")),
        Step("The web-text sites' consent signals as served on 2026-11-01: robots.txt, TDMRep, response headers",
             ("signals", "import", str(corpus / "web-signals"), "--fetched-at", "2026-11-01")),
        Step("How much of the web text each signal refuses, per kind and per crawler", ("signals", "report", "dataset/web-text@1")),
        Step("Curate it again for research training, honouring the sites' signals: other records qualify, and each refusal is counted",
             ("curate", *sources, "--for", "training", "research", "--out", str(corpus / "curated-research"),
              "--dedup", "exact", "--name", "community-research", "--version", "1", "--signals")),
        Step("The curated dataset's charter: it inherits its sources' terms and records what was excluded and why",
             ("show", "dataset/community-mt@1")),
        Step("A translator is trained on the curated data and deployed", ("add", str(examples / "community-models.yaml"))),
        Step(f"Contributor {owner} withdraws consent: where are their records, and what was built on them?",
             ("withdraw-records", "--owner", owner, "--reason", "asked to be removed from the corpus")),
        Step("The next curation leaves their records out",
             ("curate", *sources, "--for", "fine-tuning", "machine-translation", "commercial", "--out", str(corpus / "curated-mt-2"),
              "--dedup", "near", "--min-chars", "20", "--name", "community-mt", "--version", "2")),
        # --- training and adaptation: a real foundation model ----------------------------------
        Step("Register the shipped foundation model, SmolLM2-135M-Instruct, with its declared lineage (converted once to safetensors)",
             ("model", "add", "smollm2")),
        Step("What SmolLM2 was built from", ("trace", "model/smollm2-135m-instruct-q4_1@1", "--up")),
        Step("Adapt SmolLM2 with LoRA for machine translation on the curated corpus (a few steps on the CPU)",
             ("adapt", "model/smollm2-135m-instruct-q4_1@1", "--data", "dataset/community-mt@2", "--for", "fine-tuning", "machine-translation",
              "commercial", "--out", str(runs / "smollm2-mt"), "--steps", "3", "--batch-size", "2", "--seq-len", "64",
              "--name", "smollm2-community-mt", "--version", "1")),
        Step("Function creep, refused before any compute: adapting the translator into a face recognizer",
             ("adapt", "model/smollm2-community-mt@1", "--data", "dataset/community-mt@2", "--for", "fine-tuning", "face-recognition",
              "commercial", "--out", str(runs / "creep"), "--steps", "3"), 3),
        Step("The translator at work (gated like everything else)",
             ("generate", "model/smollm2-community-mt@1", "--max-tokens", "16", "--for", "inference", "machine-translation", "commercial",
              "Translate to French: good morning, friends.")),
        *reference_steps(corpus, runs),
        *scratch_steps(runs),
        # --- evaluation: properties, and properties as policy -------------------------------------
        Step("A CV-screening application on SmolLM2 requires, for employment decisions, a BBQ ambiguous bias score whose whole 95% interval lies within ±0.05, on at least 100 items",
             ("add", str(examples / "cv-screener.yaml"))),
        Step("Not evaluated yet, so refused", ("can", "application/cv-screener@1", "inference", "employment-decisions", "commercial"), 3),
        Step(f"Evaluate SmolLM2 for bias ({EVAL_LIMIT} items per benchmark; evaluation is itself a gated use)",
             ("eval", "model/smollm2-135m-instruct-q4_1@1", "--bench", EVAL_BENCHES, "--limit", str(EVAL_LIMIT),
              "--out", str(runs / "eval-smollm2"))),
        Step("Evaluate its translation adaptation the same way",
             ("eval", "model/smollm2-community-mt@1", "--bench", EVAL_BENCHES, "--limit", str(EVAL_LIMIT),
              "--out", str(runs / "eval-smollm2-mt"))),
        Step("What the adaptation changed: paired tests on the same items, Holm-corrected (chart written next to the runs)",
             ("eval", "--compare", "model/smollm2-135m-instruct-q4_1@1", "model/smollm2-community-mt@1",
              "--chart", str(runs / "compare-smollm2-vs-mt"))),
        Step("The requirement is now judged on the measured score", ("can", "application/cv-screener@1", "inference", "employment-decisions",
                                                                       "commercial"), SCREENER_EXPECT),
        Step("The adaptation's specification card, generated from the registry", ("card", "model/smollm2-community-mt@1")),
        *bundle_steps(runs.parent),
    ]


ADAPTED = "model/smollm2-community-mt@1"


def bundle_steps(workdir: Path) -> list[Step]:
    """Charters that travel: the adapted model leaves as a signed bundle, is verified offline and imported
    by a second organisation's fresh registry, which refuses the creep use with the same reasons."""
    keys, trust = ("--keys", str(workdir / "keys")), ("--trust", str(workdir / "trust.json"))
    bundle = str(workdir / "smollm2-community-mt.bundle.json")
    other = str(workdir / "partner-registry.db")
    return [
        Step("The publisher makes a signing key (Ed25519; the private key stays in its own file, mode 600)", ("key", "new", "demo-publisher", *keys)),
        Step("It signs the adaptation's charter and, as this demo's only publisher, every charter upstream of it (DSSE envelopes, a Merkle chain along lineage)",
             ("sign", ADAPTED, "--key", "demo-publisher", "--upstream", *keys)),
        Step("One self-contained file: the charters, their signatures, withdrawals and restrictions, data and weights hashes",
             ("bundle", ADAPTED, "--out", bundle, "--key", "demo-publisher", *keys)),
        Step("A partner trusts the publisher's key (shown by `charter key show`) for its namespaces",
             ("trust", "add", str(workdir / "keys" / "demo-publisher.pub"), "--for", "*", "--name", "demo-publisher", *trust)),
        Step("... verifies the bundle offline: every signature and upstream digest holds", ("verify", bundle, *trust)),
        Step("... and imports it into its own, fresh registry", ("import", "bundle", bundle, *trust), registry=other),
        Step("The partner's registry refuses the creep use with the same reasons (its gateway decides by this rule)",
             ("can", ADAPTED, "fine-tuning", "face-recognition", "commercial"), 3, registry=other),
        Step("Where its charters came from, and how transparent the adaptation is (FMTI indicators the registry can answer)",
             ("transparency", ADAPTED), registry=other),
    ]


SMOLLM2 = "model/smollm2-135m-instruct-q4_1@1"
PYREF_STEPS = 30
HELDOUT_PROMPT = 'The "nonlocal" statement\n************************\n\n   nonlocal_stmt ::= "nonlocal" identifier ("," identifier)*\n\nThe "nonlocal" statement'


def reference_steps(corpus: Path, runs: Path) -> list[Step]:
    """An adaptation whose effect can be measured and seen: real text (the Python Language Reference that
    ships with Python), held-out loss before and after, and one held-out section continued by both."""
    gen = ("--max-tokens", "24", "--for", "inference", "question-answering", HELDOUT_PROMPT)
    return [
        Step("Real text for an adaptation that can be seen: the Python Language Reference shipped with Python (PSF-2.0), every 10th section held out",
             ("add", str(corpus / "python-reference" / "python-reference.yaml"))),
        Step(f"Adapt SmolLM2 on it (LoRA, {PYREF_STEPS} steps) and measure the held-out loss of the base and the adaptation",
             ("adapt", SMOLLM2, "--data", "dataset/python-reference@1", "--heldout", "dataset/python-reference-heldout@1",
              "--for", "fine-tuning", "question-answering", "--out", str(runs / "smollm2-python-reference"), "--steps", str(PYREF_STEPS),
              "--batch-size", "4", "--seq-len", "128", "--name", "smollm2-python-reference", "--version", "1")),
        Step("A held-out section (never trained on), continued by the base model", ("generate", SMOLLM2, *gen)),
        Step("... and by the adaptation", ("generate", "model/smollm2-python-reference@1", *gen)),
    ]


SCRATCH_STEPS, SCRATCH_EVERY, SCRATCH_BENCH, SCRATCH_LIMIT = 40, 10, "crows-pairs", 100


def scratch_steps(runs: Path) -> list[Step]:
    """Bias across training: a short pretraining run of the tiny config on the Python Language Reference keeps
    its weights every SCRATCH_EVERY steps; each snapshot is registered with the run's lineage, evaluated
    (a gated use, as the final model's would be) and charted against the training tokens it had seen."""
    run = str(runs / "scratch-python-reference")
    return [
        Step(f"Pretrain the tiny Llama config from scratch on the Python Language Reference ({SCRATCH_STEPS} steps), "
             f"keeping its weights every {SCRATCH_EVERY} steps",
             ("train", "--data", "dataset/python-reference@1", "--config", "tiny", "--steps", str(SCRATCH_STEPS),
              "--snapshot-every", str(SCRATCH_EVERY), "--out", run, "--name", "scratch-python-reference", "--version", "1")),
        Step("Evaluate every snapshot of the run: each is verified, registered as a model with the run's lineage, and evaluated",
             ("eval", "--sweep", run, "--bench", SCRATCH_BENCH, "--limit", str(SCRATCH_LIMIT), "--out", str(runs / "sweep-scratch"))),
        Step("The bias measure against the training tokens each snapshot had seen (measured values with 95% intervals; no curve fitted)",
             ("eval", "--trend", run, "--bench", SCRATCH_BENCH, "--chart", str(runs / f"trend-scratch-{SCRATCH_BENCH}"))),
    ]


LLAMA_FT = "model/yuchiwang02/llama-3.2-1b-delaysentinel@hf"
LLAMA3 = "model/meta-llama/meta-llama-3-8b-instruct@1"


def licence_steps(examples: Path) -> list[Step]:
    """Licences as people write them: a real Hub card of a Llama 3.2 fine-tune, decided clause by clause."""
    card = examples / "cards" / "llama-3.2-1b-delaysentinel.md"
    return [
        Step("Register Llama 3.2 1B Instruct, the dataset a fine-tune of it names, and Llama 3 8B, with the licences their cards state",
             ("add", str(examples / "llama-upstream.yaml"))),
        Step("Import a real Hugging Face model card: a Llama 3.2 fine-tune (license: llama3.2)",
             ("import", "hf-card", str(card), "--repo", "Yuchiwang02/Llama-3.2-1B-DelaySentinel")),
        Step("What the Llama 3.2 licence says, clause by clause", ("licenses", "show", "llama3.2")),
        Step("Commercial use is permitted under a condition only the user can attest (700 million monthly active users)",
             ("can", LLAMA_FT, "inference", "commercial"), 3),
        Step("Attested: allowed, and the decision records the condition it rests on",
             ("can", LLAMA_FT, "inference", "commercial", "--attest", "llama32-700m-mau")),
        Step("Military use: denied by the acceptable use policy, clause cited", ("can", LLAMA_FT, "inference", "military"), 3),
        Step("Its outputs may train other models (Llama 3.2 allows it, with the Llama name on the result)",
             ("can", LLAMA_FT, "synthetic-data-generation", "competing-model-development")),
        Step("Llama 3's licence does not: using its outputs to improve another language model is denied",
             ("can", LLAMA3, "synthetic-data-generation", "competing-model-development"), 3),
        Step("Its specification card: the conditions, and the duties owed upstream (\"Built with Llama\", the Llama name, the notice, the licence passed on)",
             ("card", LLAMA_FT)),
    ]


def run(workdir: Path, registry: str | None = None) -> int:
    from rich.rule import Rule

    from charter.cli.main import main
    from charter.cli.output import console

    workdir.mkdir(parents=True, exist_ok=True)
    if registry:
        _require_empty(registry)
        db, shown_db = registry, display_url(registry)
    else:
        db = shown_db = str(workdir / "registry.db")
        for suffix in ("", "-wal", "-shm", "-generations"):  # a fresh registry each run, so the demo is repeatable
            Path(db + suffix).unlink(missing_ok=True)
    examples = resource("examples")
    corpus = workdir / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)  # generated by the demo itself, so recreated each run
    write_community_corpus(corpus, messages=2000)
    write_python_reference(corpus / "python-reference")
    owner = next(o for o, (allow, deny) in owners(60, 7).items() if not allow and not deny)  # one who allowed everything
    console.print(Rule("[bold]charter demo[/]: what may each asset be used for?"))
    kind = "PostgreSQL" if db.startswith(("postgres://", "postgresql://")) else "SQLite"
    console.print(f"registry: {shown_db} ({kind}); community corpus generated in {corpus}\n")
    runs = workdir / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    shutil.rmtree(workdir / "keys", ignore_errors=True)  # the bundle steps: a fresh key, trust store and partner registry each run
    for stale in ("trust.json", "withdrawals.feed.json", *(f"partner-registry.db{x}" for x in ("", "-wal", "-shm", "-generations"))):
        (workdir / stale).unlink(missing_ok=True)
    for i, step in enumerate(steps(examples, corpus, owner, runs), 1):
        console.print(Rule(f"{i}. {step.title}", align="left", style="dim"))
        shown = [_short(a, workdir) for a in step.argv]
        console.print(f"[bold cyan]$ charter {shlex.join(shown)}[/]")
        code = main([*step.argv, "--registry", step.registry or db])
        if code != step.expect:
            console.print(f"[red]demo step {i} exited {code}, expected {step.expect}[/]")
            return 1
        console.print()
    from charter.cli.demo_swarm import run_swarm  # volunteers training together: hivemind peers on loopback

    code, nxt = run_swarm(workdir, db, first_step=i + 1)
    if code != 0:
        return 1
    from charter.cli.demo_gateway import run_gateway  # the gateway: a real server process, real HTTP

    if run_gateway(workdir, db, first_step=nxt) != 0:
        return 1
    console.print(Rule("done"))
    console.print(f"Explore further: charter show model/foundation-lm@1 --registry {shown_db}")
    return 0


def display_url(url: str) -> str:
    """A registry URL as printed: a PostgreSQL URL without its password."""
    if url.startswith(("postgres://", "postgresql://")):
        from charter.store.postgres import display_url as shown

        return shown(url)
    return url


def _require_empty(registry: str) -> None:
    """The demo registers its own assets: a registry given with --registry must hold none yet (no reset of someone's data)."""
    from charter.errors import UsageError
    from charter.registry import Registry

    reg = Registry.open(registry)
    try:
        n = reg.store.count()
    finally:
        reg.close()
    if n:
        raise UsageError(f"the demo needs an empty registry, and {display_url(registry)} holds {n} assets",
                         hint="pass --registry with a new, empty database (./dev demo --postgres starts a fresh server)")


def _short(arg: str, workdir: Path) -> str:
    """Show paths as a user would type them: relative to the demo folder, examples by name."""
    if (arg.endswith(".yaml") or arg.endswith(".md")) and "examples" in arg:
        return Path(arg).name
    return arg.replace(str(workdir) + "/", "") if str(workdir) in arg else arg


def register(sub, common) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on a fresh SQLite registry (or an empty one given with --registry)")
    p.add_argument("--dir", type=Path, default=Path("charter-demo"), help="working folder (default ./charter-demo; its registry is recreated)")
    p.add_argument("--registry", metavar="URL", help="run on this registry instead (e.g. postgresql://USER@HOST/DB): it must be empty; "
                   "the second organisation's registry stays SQLite in --dir")
    p.set_defaults(func=lambda args: run(args.dir, args.registry))
