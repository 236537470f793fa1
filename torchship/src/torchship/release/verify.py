"""`invoke release.verify TAG`, and the verify step of a release: check a release tag.

Annotated, signed and verifying (`git tag -v`, so the user's gpg/ssh configuration decides);
[tool.bumpversion] current_version and every configured file at the tag hold the tag's
version; the changelog at the tag has a dated section for it; and the images the tag
message records are in the registry at their recorded digests, signed by the team key, and
labelled with the tag's commit (torchship.images.released). A release made without --push
records its images by tag only: its own verify step checks the local images' labels, and
`invoke release.verify` refuses it in one line, since nothing ties those tags to registry
bytes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from torchship import config as tsconfig
from torchship.adapters.git import Git
from torchship.config import parse_toml
from torchship.errors import TorchshipError
from torchship.release import changelog, version
from torchship.release.plan import ReleaseError, _background, image_step, prefix_of


def verify(git: Git, cfg: tsconfig.Config, tag: str, *, require_signature: bool = True,
           images: list[str] | None = None) -> list[str]:
    """Check release tag `tag` of the project `cfg.root`; return what was checked."""
    prefix = prefix_of(git, cfg.root)

    def in_repo(rel: str) -> str:
        return f"{prefix}/{rel}" if prefix else rel

    if git.ref(f"refs/tags/{tag}") is None:
        raise ReleaseError(f"tag {tag} does not exist",
                           hint="git fetch --tags, or check `git tag -l`")
    if git.object_type(f"refs/tags/{tag}") != "tag":
        raise ReleaseError(f"tag {tag} is not annotated (a lightweight tag)",
                           hint="releases are annotated, signed tags made by `invoke release`")
    checked = [f"{tag} is annotated"]
    body = git.tag_body(tag)
    clean: bool | None = None  # the work tree is the tag's: asked with the signature's check
    if require_signature:
        if "-----BEGIN" not in body:
            raise ReleaseError(f"tag {tag} is not signed", hint="release with signing on")
        # At the tag's commit (a release's own verify step) _not_holding_at needs git status:
        # it runs while gpg checks the signature, and is waited for either way.
        status = (_background(git.status) if git.head() == git.commit_of(f"refs/tags/{tag}")
                  else None)
        try:
            said = git.verify_tag(tag)
        finally:
            if status is not None:
                try:
                    clean = not status()
                except TorchshipError:
                    clean = None  # asked again where it is needed
        checked.append(f"{tag} signature verifies ({git.signing_format()})")
        checked.append(check_signer(git, cfg, tag, raw=said))
    ver = tag[len(cfg.release.tag_prefix):] if tag.startswith(cfg.release.tag_prefix) else tag
    pyproject = in_repo("pyproject.toml")
    data = parse_toml(git.show(tag, pyproject).decode("utf-8"), where=f"{pyproject} at {tag}")
    found = version.at_rev(data)
    if found != ver:
        raise ReleaseError(f"{tag}: [tool.bumpversion] current_version is {found!r}, not {ver}")
    missing = _not_holding_at(git, tag, prefix, ver, clean=clean)
    if missing:
        raise ReleaseError(f"{tag}: {in_repo(missing[0])} does not hold version {ver}")
    checked.append(f"version {ver} in {pyproject} and every [tool.bumpversion] file")
    log_path = in_repo(cfg.release.changelog)
    log = changelog.parse(git.show(tag, log_path).decode("utf-8-sig"),
                          path=f"{log_path} at {tag}")
    sec = log.section(ver)
    if sec is None or not sec.date:
        raise ReleaseError(f"{log_path} at {tag} has no dated [{ver}] section")
    checked.append(f"{log_path} has [{ver}] - {sec.date}")
    listed = images_in(body)
    commit = git.commit_of(f"refs/tags/{tag}")
    assert commit is not None  # an annotated release tag points at a commit
    # -- tested images (i23r): a release with evidence ships only images its evidence ran in
    tested = images_tested(body)
    source = _tested_source(git, tag, commit) if tested else commit
    with_evidence = listed and not body_says_no_evidence(body)
    if with_evidence and not tested:
        raise ReleaseError(f"{tag}: it ships images and has evidence, but records no tested "
                           f"image: {listed[0].split('@')[0]} is not known to be the image "
                           "its evidence ran in", hint="release with --matrix: the release "
                                                       "tests the images it ships")
    # --
    if any("@sha256:" in i for i in listed) or (images is None and listed):
        # The tag records what the registry must serve: checked there, signatures too.
        from torchship.images import released

        recorded = [released.Recorded.parse(i) for i in listed]
        if tested:
            checked += released.check_tested(recorded, tested)
        checked += released.check(cfg, recorded, source, signatures=require_signature)
    elif images:  # a release without --push: its images are in the local engine only
        if tested:
            _local_tested(images, tested)
        image_step(cfg).verify(images, source)
        checked.append(f"{len(images)} image(s) labelled with {source[:12]}"
                       + (", those the evidence tested" if tested else ""))
    checked += _model(git, cfg, tag, body, commit, signatures=require_signature,
                      own=images is not None, card=in_repo(cfg.release.model_card))
    return checked


def _model(git: Git, cfg: tsconfig.Config, tag: str, body: str, commit: str, *,
           signatures: bool, own: bool, card: str) -> list[str]:
    """The model the tag records (release/weights.py): in the registry at its digest, its
    weights those the card at the tag records, signed by the team key. A release's own verify
    step skips a model it did not push (no --push); `release.verify` refuses that."""
    from torchship.release import weights

    found = weights.recorded(body)
    if found is None or (found[1] is None and own):
        return []
    ref, digest = weights.released(body) or found
    assert digest is not None
    text = git.show(tag, card).decode("utf-8")
    return weights.check(cfg, ref, digest, commit=commit, card=text, signatures=signatures,
                         message=body)[0]


# -- tested images (i23r) -----------------------------------------------------------------------

def images_tested(message: str) -> dict[str, str]:
    """{image tag: image ID} under `Tested:` in a release tag's message (release.steps)."""
    import re

    lines = message.splitlines()
    if "Tested:" not in lines:
        return {}
    out = {}
    for line in lines[lines.index("Tested:") + 1:]:
        m = re.match(r"^- (\S+) = (sha256:[0-9a-f]{64}) ", line)
        if m is None:
            break
        out[m[1]] = m[2]
    return out


