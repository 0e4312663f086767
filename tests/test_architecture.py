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
