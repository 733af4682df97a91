"""The CI workflows in .github/workflows: schema, security, and the project's own rules.

Offline checks only: ``check-jsonschema --builtin-schema vendor.github-workflows`` (the schema
ships inside the package) and ``zizmor --offline`` (its online audits need the GitHub API), both
from the ``test`` extra. The rest reads the YAML: least-privilege permissions on every job,
every action pinned to a full commit, credentials never persisted, the commands README's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: install the test extra (pip install -e '.[docs,test]')",
            pytrace=False,
        )
    return str(path)


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True
    return {("on" if key is True else key): value for key, value in data.items()}


def _steps():
    for path in WORKFLOWS:
        for job_name, job in _load(path)["jobs"].items():
            for step in job.get("steps", []):
                yield path.name, job_name, step


def test_both_workflows_exist():
    assert {path.name for path in WORKFLOWS} == {"tests.yml", "site.yml"}


def test_workflows_match_the_github_workflow_schema():
    result = subprocess.run(
        [
            _tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing():
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", str(ROOT / ".github" / "workflows")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_tests_run_on_every_pull_request_through_ci_run():
    workflow = _load(ROOT / ".github" / "workflows" / "tests.yml")
    assert "pull_request" in workflow["on"]
    commands = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert ".ci/run" in commands


def test_site_deploys_from_main_preferring_the_gpu_artifacts():
    workflow = _load(ROOT / ".github" / "workflows" / "site.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert jobs["generated-gpu"]["runs-on"] == ["self-hosted", "gpu"]
    assert set(jobs["build"]["needs"]) == {"generated-cpu", "generated-gpu"}
    pick = next(step for step in jobs["build"]["steps"] if step.get("id") == "pick")
    assert "needs.generated-gpu.result" in pick["env"]["GPU_RESULT"]
    assert "profile=gpu" in pick["run"]
    uses = [step.get("uses", "") for step in jobs["deploy"]["steps"]]
    assert any(use.startswith("actions/deploy-pages@") for use in uses)
    for name in ("generated-cpu", "generated-gpu"):
        steps = jobs[name]["steps"]
        key = next(step for step in steps if step.get("id") == "key")
        assert "python -m sitetools.pipeline --cache-key" in key["run"]
        cached = [step for step in steps if step.get("uses", "").startswith("actions/cache/")]
        assert {step["with"]["path"] for step in cached} == {"docs/generated"}
        assert all("steps.key.outputs.digest" in step["with"]["key"] for step in cached)


def test_every_job_declares_least_privilege_permissions():
    for path in WORKFLOWS:
        workflow = _load(path)
        assert workflow["permissions"] == {}, f"{path.name}: no default permissions at the top"
        for name, job in workflow["jobs"].items():
            permissions = job.get("permissions")
            assert isinstance(permissions, dict), f"{path.name}:{name} declares no permissions"
            writes = {scope for scope, level in permissions.items() if level == "write"}
            allowed = {"pages", "id-token"} if name == "deploy" else set()
            assert writes <= allowed, f"{path.name}:{name} writes {writes - allowed}"


def test_every_action_is_pinned_to_a_full_commit_with_its_version():
    text = "\n".join(path.read_text() for path in WORKFLOWS)
    uses = re.findall(r"uses:\s*(\S+)(.*)", text)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), (
            f"not pinned by commit: {action}"
        )
        assert re.search(r"#\s*v\d+(\.\d+)*", comment), f"no version comment: {action}"


def test_checkouts_do_not_persist_credentials():
    checkouts = [
        step for _, _, step in _steps() if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)