def body_says_no_evidence(message: str) -> bool:
    return any(line.startswith("Evidence: none") for line in message.splitlines())


def _tested_source(git: Git, tag: str, commit: str) -> str:
    """The commit a tested release's images are labelled with: the release commit's parent,
    which the release was cut from (the images are built, with the release's edits, before
    the release commit, whose card is written from their test)."""
    info = git.commit_info(commit)
    if info is None or len(info.parents) != 1:
        raise ReleaseError(f"{tag}: its commit {commit[:12]} has no single parent, so "
                           "its tested images name no commit it was cut from")
    return info.parents[0]


def _local_tested(images: list[str], tested: dict[str, str]) -> None:
    """Each local image is the one the evidence tested (a release without --push)."""
    from torchship.adapters.docker import require_engine

    docker = require_engine()
    for image in images:
        now = docker("image", "inspect", "--format", "{{.Id}}", image,
                     check=False).stdout.strip()
        if tested.get(image) != now:
            raise ReleaseError(f"{image} is image {now[:19] or 'missing'}, not the image "
                               f"{(tested.get(image) or 'none')[:19]} the evidence tested")


def _norm(fpr: str) -> str:
    return "".join(fpr.split()).upper().removeprefix("0X")


def team_signers(git: Git, cfg: tsconfig.Config) -> tuple[list[str], str]:
    """The GPG fingerprints that may sign a release tag, and where they come from:
    [tool.torchship.signatures] signers, else the keys of its public_key (the team key the
    images are held to), else the key git signs with (user.signingkey)."""
    from torchship.images import sign

    if cfg.signatures.signers:
        return [_norm(f) for f in cfg.signatures.signers], "[tool.torchship.signatures] signers"
    if cfg.signatures.public_key:
        path = cfg.root / cfg.signatures.public_key
        if not path.is_file():
            raise ReleaseError(f"the team's public key {cfg.signatures.public_key} does not "
                               "exist", hint="export it: gpg --armor --export KEY > FILE")
        return (sign.fingerprints(path),
                f"[tool.torchship.signatures] public_key {cfg.signatures.public_key}")
    key = git.config("user.signingkey")
    if not key:
        raise ReleaseError("no team key to hold the tag's signer to",
                           hint='set [tool.torchship.signatures] signers = ["FINGERPRINT"] '
                                "or public_key, or git config user.signingkey")
    return sign.keyring_fingerprints(key), "user.signingkey"


