"""The last part of `charter demo`: the gateway. A real `charter serve` process on 127.0.0.1 (a free
port), real HTTP requests, a withdrawal upstream while it runs, a graceful shutdown, the audit log.

It serves the translator that the demo adapted from SmolLM2 (model/smollm2-community-mt@1): a
translation application's request is served; the same model asked by an application declared for
face recognition is refused with its chain; after a withdrawal upstream the next request gets 451;
the audit log then verifies. Then the partner organisation that imported the translator's signed bundle
(demo.bundle_steps) serves it behind its own gateway: the creep use is refused there too, and the
publisher's withdrawal reaches that gateway as a signed feed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from charter.cli.demo_steps import Failed, Steps

MODEL = "model/smollm2-community-mt@1"
TRANSLATOR, FACES = "community-translate-api", "face-finder"
UPSTREAM = "dataset/community-messages@1"  # curated into dataset/community-mt@2, on which the translator was trained


def run_gateway(workdir: Path, db: str, first_step: int) -> int:
    from charter.cli.output import console
    from charter.serve.server import free_port

    steps = Steps(workdir, db, first_step)
    title, charter = steps.title, steps.charter
    since = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()  # the partner's feed: what happens from here

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = workdir / "gateway.log"
    server = None
    try:
        title("Deploy the translator behind the gateway: an application declared for translation")
        charter("app", "add", TRANSLATOR, "--model", MODEL, "--for", "machine-translation", "commercial")
        console.print()
        title("Another application wants the same model for face recognition")
        charter("app", "add", FACES, "--model", MODEL, "--for", "face-recognition", "commercial")
        console.print()
        title("Each application gets a key (printed once, stored hashed)")
        keys = {}
        for app in (TRANSLATOR, FACES):
            keys[app] = json.loads(charter("app", "key", app, "--json", capture=True))["key"]
            console.print(f'{{"key": "{keys[app][:16]}…"}}')
        console.print()

        title("Start the gateway: an OpenAI-compatible API (a real server process)")
        server = _start(db, port, log, workdir)
        def post(app: str, expect: int) -> dict:
            return _post(base, keys[app], app, expect)

        title("The translation application's request is served")
        out = post(TRANSLATOR, 200)
        u = out["usage"]
        console.print(f"[green bold]HTTP 200[/] {out['choices'][0]['message']['content']!r}")
        console.print(f"  usage: {u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens\n")

        title("The same model, asked by the face-recognition application: refused, with its chain")
        _print_refusal(console, 403, post(FACES, 403)["error"])

        title("Upstream, the community withdraws its messages (the gateway keeps running)")
        charter("withdraw", UPSTREAM, "--reason", "the community revoked consent for its messages")
        console.print()
        title("The translator's next request: 451, with the withdrawal's reason and chain")
        _print_refusal(console, 451, post(TRANSLATOR, 451)["error"])

        title("Stop the gateway: SIGTERM, requests in progress finish first")
        _stop(server)
        server = None

        title("What the gateway recorded: every request, per application, use and decision")
        charter("audit")
        console.print()
        title("The audit log is hash-chained: any change to a past entry is detected")
        charter("audit", "verify")
        console.print()
        return _partner(steps, since)
    except Failed:
        return 1
    finally:
        _kill(server)


PARTNER_APPS = {TRANSLATOR: "machine-translation", FACES: "face-recognition"}


def _partner(steps: Steps, since: str) -> int:
    """The organisation that imported the translator's signed bundle (demo.bundle_steps) serves it behind its
    own gateway, which refuses the creep use; the publisher's withdrawal reaches it as a signed feed."""
    from charter.cli.output import console
    from charter.serve.server import free_port

    title, charter, workdir = steps.title, steps.charter, steps.workdir
    partner, keys_dir, trust = workdir / "partner-registry.db", str(workdir / "keys"), str(workdir / "trust.json")
    feed = str(workdir / "withdrawals.feed.json")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = None
    try:
        title("The partner deploys the imported translator: an application for translation, one for face recognition, a key each")
        keys = {}
        for app, use in PARTNER_APPS.items():
            charter("app", "add", app, "--model", MODEL, "--for", use, "commercial", registry=partner)
            keys[app] = json.loads(charter("app", "key", app, "--json", capture=True, registry=partner))["key"]
        console.print()
        title("The partner starts its own gateway on its own registry")
        server = _start(partner, port, workdir / "partner-gateway.log", workdir)
        title("Its translation application is served: the partner has not heard of the withdrawal yet")
        out = _post(base, keys[TRANSLATOR], TRANSLATOR, 200)
        console.print(f"[green bold]HTTP 200[/] {out['choices'][0]['message']['content']!r}\n")
        title("Function creep at the partner: its gateway refuses face recognition with the publisher's terms and their chain")
        _print_refusal(console, 403, _post(base, keys[FACES], FACES, 403)["error"])
        title("The publisher exports its withdrawals and restrictions since the gateway part began, as a signed feed")
        charter("feed", "--since", since, "--key", "demo-publisher", "--keys", keys_dir, "--out", feed)
        console.print()
        title("The partner verifies the feed against its trust store and applies it (its gateway keeps running)")
        charter("import", "feed", feed, "--trust", trust, registry=partner)
        console.print()
        title("The partner's next translation request: 451, the withdrawal upstream has reached its gateway")
        _print_refusal(console, 451, _post(base, keys[TRANSLATOR], TRANSLATOR, 451)["error"])
        title("Stop the partner's gateway")
        _stop(server)
        server = None
        return 0
    except Failed:
        return 1
    finally:
        _kill(server)


