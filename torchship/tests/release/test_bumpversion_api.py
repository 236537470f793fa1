"""The bump-my-version internals torchship.release.version uses, imported and called as it does.

bump-my-version has no stable Python API: the release calls what its own `bump` command
calls. torchship's pyproject.toml pins it to the versions checked to have all of these: from
1.6.6 (the first with ConfiguredFile.get_changed_contents; 1.6.5 fails with a traceback) to
1.8.x. A version that moves one of them fails here, by name, not in someone's release.
"""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version as installed
from pathlib import Path

from packaging.requirements import Requirement

from torchship.release import version

TOOL = Path(__file__).resolve().parents[2]


def _params(func: object) -> list[str]:
    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]


def test_the_internals_exist_with_the_parameters_the_release_passes() -> None:
    from bumpversion.bump import do_bump
    from bumpversion.config import get_configuration
    from bumpversion.config.files import find_config_file
    from bumpversion.context import get_context
    from bumpversion.exceptions import BumpVersionError
    from bumpversion.files import ConfiguredFile, resolve_file_config

    assert _params(find_config_file)[:1] == ["explicit_file"]
    assert _params(get_configuration)[:1] == ["config_file"]
    assert _params(get_context)[:3] == ["config", "current_version", "new_version"]
    assert _params(resolve_file_config)[:2] == ["files", "version_config"]
    assert _params(ConfiguredFile.get_changed_contents)[:5] == [
        "self", "current_version", "new_version", "context", "file_contents"]
    assert _params(do_bump)[:5] == ["version_part", "new_version", "config", "config_file",
                                    "dry_run"]
    assert issubclass(BumpVersionError, Exception)
    # How a version parses and is written: the project's parse and serialize, asked of it.
    from bumpversion.versioning.models import VersionSpec
    from bumpversion.versioning.serialization import parse_version

    assert _params(parse_version)[:2] == ["version_string", "parse_pattern"]
    assert _params(VersionSpec.create_version)[:2] == ["self", "values"]


def test_the_installed_version_is_inside_the_pin() -> None:
    data = tomllib.loads((TOOL / "pyproject.toml").read_text())
    pins = [Requirement(r) for r in data["project"]["dependencies"]
            if Requirement(r).name == "bump-my-version"]
    assert len(pins) == 1
    assert pins[0].specifier.contains(installed("bump-my-version")), (
        f"bump-my-version {installed('bump-my-version')} is outside {pins[0].specifier}")
    assert not pins[0].specifier.contains("1.6.5"), "1.6.5 lacks get_changed_contents"


def test_plan_then_apply_through_them(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.bumpversion]\ncurrent_version = "1.2.3"\n\n'
        '[[tool.bumpversion.files]]\nfilename = "p.py"\n'
        'search = \'__version__ = "{current_version}"\'\n'
        'replace = \'__version__ = "{new_version}"\'\n')
    (tmp_path / "p.py").write_text('"""p."""\n__version__ = "1.2.3"\n')
    bump = version.plan(tmp_path, part="minor", pre=None, final=False)
    assert str(bump.new) == "1.3.0"
    assert [(c.path, c.line, c.new) for c in bump.changes] == [
        ("p.py", 2, '__version__ = "1.3.0"'), ("pyproject.toml", 2, 'current_version = "1.3.0"')]
    version.apply(tmp_path, bump)  # raises unless bump-my-version wrote exactly the plan
    assert (tmp_path / "p.py").read_text() == '"""p."""\n__version__ = "1.3.0"\n'


def test_the_configuration_pieces_exist() -> None:
    """release.version builds the configuration from get_configuration's own pieces, less
    its look at the repository (git in the working directory)."""
    from bumpversion.config import check_current_version, set_config_defaults
    from bumpversion.config.files import get_pep621_info, read_config_file
    from bumpversion.config.models import Config
    from bumpversion.config.utils import get_all_file_configs, get_all_part_configs
    from bumpversion.scm.models import SCMConfig, SCMInfo

    assert _params(read_config_file)[:1] == ["config_file"]
    assert _params(set_config_defaults)[:1] == ["parsed_config"]
    assert _params(get_all_part_configs)[:1] == ["config_dict"]
    assert _params(get_all_file_configs)[:1] == ["config_dict"]
    assert _params(get_pep621_info)[:1] == ["config_file"]
    assert _params(check_current_version)[:1] == ["config"]
    assert callable(SCMConfig.from_config)
    assert _params(SCMInfo._set_from_scm_tool) == ["self"]
    assert {"scm_info", "pep621_info", "files", "parts"} <= set(Config.model_fields)