def check_signer(git: Git, cfg: tsconfig.Config, tag: str, *, raw: str | None = None) -> str:
    """Refuse a tag whose good signature is not the team's: `git tag -v` accepts any key of
    the keyring (OpenPGP), so the signer is compared with the team's fingerprints. SSH
    signatures are held to gpg.ssh.allowedSignersFile by git itself."""
    # The kind of signature the tag carries decides, not this clone's gpg.format: a
    # verifier who signs with SSH must not skip the check of a GPG-signed tag.
    body = git.tag_body(tag)
    if "-----BEGIN SSH SIGNATURE-----" in body:
        return f"{tag} signer is in gpg.ssh.allowedSignersFile"
    if "-----BEGIN PGP SIGNATURE-----" not in body:
        return f"{tag} signer accepted by git ({git.signing_format()})"
    signer, uid = git.tag_signer(tag, raw)
    if not signer:
        raise ReleaseError(f"tag {tag}: gpg names no signer of its signature",
                           hint="check it with: git verify-tag --raw " + tag)
    if not cfg.signatures.signers and not cfg.signatures.public_key:
        # The key git signs with, named by its full fingerprint and signing this tag: no
        # keyring lookup needed (gpg's start-up is most of the check's cost).
        key = _norm((git.config("user.signingkey") or "").rstrip("!"))
        if len(key) == 40 and key in {_norm(s) for s in signer}:
            return f"{tag} is signed by the team's key {signer[-1][-16:]} (user.signingkey)"
    team, source = team_signers(git, cfg)
    allowed = {_norm(f) for f in team}
    if not any(s in allowed or any(len(a) >= 16 and s.endswith(a) for a in allowed)
               for s in map(_norm, signer)):
        who = f"{signer[-1]}{f' ({uid})' if uid else ''}"
        raise ReleaseError(f"tag {tag} is signed by {who}, not by the team's key ({source})",
                           hint="re-sign the tag with the team key, or add that fingerprint "
                                "to [tool.torchship.signatures] signers")
    return f"{tag} is signed by the team's key {signer[-1][-16:]} ({source})"


def pin_images(message: str, digests: dict[str, str]) -> str:
    """The tag message with each image under `Images:` pinned: `name:tag@sha256:...`."""
    lines = message.splitlines(keepends=True)
    if "Images:\n" not in lines:
        return message
    start = lines.index("Images:\n") + 1
    for n in range(start, len(lines)):
        if not lines[n].startswith("- "):
            break
        tag = lines[n][2:].strip()
        if tag in digests:
            lines[n] = f"- {tag}@{digests[tag]}\n"
    return "".join(lines)


def images_in(message: str) -> list[str]:
    """The image tags listed under `Images:` in a release tag's message."""
    lines = message.splitlines()
    if "Images:" not in lines:
        return []
    out = []
    for line in lines[lines.index("Images:") + 1:]:
        if not line.startswith("- "):
            break
        out.append(line[2:].strip())
    return out


def _not_holding_at(git: Git, tag: str, prefix: str, ver: str, *,
                    clean: bool | None = None) -> list[str]:
    """The files bump-my-version names at `tag` that do not hold `ver`: asked in the work
    tree itself when it is the tag's tree (HEAD is the tag's commit, nothing changed or
    untracked: a release's own verify step), else in a detached work tree of the tag.
    `clean`: git status's answer when verify already had it asked (None: ask it here)."""
    if git.head() == git.commit_of(f"refs/tags/{tag}") and (
            clean if clean is not None else not git.status()):
        return version.not_holding(git.top / prefix, ver)
    with tempfile.TemporaryDirectory(prefix="torchship-verify-") as tmp, \
            git.worktree(tag, Path(tmp) / "tree") as tree:
        return version.not_holding(tree / prefix, ver)
