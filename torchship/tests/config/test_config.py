"""[tool.torchship] -> Config: what a valid table gives, and one clear error per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship import config
from torchship.errors import ConfigError

DIGEST = "sha256:" + "ab" * 32
PROJECT = """
[project]
name = "demo"
version = "0.1.0"
[project.optional-dependencies]
test = ["pytest"]
"""
BASES = f"""
[tool.torchship.bases.cu121]
runtime = "pytorch/pytorch:2.5.1-cuda12.1-cudnn9-runtime@{DIGEST}"
devel = "127.0.0.1:5000/team/pytorch:2.5.1-devel@{DIGEST}"
torch = "2.5.1"
"""


def _project(tmp_path: Path, tool: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    (tmp_path / "pyproject.toml").write_text(PROJECT + tool)
    return tmp_path


def _error(root: Path) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(root)
    return info.value.render()


def test_a_valid_table_gives_frozen_typed_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, '[tool.torchship]\nimage = "reg.example.com/t/demo"\n'
                    "[tool.torchship.compare]\nregression = 1\n" + BASES, monkeypatch)
    cfg = config.load(root)
    assert cfg.image == "reg.example.com/t/demo"
    assert cfg.envs == ["cu121"]
    assert cfg.default_env == "cu121"
    base = cfg.bases["cu121"]
    assert base.runtime.name == "pytorch/pytorch"
    assert base.runtime.tag == "2.5.1-cuda12.1-cudnn9-runtime"
    assert base.devel.pinned == f"127.0.0.1:5000/team/pytorch@{DIGEST}"
    assert base.torch == "2.5.1"
    assert cfg.compare.regression == 1.0  # an int where a float is expected is accepted
    assert cfg.devel_extras == ("test",)  # the default, limited to the extras the project has
    assert cfg.source == root / "pyproject.toml"
    with pytest.raises(AttributeError):
        cfg.image = "x"  # type: ignore[misc]  # frozen: the assignment itself is the test


@pytest.mark.parametrize(("tool", "message"), [
    ('[tool.torchship]\nimgae = "x"\n', "tool.torchship.imgae: unknown key"),
    ('[tool.torchship.bases.cu121]\nruntime = "pytorch/pytorch:2.5.1"\ndevel = "a@' + DIGEST + '"\n',
     "tool.torchship.bases.cu121.runtime: 'pytorch/pytorch:2.5.1' is not pinned by digest "
     "(run `invoke images.pin`)"),
    ('[tool.torchship.bases.cu121]\nruntime = "Not A Ref"\ndevel = "a@' + DIGEST + '"\n',
     "tool.torchship.bases.cu121.runtime: 'Not A Ref' is not an image reference"),
    ('[tool.torchship.bases.cu121]\nruntime = "a@' + DIGEST + '"\n',
     "tool.torchship.bases.cu121.devel: missing"),
    ('[tool.torchship.bases.cu121]\nruntime = "a@' + DIGEST + '"\ndevel = "a@' + DIGEST + '"\ncudnn = "9"\n',
     "tool.torchship.bases.cu121.cudnn: unknown key"),
    ('[tool.torchship]\ndefault_env = "cu999"\n', "tool.torchship.default_env: 'cu999' is not in bases"),
    ('[tool.torchship.bases.none]\nruntime = "a@' + DIGEST + '"\ndevel = "a@' + DIGEST + '"\n',
     "tool.torchship.bases.none: `none` is not an environment name: an Env trailer of `none` "
     "says a commit matches no pinned environment (rename the environment)"),
    ('[tool.torchship.compare]\nregression = "tight"\n', "tool.torchship.compare.regression: must be float"),
    ('[tool.torchship]\ndevel_extras = ["notebook"]\n',
     "tool.torchship.devel_extras: 'notebook' is not an extra of the project"),
    ("[tool.torchship]\nrelease = 3\n", "tool.torchship.release: must be a table"),
    ('[tool.torchship.release]\nweights = "../runs/model.pt"\n',
     "tool.torchship.release.weights: '../runs/model.pt' is not a path inside the project"),
    ('[tool.torchship.release]\nweights = "runs/**/model.pt"\n',
     "tool.torchship.release.weights: 'runs/**/model.pt': a release ships the weights of one run"),
    ("[tool.torchship.release]\nweights = 1\n", "tool.torchship.release.weights: must be str"),
])
def test_each_mistake_is_one_line_naming_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 tool: str, message: str) -> None:
    rendered = _error(_project(tmp_path, tool, monkeypatch))
    assert rendered.startswith(message)
    assert "\n" not in rendered


def test_a_tool_key_that_is_not_a_table_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tool = 3` is valid TOML: the loader says which key is wrong rather than crashing."""
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    (tmp_path / "pyproject.toml").write_text("tool = 3\n" + PROJECT)
    rendered = _error(tmp_path)
    assert rendered == "tool.torchship: must be a table"


