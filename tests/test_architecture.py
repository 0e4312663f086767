"""The folder tree is the architecture: lower layers never import higher ones, and the
decision path stays light (no heavy imports when `charter can` starts)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_layers_hold():
    exe = Path(sys.executable).parent / "lint-imports"
    r = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_decision_path_imports_no_heavy_modules():
    code = ("import sys; from charter.cli.main import build_parser; build_parser(); "
            "import charter.registry; heavy = [m for m in ('torch', 'transformers', 'fastapi', 'numpy', 'pandas') if m in sys.modules]; "
            "print(heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


# --- the storage layer: one contract per concern, one SQL dialect seam ---------------------------------

SRC = ROOT / "src" / "charter"


def _concerns():
    from charter.store.assets import AssetStore
    from charter.store.consent import ConsentStore
    from charter.store.events import EventStore
    from charter.store.gateway import GatewayStore
    from charter.store.identity import IdentityStore
    from charter.store.signals import SignalStore
    from charter.store.signatures import SignatureStore

    return [AssetStore, EventStore, ConsentStore, GatewayStore, IdentityStore, SignatureStore, SignalStore]


def test_store_is_the_composition_of_the_concerns():
    from charter.store.base import Store

    concerns = _concerns()
    assert list(Store.__bases__) == concerns
    # each abstract method belongs to one concern, and Store declares none of its own
    owners: dict[str, str] = {}
    for c in concerns:
        for name in getattr(c, "__abstractmethods__", ()):
            assert name not in owners, f"{name} is abstract in both {owners[name]} and {c.__name__}"
            owners[name] = c.__name__
    assert set(Store.__abstractmethods__) == set(owners)
    assert len(owners) >= 30


def test_every_backend_implements_every_concern():
    from charter.store.memory import MemoryStore
    from charter.store.postgres import PostgresStore
    from charter.store.sqlite import SQLiteStore

    for backend in (MemoryStore, SQLiteStore, PostgresStore):
        assert not backend.__abstractmethods__, f"{backend.__name__} leaves {sorted(backend.__abstractmethods__)} abstract"
        for c in _concerns():
            for name in getattr(c, "__abstractmethods__", ()):
                assert not getattr(getattr(backend, name), "__isabstractmethod__", False), f"{backend.__name__}.{name} ({c.__name__})"


def _imports(path: Path):
    import ast

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names]


def test_no_module_outside_the_store_imports_a_backends_private_names():
    backends = {f"charter.store.{m}" for m in ("sqlite", "postgres", "memory", "deferred", "dialect")}
    bad = [f"{p.relative_to(SRC)}: {m}.{n}" for p in SRC.rglob("*.py") if "store" not in p.relative_to(SRC).parts[:1]
           for m, names in _imports(p) if m in backends for n in names if n.startswith("_")]
    assert bad == []


def test_sql_text_is_escaped_in_one_module():
    # literals, identifiers and LIKE patterns: charter.core.sql; nowhere else hand-rolled
    needles = ("replace(\"'\", \"''\")", "replace('\"', '\"\"')", 'replace("%", "\\\\%")', "chr(39) * 2")
    bad = [f"{p.relative_to(SRC)}: {n}" for p in SRC.rglob("*.py") if p.relative_to(SRC) != Path("core/sql.py")
           for n in needles if n in p.read_text()]
    assert bad == []
