"""Dev containers: `invoke dev.shell` on the stand-in devel base, devcontainer.json from config."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from workflow_helpers import BIN, DIGEST, LOCAL_BASES, Project, bases_toml

from torchship.adapters.docker import Docker
from torchship.testing.engine import remove_images_of
from torchship.testing.gitrepo import snapshot
from torchship.testing.standins import PinnedBases
from torchship.testing.template import drop_bases
from torchship.workflow import devcontainer
from torchship.workflow.template import package_of


def _pin_standins(project: Project, bases: PinnedBases, image: str | None = None) -> None:
    """The stand-in bases pinned locally, and the project's images named `image` (a name of
    the test's own, so that its cleanup touches nothing else)."""
    (project.path / "torchship.local.toml").write_text(
        (f'image = "{image}"\n' if image else "")
        + f'[bases.{bases.env}]\nruntime = "{bases.runtime}"\ndevel = "{bases.devel}"\n')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_shell_runs_a_command_as_the_host_uid_with_the_source_mounted(
        project: Project, standin_bases: PinnedBases) -> None:
    _pin_standins(project, standin_bases)
    (project.path / "marker.txt").write_text("from the host\n")
    res = project.invoke("dev.shell", "--image", standin_bases.devel, "--",
                         "sh", "-c", "id -u; cat marker.txt; echo $TORCHSHIP_ENV; "
                         "python -c 'import torch; print(torch.__version__)'; touch made.txt")
    assert res.returncode == 0, res.stderr
    uid, marker, env, torch = res.stdout.split("\n")[:4]
    assert uid == str(os.getuid())
    assert marker == "from the host"
    assert env == standin_bases.env
    assert torch.split("+")[0] == standin_bases.torch  # the pinned base's own torch
    made = project.path / "made.txt"
    assert made.stat().st_uid == os.getuid()  # written through the mount, owned by the user
    # The command's exit status is the task's.
    assert project.invoke("dev.shell", "--image", standin_bases.devel, "--",
                          "sh", "-c", "exit 3").returncode == 3


def test_shell_with_no_pinned_environment_or_an_unknown_one_is_one_line(
        project: Project) -> None:
    drop_bases(project.path)  # the template pins cu128
    before = snapshot(project.path, env=project.env)
    res = project.invoke("dev.shell", "--", "true")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: tool.torchship.bases: no pinned environment to work in (pin a base "
        "([tool.torchship.bases.<env>], or torchship.local.toml from "
        "scripts/standin_bases.py))"]
    assert snapshot(project.path, env=project.env) == before
    project.pin_locally({"cpu": LOCAL_BASES["cpu"]})
    res = project.invoke("dev.shell", "--env", "cu999", "--", "true")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: --env: 'cu999' is not a pinned environment (one of: cpu)"]


def test_devcontainer_json_is_the_pinned_devel_base_and_checked(project: Project) -> None:
    project.set_pyproject_tool(bases_toml({k: LOCAL_BASES[k] for k in ("cu121", "cu124")},
                                          prefix="tool.torchship."))
    res = project.invoke("dev.devcontainer")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"wrote {devcontainer.DEVCONTAINER}"
    doc = json.loads((project.path / devcontainer.DEVCONTAINER).read_text())
    # The structure the devcontainer.json reference gives for an image-based container.
    assert set(doc) <= {"name", "image", "workspaceMount", "workspaceFolder", "containerEnv",
                        "hostRequirements", "postCreateCommand", "customizations"}
    assert doc["image"] == f"127.0.0.1:5000/stand-in/pytorch:cu121-devel@{DIGEST}"
    assert doc["workspaceFolder"] == "/workspace"
    assert doc["workspaceMount"] == ("source=${localWorkspaceFolder},target=/workspace,"
                                     "type=bind")
    assert doc["containerEnv"]["TORCHSHIP_ENV"] == "cu121"
    assert "-c /tmp/torch.txt" in doc["postCreateCommand"]
    # The tool from the project's recorded source (the template's: its checkout).
    assert "python -m pip install -e ./torchship -c /tmp/torch.txt" in doc["postCreateCommand"]
    assert project.invoke("dev.devcontainer", "--check").returncode == 0
    res = project.invoke("dev.devcontainer", "--env", "cu124", "--check")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"error: {devcontainer.DEVCONTAINER} is out of date with [tool.torchship] "
        "(run `invoke dev.devcontainer` and commit)"]
    assert Path(project.path / devcontainer.DEVCONTAINER).is_file()


def _status(port: int, token: str | None) -> int:
    url = f"http://127.0.0.1:{port}/api/status" + (f"?token={token}" if token else "")
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_jupyter_answers_on_127_0_0_1_with_the_token_and_refuses_without(
        project: Project, standin_bases: PinnedBases, engine: Docker) -> None:
    image = f"tsdev16-test/{uuid.uuid4().hex[:8]}"
    _pin_standins(project, standin_bases, image)
    token, name = secrets.token_hex(24), f"tsdev16-jupyter-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "invoke"), "dev.jupyter", "--port", str(port), "--name", name],
        cwd=project.path, env={**project.env, "JUPYTER_TOKEN": token},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 600  # the first call builds the devel image
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if _status(port, token) == 200:
                    break
            except OSError:
                pass  # not listening yet
            time.sleep(1)
        assert server.poll() is None, (server.stdout.read() if server.stdout else "")[-3000:]
        assert _status(port, token) == 200
        assert _status(port, None) == 403
        assert _status(port, "not-the-token") == 403
        # Ctrl-C: the task ends, and its container with it (it would keep holding the port).
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        assert engine("ps", "-aq", "--filter", f"name=^{name}$").stdout.strip() == ""
    finally:
        engine("rm", "-f", name, check=False)
        server.wait(timeout=60)
        remove_images_of(engine, image)