def test_every_type_mistake_names_its_key_in_the_same_words(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """One declaration per table, one wording per kind of mistake, whichever table it is in."""
    cases = {"[tool.torchship]\nrequire_digest = \"yes\"\n":
             "tool.torchship.require_digest: must be bool, not 'yes'",
             "[tool.torchship.release]\nsign = \"yes\"\n": "tool.torchship.release.sign: must be bool, not 'yes'",
             "[tool.torchship.ci]\nrunner = 3\n": "tool.torchship.ci.runner: must be str, not 3",
             "[tool.torchship]\nimage = 3\n": "tool.torchship.image: must be str, not 3",
             "[tool.torchship.bases.cpu]\nruntime = \"a@sha256:" + "ab" * 32 + "\"\ndevel = \"b\"\ntorch = 2\n":
             "tool.torchship.bases.cpu.torch: must be str, not 2"}
    for tool, message in cases.items():
        assert _error(_project(tmp_path, tool, monkeypatch)) == message


def test_unpinned_bases_are_allowed_when_pinning_is_not_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = _project(tmp_path, "[tool.torchship]\nrequire_digest = false\n"
                    '[tool.torchship.bases.cpu]\nruntime = "python:3.11"\ndevel = "python:3.11"\n',
                    monkeypatch)
    assert config.load(root).bases["cpu"].runtime.pinned == "python:3.11"


def test_the_local_override_replaces_image_and_bases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, '[tool.torchship]\nimage = "reg.example.com/t/demo"\n' + BASES, monkeypatch)
    (root / config.LOCAL_CONFIG).write_text(
        f'image = "127.0.0.1:5000/demo"\n[bases.cpu]\nruntime = "a@{DIGEST}"\ndevel = "b@{DIGEST}"\n')
    cfg = config.load(root)
    assert cfg.image == "127.0.0.1:5000/demo"
    assert cfg.envs == ["cpu"]
    assert cfg.source == root / config.LOCAL_CONFIG
    (root / config.LOCAL_CONFIG).write_text('regression = 0.5\n')
    assert _error(root).startswith(f"{config.LOCAL_CONFIG}.regression: unknown key")


def test_missing_or_broken_pyproject(tmp_path: Path) -> None:
    assert _error(tmp_path).endswith("pyproject.toml: not found")
    (tmp_path / "pyproject.toml").write_text("[project\n")
    assert "pyproject.toml: not valid TOML" in _error(tmp_path)


# ---------------------------------------------------------------- the project contract

ROOT = Path(__file__).resolve().parents[3]  # the template, beside the tool


def test_the_contract_defaults_fit_the_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.load(_project(tmp_path, "", monkeypatch))
    assert cfg.project == config.Project(package="demo", train=("python", "-m", "demo.train"),
                                         smoke=("python", "-m", "demo.smoke"))
    assert cfg.metrics == config.Metrics()
    assert cfg.metrics.file == "metrics.json"
    assert (cfg.metrics.train_dir, cfg.metrics.repeat_dir) == ("train", "train-repeat")
    assert [(m.name, m.rtol, m.atol, m.better) for m in cfg.metrics.compare] == [
        ("loss", 0.05, 0.0, "lower"), ("accuracy", 0.0, 0.05, "higher")]


def test_the_template_states_the_defaults_and_they_are_what_it_gets(package: str) -> None:
    cfg = config.load(ROOT, use_local=False)
    assert cfg.project.package == package == cfg.pyproject.name.replace("-", "_")
    assert cfg.project.smoke == ("python", "-m", f"{package}.smoke")
    assert cfg.project.train == ("python", "-m", f"{package}.train")
    assert cfg.project.quick_train == ("--epochs", "1", "--samples", "512")
    assert cfg.metrics == config.Metrics()  # the pre-contract behaviour, now written down


def test_the_package_default_comes_from_the_distribution_name(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, "", monkeypatch)
    (root / "pyproject.toml").write_text(PROJECT.replace('"demo"', '"My-Regression.Model"'))
    assert config.load(root).project.package == "my_regression_model"


