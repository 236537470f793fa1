"""The generated CI run for real: its build job, then its test jobs, against a local registry.

The steps are taken from the generated ci.yml and run as a GitHub runner runs them (bash,
the job's and the step's env, $GITHUB_SHA, $GITHUB_OUTPUT, the `${{ }}` expressions they
use filled in from the secrets and the outputs of the steps and jobs before). What a runner
gives by an action is this machine's: `actions/checkout` is the project's clone,
`setup-python` and the build job's `pip install` are this venv (the tool and the project
installed), and there is no `setup-buildx-action` (no buildx plugin here): torchship builds
with the engine's built-in BuildKit and its inline registry cache.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from workflow_helpers import BIN, Project

from torchship.adapters.docker import Docker
from torchship.images.commit import cache_ref
from torchship.images.reference import Reference, commit_tag
from torchship.images.registry import resolve_digest
from torchship.matrix.records import load as load_run
from torchship.testing.engine import remove_images_of
from torchship.testing.standins import PinnedBases, Registry
from torchship.workflow import cigen

SECRETS = {"REGISTRY_USER": "ci-user", "REGISTRY_PASSWORD": "ci-password"}
EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def fill(text: str, known: Mapping[str, str]) -> str:
    """`${{ expr }}` replaced as the runner would; one it does not know fails the test."""
    def one(m: re.Match[str]) -> str:
        assert m.group(1) in known, f"the job uses ${{{{ {m.group(1)} }}}}, not emulated here"
        return known[m.group(1)]
    return EXPR.sub(one, text)


def run_job(job: Mapping[str, Any], *, cwd: Path, env: Mapping[str, str],
            known: Mapping[str, str], installed: str | None = None,
            edit: Callable[[str], str] = lambda script: script,
            ) -> tuple[dict[str, str], str]:
    """Each `run:` step of `job` without an `if:` (the e2e step runs on main only), in bash as
    a runner runs it; returns the steps' outputs ($GITHUB_OUTPUT, by step id) and the log.
    `installed`: the name of the job's install step, which this venv stands in for (it must
    not reinstall the tool and project from the test's copy into it). `edit`: what the test
    changes in a script (each use says why)."""
    job_env = {k: fill(str(v), known) for k, v in (job.get("env") or {}).items()}
    outputs: dict[str, str] = {}
    log = ""
    for step in job["steps"]:
        if "run" not in step or "if" in step:
            continue
        if step.get("name") == installed:
            assert "pip install" in step["run"], step
            continue
        out_file = cwd.parent / f"github-output-{step.get('id', 'step')}"
        out_file.write_text("")
        step_env = {k: fill(str(v), known) for k, v in (step.get("env") or {}).items()}
        res = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
             edit(fill(step["run"], known))],
            cwd=cwd, env={**env, **job_env, **step_env, "GITHUB_OUTPUT": str(out_file)},
            capture_output=True, text=True, timeout=1200, check=False)
        log += res.stdout + res.stderr
        assert res.returncode == 0, f"{step.get('name')}: {(res.stdout + res.stderr)[-3000:]}"
        for line in out_file.read_text().splitlines():
            key, _, value = line.partition("=")
            outputs[f"steps.{step.get('id')}.outputs.{key}"] = value
    return outputs, log


def forget(engine: Docker, image: str, pinned: Iterable[str]) -> None:
    """Every tag of `image` and these `image@sha256:` references gone from the engine."""
    remove_images_of(engine, image)
    for ref in pinned:
        engine("rmi", "-f", ref, check=False)


def test_ci_builds_once_and_tests_inside_the_digests_it_pushed(
        project: Project, standin_bases: PinnedBases, registry: Registry, engine: Docker,
        tmp_path: Path) -> None:
    image = f"{registry.host}/ci-test/p{abs(hash(tmp_path)) % 10**8}"
    env_name = standin_bases.env
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        "[tool.torchship]\n", f'[tool.torchship]\nimage = "{image}"\n', 1))
    project.set_pyproject_tool(
        f'\n[tool.torchship.bases.{env_name}]\nruntime = "{standin_bases.runtime}"\n'
        f'devel = "{standin_bases.devel}"\n')
    assert project.invoke("ci.generate").returncode == 0
    project.git("add", "-A")
    project.git("commit", "-q", "--no-verify", "-m", "CI builds into the local registry")
    head = project.git("rev-parse", "HEAD").strip()
    jobs = yaml.safe_load((project.path / cigen.GITHUB_CI).read_text())["jobs"]
    build, suites, smoke = (jobs[f"{j}-{env_name}"] for j in ("build", "suites", "smoke"))

    # A shim first on PATH records every docker command the test jobs give.
    shims = tmp_path / "shims"
    shims.mkdir()
    calls = tmp_path / "docker-calls.jsonl"
    shim = shims / "docker"
    shim.write_text("#!/usr/bin/env python3\nimport json, os, sys\n"
                    f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
                    f"os.execv({engine.exe!r}, [{engine.exe!r}, *sys.argv[1:]])\n")
    shim.chmod(0o755)
    runner = {**project.env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
              "DOCKER_CONFIG": str(tmp_path / "docker-config"), "GITHUB_SHA": head,
              "GITHUB_REPOSITORY_OWNER": "Team", "CI": "true"}
    secrets = {f"secrets.{k}": v for k, v in SECRETS.items()}
    outputs: dict[str, str] = {}
    try:
        # The build job: log in, build, push, its digests as step and job outputs.
        assert build["permissions"] == {"contents": "read", "packages": "write"}
        steps_out, _ = run_job(build, cwd=project.path, env=runner, known=secrets,
                               installed="Install")
        outputs.update({k: fill(v, steps_out) for k, v in build["outputs"].items()})
        pushed = {v: Reference.parse(outputs[v]) for v in ("devel", "runtime")}
        for variant, ref in pushed.items():
            assert ref.name == image, outputs
            assert ref.digest, outputs
            # The registry's digest of the commit tag is the one the job output.
            tag = f"{image}:{commit_tag(head, env_name, variant)}"
            assert resolve_digest(tag) == ref.digest, (tag, outputs)
            # The registry cache is there and holds BuildKit's cache records (inline).
            cache = json.loads(subprocess.run(
                ["skopeo", "inspect", "--tls-verify=false", "--config", "--raw",
                 f"docker://{cache_ref(image, env_name, variant)}"],
                capture_output=True, text=True, check=True).stdout)
            assert "moby.buildkit.cache.v0" in cache
        assert f"importing cache manifest from {cache_ref(image, env_name, 'devel')}" in (
            project.path / "results" / "images" / f"{env_name}-devel.build.log").read_text()
        built_ids = {v: engine("image", "inspect", "--format", "{{.Id}}", outputs[v]).stdout.strip()
                     for v in pushed}

        # A fresh runner: nothing of the image on the engine, so the test jobs pull by digest.
        forget(engine, image, outputs.values())
        assert not engine.image_exists(outputs["devel"])

        needs = {f"needs.build-{env_name}.outputs.{k}": v for k, v in outputs.items()}
        test_env = {**runner, "PATH": f"{shims}{os.pathsep}{runner['PATH']}"}
        logs = {}
        for job in (suites, smoke):
            assert job["needs"] == [f"build-{env_name}"]
            assert job["permissions"] in ({}, {"packages": "read"})  # read-only
            _, logs[job["name"]] = run_job(job, cwd=tmp_path, env=test_env,
                                           known={**secrets, **needs})
        assert "Session unit was successful" in logs[suites["name"]]
        # (the runtime image's pull, on stderr, is in the log too)
        [smoke_line] = [ln for ln in logs[smoke["name"]].splitlines() if ln.startswith("{")]
        assert json.loads(smoke_line)["ok"] is True

        # The test jobs ran exactly the pushed digests, and installed nothing.
        runs = [json.loads(line) for line in calls.read_text().splitlines()]
        ran = [args for args in runs if args[0] == "run"]
        assert [args[args.index("--network") + 2] for args in ran] == [
            outputs["devel"], outputs["runtime"]]
        for variant, ref in pushed.items():
            got = engine("image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}",
                         outputs[variant]).stdout.split(" ", 1)
            assert got[0] == built_ids[variant]
            assert f"{image}@{ref.digest}" in json.loads(got[1])
        steps = json.dumps([suites["steps"], smoke["steps"]])
        assert "pip" not in steps
        assert "uses" not in steps
        assert not [args for args in runs if "pip" in " ".join(args)]

        # A GPU shard job: the matrix in the build job's images, by digest, building nothing.
        # This machine has no GPU: --require-gpu becomes the unit suite only (for time).
        [shard_id] = [j for j in jobs if j.startswith(f"gpu-shard-{env_name}-")]
        shard = jobs[shard_id]
        assert shard["needs"] == [f"build-{env_name}"]
        forget(engine, image, outputs.values())
        _, shard_log = run_job(shard, cwd=project.path, env=runner, known={**secrets, **needs},
                               installed="Install",
                               edit=lambda script: script.replace("--require-gpu",
                                                                  "--suite unit"))
        # Nothing built: the engine holds the image's two digests only, no tag of it.
        assert set(engine("image", "ls", "--format", "{{.Tag}}", image).stdout.split()) == {
            "<none>"}, shard_log[-2000:]
        [record] = load_run(project.path / "shards" / shard_id).records
        assert record.image == outputs["devel"]
        assert record.image_digest == pushed["devel"].digest
        assert [(s.suite, s.status) for s in record.suites] == [("unit", "passed")]
        assert record.smoke is not None
        assert record.smoke.status == "passed"
    finally:
        forget(engine, image, outputs.values())
