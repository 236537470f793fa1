"""The model card a release writes into its commit, in Hugging Face's format.

YAML metadata first (`library_name`, `tags`, `model-index` with one result per environment
of the evidence), then the usual sections: intended use, training data, training procedure
with its hyperparameters, evaluation per environment, the environment fingerprint with image
digests, limitations. The release writes the sections it knows between marker comments,
each carrying a hash of what it wrote:

    <!-- torchship:begin evaluation sha256=1f2e3d4c5b6a -->
    ...
    <!-- torchship:end evaluation -->

Everything outside the markers is the author's and is kept by every release, as are the
metadata keys the release does not write. A generated section edited by hand (its hash no
longer matches) or broken markers are refused before anything is written: the edit would be
lost otherwise. Pure: text in, text out (the release step writes it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torchship import config as tsconfig
from torchship.errors import TorchshipError
from torchship.matrix.records import Record, Run
from torchship.matrix.versions import of_record

BEGIN = re.compile(r"^<!-- torchship:begin (?P<name>[a-z-]+) sha256=(?P<sha>[0-9a-f]{12}) -->$")
END = re.compile(r"^<!-- torchship:end (?P<name>[a-z-]+) -->$")
MARK = re.compile(r"^<!-- torchship:(begin|end)\b")
# The sections the release writes, in the order a new card has them.
GENERATED = ("summary", "training-data", "training-procedure", "evaluation", "environment")


class CardError(TorchshipError):
    """The previous model card cannot be updated without losing what a person wrote."""

    def __init__(self, path: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {problem}", hint=hint)


@dataclass(frozen=True)
class CardInput:
    """What a card is made of: the project, the release, its evidence and configuration."""

    name: str
    version: str
    tag: str
    commit: str
    run: Run
    reference: str | None
    headline: Sequence[str]
    cfg: tsconfig.Config


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _block(name: str, body: str) -> str:
    body = body.strip("\n") + "\n"
    return f"<!-- torchship:begin {name} sha256={_sha(body)} -->\n{body}<!-- torchship:end {name} -->"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value).replace("|", "\\|")


def _trained(c: CardInput) -> list[Record]:
    return sorted((r for r in c.run.records if r.training is not None),
                  key=lambda r: r.env != c.reference)


def metadata(c: CardInput) -> dict[str, Any]:
    """The YAML metadata torchship writes (Hugging Face's keys)."""
    results = []
    for r in _trained(c):
        assert r.training is not None
        data = r.training.data or {}
        names = [m for m in (c.headline or r.training.final) if m in r.training.final]
        dataset: dict[str, Any] = {"type": str(data.get("name") or "custom"),
                                   "name": str(data.get("name") or "training data")}
        if data.get("sha256"):
            dataset["revision"] = str(data["sha256"])
        results.append({
            "task": {"type": c.cfg.release.task},
            "dataset": dataset,
            # The environment names each result: Hugging Face's `source` needs a URL, and a
            # matrix run has none (its run id is in the card's text).
            "metrics": [{"type": m, "value": float(r.training.final[m]), "name": f"{m} ({r.env})"}
                        for m in names],
        })
    return {"library_name": "pytorch", "tags": ["pytorch", "torchship"],
            "model-index": [{"name": c.name, "results": results}]}


def sections(c: CardInput) -> dict[str, str]:
    """The generated sections' bodies, by name."""
    trained = _trained(c)
    ref = trained[0].training if trained else None
    summary = [f"# {c.name} {c.version}", "",
               f"Released as `{c.tag}` from commit `{c.commit[:12]}`; every number below is "
               f"from the matrix run `{c.run.run_id}` of that commit "
               f"({', '.join(r.env for r in c.run.records)}), which passed."]
    data = ["## Training data", ""]
    if ref is not None and ref.data:
        config = ref.data.get("config") or {}
        data += [f"{ref.data.get('name') or 'The data'}: sha256 `{ref.data.get('sha256')}`.", "",
                 "| parameter | value |", "|---|---|"]
        data += [f"| {k} | {_cell(v)} |" for k, v in config.items()]
    else:
        data.append("Not recorded by the training run (`data` in its metrics file: "
                    "torchship's docs/contract.md).")
    procedure = ["## Training procedure", "",
                 f"Command: `{' '.join(c.cfg.project.train)}`", "", "### Training hyperparameters", ""]
    if ref is not None and ref.args:
        procedure += ["| hyperparameter | value |", "|---|---|"]
        procedure += [f"| {k} | {_cell(v)} |" for k, v in ref.args.items()]
    elif ref is not None:
        procedure.append(f"seed {ref.seed}, {len(ref.epochs)} evaluations; the run recorded no "
                         "`args`.")
    else:
        procedure.append("No training run in the evidence.")
    evaluation = ["## Evaluation", "", "Final metrics of the training run in each environment"
                  + (f" (reference: `{c.reference}`)" if c.reference else "") + ".", ""]
    names = list(dict.fromkeys(m for r in trained if r.training for m in r.training.final))
    if names:
        evaluation += ["| environment | device | deterministic | " + " | ".join(names) + " |",
                       "|---|---|---|" + "---:|" * len(names)]
        for r in trained:
            assert r.training is not None
            cells = [_cell(r.training.final.get(m)) for m in names]
            evaluation.append(f"| {r.env} | {r.training.device} | "
                              f"{'yes' if r.training.deterministic else 'no'} | "
                              + " | ".join(cells) + " |")
    else:
        evaluation.append("No final metrics recorded.")
    env = ["## Environment", "", "| environment | image | digest | torch | CUDA | cuDNN | Python "
           "| driver | GPU |", "|---|---|---|---|---|---|---|---|---|"]
    for r in c.run.records:
        v = of_record(r, c.run.host)
        env.append(f"| {r.env} | {r.image or 'host (no image)'} | {r.image_digest or '-'} | "
                   f"{_cell(v.torch)} | {_cell(v.cuda)} | {_cell(v.cudnn)} | {_cell(v.python)} | "
                   f"{_cell(v.driver)} | {v.gpu or 'none'} |")
    bases = [(name, variant, base.ref(variant)) for name, base in c.cfg.bases.items()
             for variant in tsconfig.VARIANTS]
    if bases:
        env += ["", "Pinned bases:", ""] + [f"- {n} {variant}: `{ref_}`" for n, variant, ref_ in bases]
    return {"summary": "\n".join(summary), "training-data": "\n".join(data),
            "training-procedure": "\n".join(procedure), "evaluation": "\n".join(evaluation),
            "environment": "\n".join(env)}


HAND = {
    "intended-use": "## Intended use\n\n_For the author: what the model is for, who should use it, "
                    "and what it must not be used for._",
    "limitations": "## Limitations\n\n_For the author: known failure modes, biases, and the "
                   "conditions the evaluation above does not cover._",
}


def _split(text: str, path: str) -> tuple[dict[str, Any], str]:
    """The previous card's metadata and body."""
    import yaml

    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---\n", 4)
    if end < 0:
        raise CardError(path, "its YAML metadata (from the first `---`) is not closed by a `---` line",
                        hint="close it, or remove the metadata")
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise CardError(path, f"its YAML metadata is not valid{where}",
                        hint="fix it, or remove the metadata block") from exc
    if not isinstance(meta, dict):
        raise CardError(path, "its YAML metadata is not a mapping", hint="fix it")
    return meta, text[end + 5:]


def _parse_body(body: str, path: str, offset: int) -> list[tuple[str | None, str]]:
    """The body as pieces: (name, None) for a generated section, (None, text) for the author's."""
    pieces: list[tuple[str | None, str]] = []
    hand: list[str] = []
    lines = body.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        begin = BEGIN.match(line)
        if begin is None:
            if MARK.match(line):
                raise CardError(path, f"line {i + offset}: a torchship marker out of place "
                                      f"({line.strip()})",
                                hint="restore the begin/end pair, or delete both lines and "
                                     "what lies between them to regenerate the section")
            hand.append(line)
            i += 1
            continue
        name = begin["name"]
        try:
            j = next(k for k in range(i + 1, len(lines)) if MARK.match(lines[k]))
        except StopIteration:
            raise CardError(path, f"line {i + offset}: section {name!r} has no end marker",
                            hint=f"add `<!-- torchship:end {name} -->`, or delete the begin "
                                 "line to regenerate the section") from None
        end = END.match(lines[j])
        if end is None or end["name"] != name:
            raise CardError(path, f"line {i + offset}: section {name!r} is not closed before "
                                  f"line {j + offset}",
                            hint=f"add `<!-- torchship:end {name} -->` where it ends")
        content = "\n".join(lines[i + 1:j]) + "\n"
        if _sha(content) != begin["sha"]:
            raise CardError(path, f"line {i + offset}: the generated section {name!r} was edited "
                                  "by hand, and a release rewrites it",
                            hint="move your text outside its torchship markers (it is then kept), "
                                 "or undo the edit")
        pieces.append((None, "\n".join(hand)))
        hand = []
        pieces.append((name, ""))
        i = j + 1
    pieces.append((None, "\n".join(hand)))
    return pieces


def render(c: CardInput, previous: str | None, *, path: str) -> str:
    """The card for this release: new, or `previous` with its generated parts replaced."""
    import yaml

    generated = sections(c)
    meta = metadata(c)
    if previous is None:
        body_parts = [_block("summary", generated["summary"]), HAND["intended-use"],
                      *(_block(n, generated[n]) for n in GENERATED[1:]), HAND["limitations"]]
        body = "\n\n".join(body_parts) + "\n"
    else:
        old_meta, old_body = _split(previous, path)
        offset = previous[:len(previous) - len(old_body)].count("\n") + 1
        pieces = _parse_body(old_body, path, offset)
        seen = [n for n, _ in pieces if n is not None]
        out = [text if name is None else _block(name, generated.get(name, "")) for name, text in pieces]
        body = "\n".join(out)
        missing = [n for n in GENERATED if n not in seen]
        if missing:  # a section the author deleted comes back at the end, where it is seen
            body = body.rstrip("\n") + "\n\n" + "\n\n".join(_block(n, generated[n]) for n in missing) + "\n"
        tags = [*old_meta.get("tags", []), *(t for t in meta["tags"] if t not in old_meta.get("tags", []))] \
            if isinstance(old_meta.get("tags"), list) else meta["tags"]
        meta = {**old_meta, **meta, "tags": tags,
                "library_name": old_meta.get("library_name", meta["library_name"])}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{body.lstrip(chr(10))}"


def project_name(cfg: tsconfig.Config) -> str:
    """The distribution's name from pyproject.toml (the card's title and model-index name)."""
    return cfg.pyproject.name or cfg.root.name