def test_a_regression_project_declares_its_own_metrics(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, """
[tool.torchship.project]
package = "housing"
train = ["python", "-m", "housing.fit", "--config", "configs/small file.yaml"]
smoke = "sh -c 'python -m housing.serve --check'"
[tool.torchship.metrics]
file = "eval/metrics.json"
train_dir = "runs/main"
repeat_dir = ""
[tool.torchship.metrics.compare]
rmse = { rtol = 0.1, atol = 0.001, better = "lower" }
r2 = { atol = 0.02 }
""", monkeypatch)
    cfg = config.load(root)
    assert cfg.project.train[-1] == "configs/small file.yaml"
    assert cfg.project.smoke == ("sh", "-c", "python -m housing.serve --check")
    assert cfg.metrics.file == "eval/metrics.json"
    assert cfg.metrics.train_dir == "runs/main"
    assert cfg.metrics.repeat_dir is None  # "": no repeat, no determinism check
    rmse, r2 = cfg.metrics.compare
    assert rmse == config.Metric("rmse", rtol=0.1, atol=0.001, better="lower")
    assert r2.better is None
    assert rmse.tolerance(2.0) == pytest.approx(0.201)  # atol + rtol * |reference|
    assert rmse.agrees(2.2, 2.0)
    assert not rmse.agrees(2.25, 2.0)
    assert not rmse.agrees(float("nan"), 2.0)
    assert rmse.describe() == "rtol 0.1 + atol 0.001"
    assert cfg.metrics.compared("r2") == r2
    assert cfg.metrics.compared("accuracy") is None


def test_an_empty_compare_table_compares_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, "[tool.torchship.metrics]\ncompare = {}\n", monkeypatch)
    assert config.load(root).metrics.compare == ()


@pytest.mark.parametrize(("tool", "message"), [
    ("[tool.torchship.compare]\nloss_rtol = 0.05\n",
     "tool.torchship.compare.loss_rtol: training tolerances moved to [tool.torchship.metrics.compare] "
     "(write `loss = { rtol = 0.05 }` there"),
    ("[tool.torchship.project]\npackage = \"my-pkg\"\n",
     "tool.torchship.project.package: 'my-pkg' is not an importable package name"),
    ("[tool.torchship.project]\nsmoke = \"\"\n", "tool.torchship.project.smoke: is empty"),
    ("[tool.torchship.project]\nquick_train = \"\"\n", "tool.torchship.project.quick_train: is empty"),
    ("[tool.torchship.update]\nskip = [\"../x\"]\n",
     "tool.torchship.update.skip: '../x' is not a path inside the project"),
    ("[tool.torchship.update]\nskips = []\n", "tool.torchship.update.skips: unknown key"),
    ("[tool.torchship.project]\ntrain = \"python -c 'unclosed\"\n",
     "tool.torchship.project.train: \"python -c 'unclosed\" cannot be split into arguments"),
    ("[tool.torchship.project]\nsmoke = 3\n",
     "tool.torchship.project.smoke: must be a command: a string or a list of strings"),
    ("[tool.torchship.project]\nname = \"x\"\n", "tool.torchship.project.name: unknown key"),
    ("[tool.torchship.metrics]\nfiles = \"m.json\"\n", "tool.torchship.metrics.files: unknown key"),
    ("[tool.torchship.metrics]\nfile = \"\"\n", "tool.torchship.metrics.file: is empty"),
    ("[tool.torchship.metrics]\nfile = \"/tmp/m.json\"\n",
     "tool.torchship.metrics.file: '/tmp/m.json' must be a path relative to the results folder"),
    ("[tool.torchship.metrics]\ntrain_dir = \"../train\"\n",
     "tool.torchship.metrics.train_dir: '../train' must be a path relative to the results folder"),
    ("[tool.torchship.metrics]\nrepeat_dir = \"train\"\n",
     "tool.torchship.metrics.repeat_dir: 'train' is train_dir too"),
    ("[tool.torchship.metrics]\ncompare = 3\n", "tool.torchship.metrics.compare: must be a table"),
    ("[tool.torchship.metrics.compare]\nrmse = 0.1\n",
     "tool.torchship.metrics.compare.rmse: must be a table (e.g. rmse = { rtol = 0.05 })"),
    ("[tool.torchship.metrics.compare]\nrmse = {}\n",
     "tool.torchship.metrics.compare.rmse: no tolerance (give rtol (relative) and/or atol (absolute))"),
    ("[tool.torchship.metrics.compare]\nrmse = { rtol = -0.1 }\n",
     "tool.torchship.metrics.compare.rmse.rtol: must be a number >= 0, not -0.1"),
    ("[tool.torchship.metrics.compare]\nrmse = { atol = \"small\" }\n",
     "tool.torchship.metrics.compare.rmse.atol: must be a number >= 0, not 'small'"),
    ("[tool.torchship.metrics.compare]\nrmse = { rtol = 0.1, better = \"down\" }\n",
     "tool.torchship.metrics.compare.rmse.better: 'down' is not allowed (one of: higher, lower)"),
    ("[tool.torchship.metrics.compare]\nrmse = { rtol = 0.1, higher_is_better = false }\n",
     "tool.torchship.metrics.compare.rmse.higher_is_better: unknown key"),
    ("[tool.torchship.metrics.compare]\nseconds = { rtol = 0.1 }\n",
     "tool.torchship.metrics.compare.seconds: 'seconds' is reserved in the metrics file, not a metric"),
])
def test_each_contract_mistake_is_one_line_naming_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          tool: str, message: str) -> None:
    rendered = _error(_project(tmp_path, tool, monkeypatch))
    assert rendered.startswith(message)
    assert "\n" not in rendered


