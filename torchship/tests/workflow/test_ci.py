"""CI files generated from [tool.torchship], validated by real schema validators."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_helpers import BIN, DIGEST, LOCAL_BASES, Project, bases_toml

from torchship.testing.gitrepo import snapshot
from torchship.testing.template import drop_bases
from torchship.workflow import cigen

SCHEMAS = {cigen.GITHUB_CI: "vendor.github-workflows",
           cigen.GITHUB_RELEASE: "vendor.github-workflows",
           cigen.GITHUB_BASES: "vendor.github-workflows",
           cigen.GITLAB_CI: "vendor.gitlab-ci"}


def validate(root: Path) -> None:
    """check-jsonschema with its vendored GitHub Actions and GitLab CI schemas."""
    for rel, schema in SCHEMAS.items():
        res = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema,
                              str(root / rel)], capture_output=True, text=True, check=False)
        assert res.returncode == 0, f"{rel}: {res.stdout}{res.stderr}"


def load(root: Path) -> dict[str, Any]:
    return {rel: yaml.safe_load((root / rel).read_text()) for rel in SCHEMAS}


BRANCHES = """
[tool.torchship.ci.gpus]
a100 = "linux, a100"
h100 = "linux, h100"

[tool.torchship.ci.branches.main]
envs = ["*"]
gpus = ["*"]

[tool.torchship.ci.branches."feature/model-*"]
envs = ["*"]
gpus = ["a100"]

