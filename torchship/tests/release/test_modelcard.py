"""The model card's format, from hand-made records: Hugging Face's library reads what the
release writes (metadata and model-index), and a second card keeps what a person wrote.
The real card, from a real matrix record, is test_release_evidence.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.matrix.records import Epoch, Record, Run, Training
from torchship.release import modelcard

ROOT = Path(__file__).resolve().parents[3]  # the template, beside the tool


def _record(env: str, accuracy: float) -> Record:
    training = Training(seed=0, device="cpu", deterministic=True,
                        epochs=(Epoch(1, {"loss": 0.5, "accuracy": accuracy}, 1.0),),
                        final={"loss": 0.5, "accuracy": accuracy},
                        args={"lr": 0.003, "batch_size": 128, "device": None},
                        data={"name": "spirals", "sha256": "ab" * 32, "config": {"n": 256}},
                        env={"torch": "2.13.0"}, commit="c0ffee")
    return Record(env=env, image=f"reg/app:{env}-devel", image_digest="sha256:" + "1" * 64,
                  training=training,
                  fingerprint={"torch": "2.13.0", "python": "3.11.2", "cuda": None, "gpus": []})


def _card(previous: str | None, *, version: str = "0.2.0") -> str:
    run = Run(run_id="20260101T000000Z-c0ffee", created="2026-01-01T00:00:00+00:00",
              mode="containers", records=(_record("cpu", 0.75), _record("cpu-b", 0.74)),
              host={"git": {"commit": "c0ffee" * 6, "dirty": False}})
    cfg = tsconfig.load(ROOT, use_local=False)
    return modelcard.render(modelcard.CardInput(
        name="mlproject", version=version, tag=f"v{version}", commit="c0ffee" * 6, run=run,
        reference="cpu", headline=["accuracy"], cfg=cfg), previous, path="MODEL_CARD.md")


def test_the_card_is_a_hugging_face_model_card_with_its_model_index() -> None:
    from huggingface_hub import ModelCard

    text = _card(None)
    card = ModelCard(text)
    assert [(r.metric_type, r.metric_value, r.metric_name, r.dataset_revision)
            for r in card.data.eval_results] == [
        ("accuracy", 0.75, "accuracy (cpu)", "ab" * 32), ("accuracy", 0.74, "accuracy (cpu-b)", "ab" * 32)]
    assert card.data.library_name == "pytorch"
    # Round trip: the library's own rendering of the card reads back the same metadata.
    assert ModelCard(str(card)).data.to_dict() == card.data.to_dict()
    assert "| lr | 0.003 |" in text
    assert "| cpu-b | reg/app:cpu-b-devel | sha256:" + "1" * 64 in text


def test_a_second_card_keeps_the_authors_sections_and_metadata() -> None:
    first = _card(None)
    mine = first.replace("_For the author: known failure modes, biases, and the conditions the "
                         "evaluation above does not cover._", "Only spirals.\n\n## My notes\n\nHand-made.")
    mine = mine.replace("\n---\n", "\nlicense: mit\n---\n", 1)
    second = _card(mine, version="0.3.0")
    assert "Only spirals.\n\n## My notes\n\nHand-made." in second
    assert "# mlproject 0.3.0" in second
    assert "license: mit" in second
    assert _card(second, version="0.3.0") == second  # stable: nothing drifts between releases


@pytest.mark.parametrize(("edit", "says"), [
    (lambda t: t.replace("## Evaluation\n", "## Evaluation\nmine\n", 1),
     "the generated section 'evaluation' was edited by hand"),
    (lambda t: t.replace("<!-- torchship:end evaluation -->\n", "", 1),
     "section 'evaluation' is not closed before line"),
    (lambda t: t.replace("---\nlibrary_name", "---\nlibrary_name: [", 1),
     "its YAML metadata is not valid"),
])
def test_a_card_the_release_cannot_update_safely_is_one_line(edit: object, says: str) -> None:
    assert callable(edit)
    with pytest.raises(modelcard.CardError) as info:
        _card(edit(_card(None)))
    assert says in info.value.render()
    assert info.value.render().startswith("MODEL_CARD.md: ")
    assert "\n" not in info.value.render()