@pytest.mark.parametrize(("gpus", "message"), [
    ('[tool.torchship.gpus.x]\nbf16 = 1.0\n', "tool.torchship.gpus.x.match: missing"),
    ('[tool.torchship.gpus.x]\nmatch = "X"\nbf17 = 1.0\n', "tool.torchship.gpus.x.bf17: unknown key"),
    ('[tool.torchship]\ngpus = 3\n', "tool.torchship.gpus: must be a table of tables"),
])
def test_the_gpus_table_is_validated_by_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             gpus: str, message: str) -> None:
    """[tool.torchship.gpus] fails the load like every other table, not only gpubench."""
    assert message in _error(_project(tmp_path, gpus, monkeypatch))


def test_load_carries_the_gpus_and_the_pyproject_facts(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, '[tool.torchship.gpus.ada]\nmatch = "Ada"\nbf16 = 364.2\n'
                    '[tool.bumpversion]\ncurrent_version = "0.1.0"\n', monkeypatch)
    cfg = config.load(root)
    assert [(p.key, p.limit("bf16")) for p in cfg.gpus] == [("ada", 364.2)]
    meta = cfg.pyproject
    assert (meta.name, meta.version) == ("demo", "0.1.0")
    assert dict(meta.extras) == {"test": ["pytest"]}
    assert meta.bumpversion["current_version"] == "0.1.0"
    assert meta.tool("ruff") == {}


def test_a_project_is_its_config_and_one_git_handle(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from torchship import project as projectmod
    from torchship.adapters.git import GitError
    from torchship.testing.gitrepo import git, isolated_env

    root = _project(tmp_path, "", monkeypatch)
    with projectmod.load(root) as proj:
        assert proj.root == root.resolve()
        assert proj.pyproject.name == "demo"
        with pytest.raises(GitError, match="not inside a git repository"):
            proj.git  # noqa: B018  # the property opens the repository: the access is the test
    git(root, "init", "-q", env=isolated_env(tmp_path / "home"))
    with projectmod.load(root) as proj:
        assert proj.git is proj.git  # one handle per command
        assert proj.git.top == root.resolve()


def test_text_at_another_commit_parses_through_config() -> None:
    assert config.Pyproject.parse('[project]\nname = "x"\n').name == "x"
    with pytest.raises(ConfigError, match=r"pyproject\.toml at v1: not valid TOML"):
        config.parse_toml("[project\n", where="pyproject.toml at v1")


def _noxfile_envs(root: Path, template_root: Path) -> list[str]:
    """matrix_envs() of the template's noxfile, as if the noxfile lay in `root` (its imports
    and that function only: importing it whole would register its sessions with nox)."""
    import ast
    import os
    import tomllib

    import nox

    tree = ast.parse((template_root / "noxfile.py").read_text())
    body = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
            or (isinstance(n, ast.FunctionDef) and n.name == "matrix_envs")]
    scope = {"ROOT": root, "os": os, "tomllib": tomllib, "nox": nox, "Path": Path}
    exec(compile(ast.Module(body=body, type_ignores=[]), "noxfile.py", "exec"), scope)
    envs: list[str] = scope["matrix_envs"]()  # type: ignore[operator]  # defined by the exec
    return envs


def test_the_noxfile_and_the_tool_agree_on_the_local_override(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template_root: Path) -> None:
    """The template's noxfile keeps its own copy of the override rule (nox imports it from
    nox's environment, where torchship need not be installed): it must give the tool's envs."""
    root = _project(tmp_path, BASES, monkeypatch)
    assert _noxfile_envs(root, template_root) == [*config.load(root).envs, "local"]
    other = BASES.replace("cu121", "cpu")
    (root / config.LOCAL_CONFIG).write_text(other.replace("tool.torchship.", ""))
    assert _noxfile_envs(root, template_root) == [*config.load(root).envs, "local"] == ["cpu", "local"]
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text(BASES.replace("cu121", "gpu").replace("tool.torchship.", ""))
    monkeypatch.setenv("TORCHSHIP_LOCAL_CONFIG", str(elsewhere))
    assert _noxfile_envs(root, template_root) == [*config.load(root).envs, "local"] == ["gpu", "local"]
