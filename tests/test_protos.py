"""The committed gRPC code is exactly what ``scripts/gen_protos.sh`` makes from ``protos/``."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ("dispatch_pb2.py", "dispatch_pb2.pyi", "dispatch_pb2_grpc.py")


def test_generated_code_is_current(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["bash", str(ROOT / "scripts" / "gen_protos.sh"), str(tmp_path)], check=True, env=env)
    committed = ROOT / "src" / "dispatch" / "v1"
    stale = [
        name
        for name in GENERATED
        if not filecmp.cmp(tmp_path / "dispatch" / "v1" / name, committed / name, shallow=False)
    ]
    assert not stale, f"regenerate with scripts/gen_protos.sh: {stale} differ from protos/"
