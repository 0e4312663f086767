"""The deployment gateway: an OpenAI-compatible HTTP API that decides every request against the
model's full charter, for the application whose key made it, and records it in a hash-chained
audit log.

    apps.py    applications: registered assets ``deployed-from`` a model, with declared uses
    keys.py    API keys (stored hashed) and the cached key -> application lookup
    gate.py    authenticate, narrow the uses, decide (no model work; never imports torch)
    audit.py   audit records, the chain's verification, the usage summary
    limits.py  per-key token-bucket rate limit, concurrency cap
    engine.py  loading registered models and generating (streaming included)
    app.py     the FastAPI application (OpenAI-compatible routes and error bodies)
    server.py  running it with uvicorn (graceful shutdown), in the foreground or a thread
    osnames.py the audit writer thread and the model process named as the OS shows them
    demo.py    the gateway part of `charter demo`
"""
