"""Real signing keys for tests: a GPG key in a temporary GNUPGHOME, an SSH key pair.

Both without a passphrase, so nothing prompts. Configure a repository to sign with one
of them through `configure_gpg` / `configure_ssh`, exactly as a user would.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from torchship.testing.gitrepo import IDENTITY, git


@dataclass(frozen=True)
class GpgKey:
    home: Path          # the GNUPGHOME holding it
    fingerprint: str


@dataclass(frozen=True)
class SshKey:
    private: Path
    public: Path
    allowed_signers: Path


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def gpg_key(home: Path, *, uid: str = f"{IDENTITY[0]} <{IDENTITY[1]}>") -> GpgKey:
    """Generate an ed25519 signing key in `home` (keep the path short: agent socket)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519",
                    "sign", "never"], env=env, capture_output=True, check=True)
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-secret-keys"],
                             env=env, capture_output=True, text=True, check=True).stdout
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    return GpgKey(home, fpr)


def stop_gpg_agent(home: Path) -> None:
    subprocess.run(["gpgconf", "--kill", "all"], env={"GNUPGHOME": str(home),
                   "PATH": "/usr/bin:/bin"}, capture_output=True, check=False)


def ssh_key(directory: Path, *, email: str = IDENTITY[1]) -> SshKey:
    """An ed25519 SSH key pair and an allowed-signers file trusting it for `email`."""
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f",
                    str(private)], capture_output=True, check=True)
    public = private.with_suffix(".pub")
    allowed = directory / "allowed_signers"
    allowed.write_text(f'{email} namespaces="git" {public.read_text().strip()}\n')
    return SshKey(private, public, allowed)


def configure_gpg(repo: Path, key: GpgKey, *, env: dict[str, str]) -> None:
    git(repo, "config", "gpg.format", "openpgp", env=env)
    git(repo, "config", "user.signingkey", key.fingerprint, env=env)


def configure_ssh(repo: Path, key: SshKey, *, env: dict[str, str]) -> None:
    git(repo, "config", "gpg.format", "ssh", env=env)
    git(repo, "config", "user.signingkey", str(key.public), env=env)
    git(repo, "config", "gpg.ssh.allowedSignersFile", str(key.allowed_signers), env=env)