[tool.torchship.ci.branches."feature/*"]
envs = ["default"]
"""


@pytest.fixture
def pinned(project: Project) -> Project:
    """Two pinned environments, two GPU kinds and which branches run what, in pyproject.toml."""
    envs = {k: LOCAL_BASES[k] for k in ("cu121", "cu124")}
    project.set_pyproject_tool(bases_toml(envs, prefix="tool.torchship.") + BRANCHES)
    return project


def zizmor(folder: Path, *, persona: str = "regular") -> list[dict[str, Any]]:
    """zizmor's findings (offline, the default persona unless named) on the workflows in
    `folder`."""
    res = subprocess.run([str(BIN / "zizmor"), "--offline", "--persona", persona, "--format",
                          "json", str(folder)],
                         capture_output=True, text=True, check=False)
    assert res.returncode in (0, 10, 11, 12, 13, 14), res.stderr  # 1x: findings (by severity)
    findings: list[dict[str, Any]] = json.loads(res.stdout)
    return findings


def test_the_templates_own_files_are_up_to_date_and_valid(template: Path) -> None:
    res = subprocess.run([str(BIN / "invoke"), "ci.generate", "--check"], cwd=template,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    validate(template)


def test_suites_run_in_each_pinned_image_on_the_branches_configured(pinned: Project) -> None:
    res = pinned.invoke("ci.generate")
    assert res.returncode == 0, res.stderr
    # The files that name the environments change (the template's pin cu128, not these).
    written = res.stdout.splitlines()
    assert f"wrote {cigen.GITHUB_CI}" in written
    assert f"wrote {cigen.GITLAB_CI}" in written
    assert set(written) <= {f"{said} {rel}" for rel in SCHEMAS for said in ("wrote", "up to date:")}
    assert len(written) == len(SCHEMAS)
    validate(pinned.path)
    files = load(pinned.path)

    ci = files[cigen.GITHUB_CI]
    jobs = ci["jobs"]
    assert ci["on"]["push"]["branches"] == ["**"]
    # Only lint and types on the host: no host unit/e2e job once environments are pinned;
    # per environment a build job, and test jobs in what it built.
    assert [j for j in jobs if not j.startswith("gpu")] == [
        "lint", "build-cu121", "suites-cu121", "smoke-cu121",
        "build-cu124", "suites-cu124", "smoke-cu124"]
    assert "if" not in jobs["lint"]
    for env in ("cu121", "cu124"):
        build, suites, smoke = (jobs[f"{j}-{env}"] for j in ("build", "suites", "smoke"))
        # The build job: the commit's images, GHCR under the repository's owner (the image
        # names no registry), the digests its outputs.
        assert build["outputs"] == {"devel": "${{ steps.build.outputs.devel }}",
                                    "runtime": "${{ steps.build.outputs.runtime }}"}
        [step] = [s for s in build["steps"] if s.get("id") == "build"]
        assert (f'torchship ci build --env {env} --commit "$GITHUB_SHA" --image '
                '"ghcr.io/$owner/mlproject" --output "$GITHUB_OUTPUT"') in step["run"]
        assert "$GITHUB_REPOSITORY_OWNER" in step["run"]
        assert any(s.get("uses", "").startswith("docker/setup-buildx-action@")
                   for s in build["steps"])
        # The test jobs: after the build, in its images by digest, nothing installed, no
        # checkout (the source is the image's).
        assert suites["needs"] == smoke["needs"] == [f"build-{env}"]
        assert suites["env"] == {"IMAGE": f"${{{{ needs.build-{env}.outputs.devel }}}}"}
        assert smoke["env"] == {"IMAGE": f"${{{{ needs.build-{env}.outputs.runtime }}}}"}
        runs = [step.get("run", "") for step in suites["steps"]]
        assert 'docker run --rm --network none "$IMAGE" python -m nox --no-venv -s unit' in runs
        assert ('docker run --rm --network none "$IMAGE" python -m mlproject.smoke'
                in [step.get("run", "") for step in smoke["steps"]])
        for job in (suites, smoke):
            assert "pip" not in json.dumps(job)
            assert not [s for s in job["steps"] if "uses" in s]
            assert "container" not in job
    # feature/* runs the default environment (the first) only; main and model branches all.
    assert "refs/heads/feature/'" in jobs["build-cu121"]["if"]
    assert "refs/heads/feature/'" not in jobs["build-cu124"]["if"]
    assert "refs/heads/main" in jobs["build-cu124"]["if"]
    # A pull request (github.ref is refs/pull/N/merge) runs the suites its branch would.
    assert ("|| (github.event_name == 'pull_request' && (github.head_ref == 'main' || "
            "startsWith(github.head_ref, 'feature/model-')") in jobs["build-cu124"]["if"]

    # One shard per environment and GPU kind, on its runner's labels; h100 only on main.
    shards = {j: v for j, v in jobs.items() if j.startswith("gpu-shard-")}
    assert sorted(shards) == ["gpu-shard-cu121-a100", "gpu-shard-cu121-h100",
                              "gpu-shard-cu124-a100", "gpu-shard-cu124-h100"]
    assert shards["gpu-shard-cu124-h100"]["runs-on"] == ["self-hosted", "linux", "h100"]
    assert shards["gpu-shard-cu124-h100"]["if"] == "github.ref == 'refs/heads/main'"
    # Never a pull request's code (a fork's) on the team's self-hosted GPU runners.
    assert not [j for j, v in shards.items() if "pull_request" in v["if"]]
    assert "feature/model-" in shards["gpu-shard-cu121-a100"]["if"]
    shard_runs = " ".join(s.get("run", "") for s in shards["gpu-shard-cu121-a100"]["steps"])
    # In the build job's images, by digest: a shard builds nothing.
    assert ('nox --no-venv -s gpu_tests -- --env cu121 --gpu-kind a100 --require-gpu '
            '--no-build --image cu121="$DEVEL" --runtime-image cu121="$RUNTIME" '
            "--out shards/gpu-shard-cu121-a100") in shard_runs
    assert shards["gpu-shard-cu121-a100"]["needs"] == ["build-cu121"]
    assert shards["gpu-shard-cu121-a100"]["env"] == {
        "DEVEL": "${{ needs.build-cu121.outputs.devel }}",
        "RUNTIME": "${{ needs.build-cu121.outputs.runtime }}"}
    report = jobs["gpu-report"]
    assert report["needs"] == sorted(shards)
    assert report["if"].startswith("always() && (")
    assert any("--merge shards/*" in s.get("run", "") for s in report["steps"])

    release = files[cigen.GITHUB_RELEASE]
    assert release["on"]["push"]["tags"] == ["v*"]
    verify = release["jobs"]["verify"]
    assert list(release["jobs"]) == ["verify"]  # nothing builds or pushes images
    assert verify["steps"][0]["with"]["fetch-depth"] == 0
    runs = [s.get("run", "") for s in verify["steps"]]
    assert runs.index('invoke release.verify "$GITHUB_REF_NAME"') < runs.index(
        "nox --no-venv -s lint typecheck")
    assert not any("images.build" in r or "images.push" in r for r in runs)
    assert files[cigen.GITHUB_BASES]["on"]["schedule"] == [{"cron": "17 5 * * 1"}]
    assert any(s.get("run") == "invoke images.pin --check"
               for s in files[cigen.GITHUB_BASES]["jobs"]["pins"]["steps"])

    gitlab = files[cigen.GITLAB_CI]
    assert gitlab["suites-cu124"]["image"] == f"127.0.0.1:5000/stand-in/pytorch:cu124-devel@{DIGEST}"
    assert {"if": "$CI_COMMIT_BRANCH =~ /^feature\\//"} in gitlab["suites-cu121"]["rules"]
    assert gitlab["gpu-shard-cu121-h100"]["tags"] == ["linux", "h100"]
    assert gitlab["release-verify"]["variables"] == {"GIT_DEPTH": "0"}
    assert gitlab["bases"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert "release-images" not in gitlab

    assert pinned.invoke("ci.generate", "--check").returncode == 0


def test_generated_workflows_pass_zizmor(pinned: Project) -> None:
    """Actions by commit, least permissions, no persisted credentials, no cache in the tag
    workflow: zizmor (offline) finds nothing above informational for two environments."""
    assert pinned.invoke("ci.generate").returncode == 0
    workflows = pinned.path / ".github" / "workflows"
    text = "".join(p.read_text() for p in workflows.glob("*.yml"))
    for repo, sha, version in cigen.ACTIONS.values():
        assert f"uses: {repo}@{sha} # {version}\n" in text
    assert "cache:" not in (pinned.path / cigen.GITHUB_RELEASE).read_text()
    above = [f"{f['ident']}: {f['determinations']['severity']}" for f in zizmor(workflows)
             if f["determinations"]["severity"] not in ("Unknown", "Informational")]
    assert above == []
    # The audit has teeth: one action back on a movable tag is a finding.
    ci = workflows / "ci.yml"
    repo, sha, _ = cigen.ACTIONS["checkout"]
    ci.write_text(ci.read_text().replace(f"{repo}@{sha}", f"{repo}@v4", 1))
    assert "unpinned-uses" in {f["ident"] for f in zizmor(workflows)}


def test_the_tag_jobs_trust_the_teams_committed_public_key(pinned: Project) -> None:
    """A fresh runner's keyring is empty: release.verify could not check the tag's or the
    images' signatures. A committed public key is imported first; GitLab's python image
    also gets skopeo and gpg, keeping the install the other jobs do."""
    pinned.set_pyproject_tool('[tool.torchship.signatures]\npublic_key = "keys/team.asc"\n')
    res = pinned.invoke("ci.generate")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: tool.torchship.signatures.public_key: keys/team.asc does not exist: CI imports "
        "it to verify the release tags (gpg --armor --export KEY > FILE, and commit it)"]
    (pinned.path / "keys").mkdir()
    (pinned.path / "keys" / "team.asc").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    assert pinned.invoke("ci.generate").returncode == 0
    validate(pinned.path)
    docs = load(pinned.path)
    steps = docs[cigen.GITHUB_RELEASE]["jobs"]["verify"]["steps"]
    runs = [s.get("run", "") for s in steps]
    verify = next(i for i, r in enumerate(runs) if "invoke release.verify" in r)
    assert runs.index("gpg --batch --import keys/team.asc") < verify
    job = docs[cigen.GITLAB_CI]["release-verify"]
    assert job["script"][:2] == ["gpg --batch --import keys/team.asc",
                                 'invoke release.verify "$CI_COMMIT_TAG"']
    assert job["before_script"][0].endswith("apt-get install -y -qq skopeo gnupg")
    assert job["before_script"][1:] == docs[cigen.GITLAB_CI][".cpu"]["before_script"]
    assert [f for f in zizmor(pinned.path / ".github" / "workflows")
            if f["determinations"]["severity"] not in ("Unknown", "Informational")] == []


def test_a_branch_rule_naming_an_unknown_env_or_gpu_kind_is_one_line(pinned: Project) -> None:
    path = pinned.path / "pyproject.toml"
    text = path.read_text()
    for old, new, line in (
            ('envs = ["default"]', 'envs = ["cu999"]',
             "error: tool.torchship.ci.branches.feature/*.envs: 'cu999' is not a pinned "
             "environment (pinned: cu121, cu124; or `*`, `default`)"),
            ('gpus = ["a100"]', 'gpus = ["v100"]',
             "error: tool.torchship.ci.branches.feature/model-*.gpus: 'v100' is not a GPU "
             "kind (kinds ([tool.torchship.ci.gpus]): a100, h100; or `*`)")):
        path.write_text(text.replace(old, new))
        before = snapshot(pinned.path, env=pinned.env)
        res = pinned.invoke("ci.generate")
        assert res.returncode == 1
        assert res.stderr.strip().splitlines() == [line]
        assert snapshot(pinned.path, env=pinned.env) == before


def test_check_fails_on_drift_and_changes_nothing(pinned: Project) -> None:
    assert pinned.invoke("ci.generate").returncode == 0
    pinned.set_pyproject_tool(bases_toml({"cu126": ("2.7.0", "12.6")},
                                         prefix="tool.torchship."))
    before = snapshot(pinned.path, env=pinned.env)
    res = pinned.invoke("ci.generate", "--check")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: out of date with [tool.torchship] (pyproject.toml): .github/workflows/ci.yml, "
        ".gitlab-ci.yml (run `invoke ci.generate` and commit)"]  # the tag workflow names no env
    assert snapshot(pinned.path, env=pinned.env) == before
    assert pinned.invoke("ci.generate").returncode == 0
    assert "suites-cu126" in load(pinned.path)[cigen.GITHUB_CI]["jobs"]


def test_a_machines_local_pins_do_not_change_the_committed_files(project: Project) -> None:
    assert project.invoke("ci.generate").returncode == 0
    project.pin_locally(LOCAL_BASES)
    res = project.invoke("ci.generate", "--check")
    assert res.returncode == 0, res.stderr


def test_no_environments_gives_valid_files_without_image_jobs(project: Project) -> None:
    drop_bases(project.path)  # the template pins cu128
    assert project.invoke("ci.generate").returncode == 0
    validate(project.path)
    files = load(project.path)
    jobs = files[cigen.GITHUB_CI]["jobs"]
    assert sorted(jobs) == ["e2e", "lint", "unit"]  # no image: the suites run on the host
    assert list(files[cigen.GITHUB_RELEASE]["jobs"]) == ["verify"]
    assert "No pinned environments are configured" in (project.path / cigen.GITLAB_CI).read_text()


def test_a_bad_ci_key_is_one_clear_line(project: Project) -> None:
    project.set_pyproject_tool('\n[tool.torchship.ci]\ngpu_label = "a100"\n')
    before = snapshot(project.path, env=project.env)
    res = project.invoke("ci.generate")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: tool.torchship.ci.gpu_label: unknown key "
        "(allowed: branches, gpu_runner, gpus, python, runner, schedule, torch_index)"]
    assert snapshot(project.path, env=project.env) == before


def test_the_validators_do_reject_broken_files(project: Project) -> None:
    """Proof the check above has teeth: each schema refuses a job its forge would refuse."""
    drop_bases(project.path)  # the host jobs (unit) are the ones broken below
    assert project.invoke("ci.generate").returncode == 0
    ci = project.path / cigen.GITHUB_CI
    ci.write_text(ci.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    gitlab = project.path / cigen.GITLAB_CI
    doc = yaml.safe_load(gitlab.read_text())
    doc["unit"]["when"] = "sometimes"  # not one of on_success, manual, always, ...
    gitlab.write_text(yaml.safe_dump(doc))
    for path, schema in ((ci, "vendor.github-workflows"), (gitlab, "vendor.gitlab-ci")):
        res = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema,
                              str(path)], capture_output=True, text=True, check=False)
        assert res.returncode == 1, f"{path.name} passed: {res.stdout}"


def test_jobs_install_the_projects_own_extras_which_bring_the_tool(pinned: Project) -> None:
    assert pinned.invoke("ci.generate").returncode == 0
    text = "\n".join((pinned.path / rel).read_text() for rel in SCHEMAS)
    extras = tomllib.loads((pinned.path / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    # The template's tool source is its checkout beside the project ([tool.torchship.tool]).
    installed = set(re.findall(r"pip install -e \./torchship -e '\.\[([\w,]+)\]'", text))
    assert installed == {"dev", "test"}
    assert all(set(group.split(",")) <= set(extras) for group in installed)
    assert any(req.startswith("torchship~=") for req in extras["test"])
    report = load(pinned.path)[cigen.GITHUB_CI]["jobs"]["gpu-report"]["steps"]
    assert {"name": "Install", "run": "pip install -e ./torchship -e '.[test]'"} in report


def test_extras_that_do_not_bring_the_tool_are_one_clear_line(project: Project) -> None:
    path = project.path / "pyproject.toml"
    path.write_text(re.sub(r', "torchship~=[^"]*"', "", path.read_text()))
    before = snapshot(project.path, env=project.env)
    res = project.invoke("ci.generate")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: no extra the CI jobs install (dev) brings torchship (add torchship~=X.Y to the "
        "project's `test` extra (and `dev` = [\"<project>[torch,test]\", ...]))"]
    assert snapshot(project.path, env=project.env) == before


def test_every_workflow_of_this_repository_is_valid_and_passes_zizmor(template_root: Path) -> None:
    """The hand-written workflows (the tool's tests, publishing it) beside the generated ones:
    each passes the schema, and zizmor finds nothing above informational in any of them."""
    workflows = template_root / ".github" / "workflows"
    names = sorted(p.name for p in workflows.glob("*.yml"))
    assert {"torchship-tests.yml", "torchship-publish.yml", "ci.yml"} <= set(names)
    for name in names:
        res = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema",
                              "vendor.github-workflows", str(workflows / name)],
                             capture_output=True, text=True, check=False)
        assert res.returncode == 0, f"{name}: {res.stdout}{res.stderr}"
    assert [f"{f['ident']}: {f['determinations']['severity']}" for f in zizmor(workflows)
            if f["determinations"]["severity"] not in ("Unknown", "Informational")] == []
    publish = yaml.safe_load((workflows / "torchship-publish.yml").read_text())
    assert publish["on"] == {"push": {"tags": ["torchship-v*"]}}
    job = publish["jobs"]["publish"]
    assert job["permissions"] == {"id-token": "write"}  # trusted publishing, nothing else
    [step] = [s for s in job["steps"] if s["uses"].startswith("pypa/gh-action-pypi-publish@")]
    assert re.fullmatch(r"pypa/gh-action-pypi-publish@[0-9a-f]{40}", step["uses"])
    assert step["with"] == {"attestations": True}
    tests = yaml.safe_load((workflows / "torchship-tests.yml").read_text())
    run = "\n".join(s.get("run", "") for s in tests["jobs"]["tests"]["steps"])
    for script in ("torchship/scripts/ci_services.sh", "torchship/scripts/release_test_deps.sh",
                   "torchship/scripts/standin_bases.py"):
        assert script in run  # the services, as .ci/run starts them
    assert "cd torchship" in run
    assert run.rstrip().endswith(" nox")


SOURCES = {
    "git": "git+https://github.com/torchship/torchship@torchship-v0.2.0#subdirectory=torchship",
    "url": "https://pypi.example.com/simple",
    "index": "index",
}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_every_job_installs_the_tool_from_the_recorded_source(pinned: Project, kind: str) -> None:
    """[tool.torchship.tool] source reaches every install: the host jobs, the GPU shards'
    venv, the jobs inside a devel base and GitLab's; the files stay valid and zizmor-clean."""
    path = pinned.path / "pyproject.toml"
    text = path.read_text()
    assert 'source = "./torchship"' in text
    path.write_text(text.replace('source = "./torchship"', f"source = {json.dumps(SOURCES[kind])}"))
    res = pinned.invoke("ci.generate")
    assert res.returncode == 0, res.stderr
    validate(pinned.path)
    assert [f for f in zizmor(pinned.path / ".github" / "workflows")
            if f["determinations"]["severity"] not in ("Unknown", "Informational")] == []
    args = {"git": f"'torchship @ {SOURCES['git']}' ", "url": f"--extra-index-url {SOURCES['url']} ",
            "index": ""}[kind]
    docs = load(pinned.path)
    commands: list[str] = []
    for rel in (cigen.GITHUB_CI, cigen.GITHUB_RELEASE, cigen.GITHUB_BASES):
        for job in docs[rel]["jobs"].values():
            commands += [s["run"] for s in job["steps"] if "pip install" in s.get("run", "")]
    gitlab = docs[cigen.GITLAB_CI]
    commands += [line for job in gitlab.values() if isinstance(job, dict)
                 for key in ("before_script", "script") for line in job.get(key, [])
                 if "pip install" in line]
    assert len(commands) >= 10
    for command in commands:
        install = next(line for line in command.splitlines() if "pip install" in line)
        assert re.search(rf"pip install {re.escape(args)}(-c /tmp/torch\.txt \"\$@\" )?-e '\.\[",
                         install), install
    assert "./torchship" not in json.dumps(docs)


def _permissions(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {job: spec.get("permissions", doc.get("permissions")) for job, spec in doc["jobs"].items()}


def test_only_the_build_jobs_may_write_packages(pinned: Project) -> None:
    """`packages: write` on the build jobs alone; every other job of every generated workflow
    reads at most (the workflow's own default grants nothing)."""
    assert pinned.invoke("ci.generate").returncode == 0
    docs = load(pinned.path)
    writers: list[str] = []
    for rel in (cigen.GITHUB_CI, cigen.GITHUB_RELEASE, cigen.GITHUB_BASES):
        assert docs[rel]["permissions"] == {}
        for job, granted in _permissions(docs[rel]).items():
            assert set(granted.values()) <= {"read", "write"}, (rel, job)
            writers += [f"{job}: {scope}" for scope, level in granted.items() if level == "write"]
    assert sorted(writers) == ["build-cu121: packages", "build-cu124: packages"]
    jobs = docs[cigen.GITHUB_CI]["jobs"]
    assert jobs["build-cu121"]["permissions"] == {"contents": "read", "packages": "write"}
    # GHCR: the test jobs pull with the job's own token, which may only read packages.
    assert jobs["suites-cu121"]["permissions"] == jobs["smoke-cu121"]["permissions"] == {
        "packages": "read"}
    login = jobs["suites-cu121"]["steps"][0]
    assert login["env"]["REGISTRY_PASSWORD"] == "${{ secrets.GITHUB_TOKEN }}"
    assert "docker login ghcr.io" in login["run"]
    # Each grant beyond reading the checkout says why, beside it (zizmor's auditor persona).
    text = (pinned.path / cigen.GITHUB_CI).read_text()
    assert text.count("packages: write # push this commit's images") == 2
    generated = {Path(rel).name for rel in SCHEMAS}
    assert [f["ident"] for f in zizmor(pinned.path / ".github" / "workflows", persona="auditor")
            if f["ident"] == "undocumented-permissions" and Path(
                f["locations"][0]["symbolic"]["key"]["Local"]["verbatim_path"]).name
            in generated] == []


def test_an_image_naming_a_registry_is_where_ci_pushes(pinned: Project) -> None:
    """[tool.torchship] image with a registry host: the build job pushes there (no --image),
    logs in with the REGISTRY_* secrets, and the test jobs need no token at all."""
    path = pinned.path / "pyproject.toml"
    path.write_text(path.read_text().replace(
        "[tool.torchship]\n", '[tool.torchship]\nimage = "registry.example.com/team/app"\n', 1))
    assert pinned.invoke("ci.generate").returncode == 0
    validate(pinned.path)
    assert [f for f in zizmor(pinned.path / ".github" / "workflows")
            if f["determinations"]["severity"] not in ("Unknown", "Informational")] == []
    jobs = load(pinned.path)[cigen.GITHUB_CI]["jobs"]
    [step] = [s for s in jobs["build-cu124"]["steps"] if s.get("id") == "build"]
    assert step["run"] == ('torchship ci build --env cu124 --commit "$GITHUB_SHA" '
                           '--output "$GITHUB_OUTPUT"')
    for job in ("build-cu124", "suites-cu124", "smoke-cu124"):
        [login] = [s for s in jobs[job]["steps"] if s.get("name", "").startswith("Log in")]
        assert "docker login registry.example.com " in login["run"]
        assert login["env"]["REGISTRY_PASSWORD"] == "${{ secrets.REGISTRY_PASSWORD }}"
    assert jobs["suites-cu124"]["permissions"] == jobs["smoke-cu124"]["permissions"] == {}


def test_ci_build_refuses_what_would_tag_another_commit_in_one_line(project: Project) -> None:
    """The build job's command builds HEAD as it is committed: an unknown environment, a
    --commit that is not HEAD or a changed work tree is one line, and nothing is built."""
    head = project.git("rev-parse", "HEAD").strip()
    other = "0" * 40
    build = (str(BIN / "torchship"), "ci", "build")
    cases = [
        (["--env", "cu999"], "error: --env: 'cu999' is not a configured environment (one of: "
                             "cu128)"),
        (["--env", "cu128", "--commit", other],
         f"error: --commit: {other} is not HEAD ({head[:12]}) (check out that commit first "
         "(CI: actions/checkout does))"),
        (["--env", "cu128", "--image", "Bad/Name"],
         "error: tool.torchship.image: 'Bad/Name' is not a name Docker can use (lower-case "
         "letters, digits and . _ - in /-separated parts, after an optional registry "
         "host[:port]; no tag)"),
    ]
    for args, line in cases:
        res = project.run(*build, *args)
        assert res.returncode == 1, res.stdout
        assert res.stderr.strip().splitlines() == [line]
    (project.path / "README.md").write_text("changed\n")
    before = snapshot(project.path, env=project.env)
    res = project.run(*build, "--env", "cu128", "--commit", head)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"error: the work tree has changes: its images would not be {head[:12]}'s (commit or "
        "stash them)"]
    assert snapshot(project.path, env=project.env) == before