def test_a_notebook_in_the_devel_image_is_watermarked_with_the_image_and_environment(
        project: Project, standin_bases: PinnedBases, engine: Docker) -> None:
    image = f"tsdev14-test/{uuid.uuid4().hex[:8]}"
    _pin_standins(project, standin_bases, image)
    # IPython run non-interactively, as a notebook's cells would. No `-g`: the stand-in base
    # has no git (real PyTorch devel images do); %torchship reads the commit from .git itself.
    cells = ["load_ext watermark", "watermark -v -m -p torch,numpy,watermark",
             f"load_ext {package_of(project.path)}.notebook", "torchship"]
    code = "; ".join(f"get_ipython().run_line_magic(*{cell.partition(' ')[::2]!r})" for cell in cells)
    try:
        res = project.run(str(BIN / "invoke"), "dev.shell", "--", "ipython", "--quick",
                          "--no-banner", "-c", code, timeout=900)  # builds the devel image
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        out = {key.strip(): value.strip() for key, _, value in
               (line.partition(":") for line in res.stdout.splitlines()) if value}
        assert out["torch"].split("+")[0] == standin_bases.torch  # the base's own torch
        assert out["Python version"].startswith(standin_bases.python)
        assert out["watermark"]  # installed by the notebook extra
        built = engine("image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                       image).stdout.split()
        assert out["Image"] in built
        assert out["Image digest"] == engine("image", "inspect", "--format", "{{.Id}}",
                                             out["Image"]).stdout.strip()
        assert out["Environment"] == f"{standin_bases.env} (devel)"
        name, digest = standin_bases.devel.split("@")
        assert out["Pinned base"] == f"{name.rpartition(':')[0]}@{digest}"  # as the build pins it
        assert out["Git hash"] == project.git("rev-parse", "HEAD").strip()
    finally:
        remove_images_of(engine, image)


def test_jupyter_without_a_token_is_refused_in_one_line(project: Project) -> None:
    res = project.invoke("dev.jupyter", env={"JUPYTER_TOKEN": ""})
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[0].startswith(
        "error: $JUPYTER_TOKEN is unset: JupyterLab needs a token of 16 characters or more")


SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]


def _ssh(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ssh", *SSH_OPTS, "-p", str(port), *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_ssh_accepts_the_key_and_refuses_a_password_and_root(
        project: Project, standin_bases: PinnedBases, engine: Docker, tmp_path: Path) -> None:
    image = f"tsdev16-test-{uuid.uuid4().hex[:8]}"
    _pin_standins(project, standin_bases, image)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    name = f"tsdev16-ssh-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "invoke"), "dev.ssh", "--key", f"{key}.pub", "--image", standin_bases.devel,
         "--port", str(port), "--name", name],
        cwd=project.path, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        deadline = time.monotonic() + 600  # the first call builds the sshd layer
        ok = None
        while time.monotonic() < deadline and server.poll() is None:
            ok = _ssh(port, "-i", str(key), "dev@127.0.0.1",
                      "id -u; id -un; cat /workspace/pyproject.toml | head -1; "
                      "python -c 'import torch; print(torch.__version__)'; echo $TORCHSHIP_ENV")
            if ok.returncode == 0:
                break
            time.sleep(2)
        assert server.poll() is None, (server.stdout.read() if server.stdout else "")[-3000:]
        assert ok is not None
        assert ok.returncode == 0, ok.stderr
        uid, user, first, torch, env = ok.stdout.splitlines()
        assert user == "dev"
        assert uid != "0"
        assert uid == (str(os.getuid()) if os.getuid() else "1000")
        assert first == "[build-system]"  # the mounted source
        assert torch.split("+")[0] == standin_bases.torch           # the image's own Python
        assert env == standin_bases.env
        root = _ssh(port, "-i", str(key), "root@127.0.0.1", "true")
        assert root.returncode == 255
        assert "Permission denied" in root.stderr
        password = _ssh(port, "-v", "-o", "PubkeyAuthentication=no",
                        "-o", "PreferredAuthentications=password,keyboard-interactive",
                        "dev@127.0.0.1", "true")
        assert password.returncode == 255
        assert "Authentications that can continue: publickey\n" in password.stderr
        other = tmp_path / "other"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                       check=True)
        assert _ssh(port, "-i", str(other), "dev@127.0.0.1", "true").returncode == 255
    finally:
        engine("rm", "-f", name, check=False)
        server.wait(timeout=60)
        remove_images_of(engine, f"torchship-dev-ssh/{image}")


def test_ssh_with_a_missing_key_is_one_line(project: Project, tmp_path: Path) -> None:
    res = project.invoke("dev.ssh", "--key", str(tmp_path / "nope.pub"))
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope.pub'}: no such public key (make one with `ssh-keygen -t "
        "ed25519` and pass --key ~/.ssh/id_ed25519.pub)"]
    private = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(private)],
                   check=True)
    res = project.invoke("dev.ssh", "--key", str(private))
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        f"error: {private} is a private key (pass the .pub file beside it)"]
    # The address goes into sshd's command line: an IP address, nothing else.
    res = project.invoke("dev.ssh", "--key", f"{private}.pub", "--address", "127.0.0.1; id")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: --address '127.0.0.1; id' is not an IP address (e.g. 127.0.0.1 (the default), "
        "or 0.0.0.0 for every interface)"]
