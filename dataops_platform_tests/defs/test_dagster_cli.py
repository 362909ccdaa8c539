"""`dagster asset materialize --select '*'` on the demo home (one CLI smoke test).

`dagster asset materialize` takes no workspace file in Dagster 1.13, so the test reads the module
and attribute out of workspace.yaml and passes them: the same code location `dagster dev` loads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_dagster_cli_materializes_everything(demo_copy) -> None:  # noqa: ANN001
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent))
    assert dagster, "the dagster CLI is installed with the package"
    location = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    env = os.environ | {"DATAOPS_HOME": str(demo_copy.home_dir), "DAGSTER_HOME": str(demo_copy.dagster_home)}
    result = subprocess.run(
        [dagster, "asset", "materialize", "--select", "*", "-m", location["module_name"], "-a", location["attribute"]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RUN_SUCCESS" in result.stderr + result.stdout
    assert (demo_copy.artifacts_dir / "reports" / "p8_test_results.json").exists()