PROMPTS = {TRANSLATOR: "Translate to French: good morning, friends.", FACES: "Who is the man with the grey beard in photo 1174?"}


def _start(db: str, port: int, log: Path, workdir: Path) -> subprocess.Popen:
    """`charter serve MODEL` on ``db`` as its own process; returns once /health answers."""
    import httpx

    from charter.cli.demo_steps import short
    from charter.cli.output import console

    argv = ["serve", MODEL, "--port", str(port), "--log-level", "warning"]
    shown = shlex.join(argv) + ("" if Path(db).name == "registry.db" else f" --registry {short(str(db), workdir)}")
    console.print(f"[bold cyan]$ charter {shown} &[/]   [dim](log: {log.name})[/]")
    with open(log, "w") as lf:
        server = subprocess.Popen([sys.executable, "-c", "import sys; from charter.cli.main import main; sys.exit(main())",
                                   *argv, "--registry", str(db)], stdout=lf, stderr=subprocess.STDOUT, env=os.environ.copy())
    base, t0 = f"http://127.0.0.1:{port}", time.monotonic()
    while True:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() - t0 > 180:
            console.print(f"[red]the gateway did not start[/]; see {log}")
            _kill(server)
            raise Failed
        time.sleep(0.25)
    console.print(f"gateway up at {base}/v1 after {time.monotonic() - t0:.1f} s, serving {MODEL}\n")
    return server


def _post(base: str, key: str, app: str, expect: int) -> dict:
    import httpx

    from charter.cli.output import console

    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPTS[app]}], "max_tokens": 24, "temperature": 0}
    shown = json.dumps(body, ensure_ascii=False)
    console.print(f'[bold cyan]$ curl -s {base}/v1/chat/completions -H "Authorization: Bearer $KEY_{app.upper().replace("-", "_")}" '
                  f"-H 'Content-Type: application/json' -d '{shown}'[/]")
    r = httpx.post(base + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    if r.status_code != expect:
        console.print(f"[red]HTTP {r.status_code}, expected {expect}: {r.text[:500]}[/]")
        raise Failed
    return r.json()


def _stop(server: subprocess.Popen) -> None:
    from charter.cli.output import console

    console.print(f"[bold cyan]$ kill -TERM {server.pid}[/]")
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=60)
    console.print(f"gateway stopped (exit {code})\n")
    if code != 0:
        raise Failed


def _kill(server: subprocess.Popen | None) -> None:
    if server is not None and server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()



def _print_refusal(console, status: int, err: dict) -> None:
    from rich.markup import escape

    from charter.policy.decide import Reason
    from charter.policy.explain import reason_text

    console.print(f"[red bold]HTTP {status}[/] {err['type']} ({err['code']}): {escape(err['message'])}")
    for r in err["charter"]["reasons"]:
        console.print(f"  - {escape(reason_text(Reason.from_json(r)))}")
    console.print()
