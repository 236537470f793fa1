"""What of a weight file ships (safetensors where the checkpoint allows, else the file and
why), and the card's weights section: written, replaced, and never over a hand edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship.release import weights
from torchship.release.modelcard import CardError

torch = pytest.importorskip("torch")


def test_a_state_dict_checkpoint_ships_as_safetensors_with_the_same_tensors(tmp_path: Path) -> None:
    from safetensors.torch import load

    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    torch.save({"model": state, "optimizer": {"lr": 0.1}, "epoch": 3}, tmp_path / "ckpt.pt")
    data, name, note = weights.payload(tmp_path / "ckpt.pt")
    assert data is not None
    assert name == "ckpt.safetensors"
    assert note == "converted from ckpt.pt, its 'model' state dict"
    back = load(data)
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)
    # The same checkpoint gives the same bytes: the digest planned is the digest pushed.
    assert weights.payload(tmp_path / "ckpt.pt")[0] == data


@pytest.mark.parametrize(("obj", "says"), [
    ([torch.zeros(2)], "kept as .pt: it holds no state dict (a mapping of tensors)"),
    ({"model": {}, "epoch": 1}, "kept as .pt: it holds no state dict (a mapping of tensors)"),
])
def test_a_checkpoint_without_a_state_dict_ships_as_it_is_and_says_why(
        tmp_path: Path, obj: object, says: str) -> None:
    torch.save(obj, tmp_path / "x.pt")
    data, name, note = weights.payload(tmp_path / "x.pt")
    assert (data, name, note) == (None, "x.pt", says)


def test_shared_tensors_are_kept_as_the_checkpoint_with_safetensors_reason(tmp_path: Path) -> None:
    base = torch.zeros(4)
    torch.save({"a": base, "tied": base}, tmp_path / "tied.pt")
    data, name, note = weights.payload(tmp_path / "tied.pt")
    assert data is None
    assert name == "tied.pt"
    assert note.startswith("kept as .pt: safetensors refuses it (")


def test_safetensors_and_other_files_ship_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "m.safetensors").write_bytes(b"x")
    (tmp_path / "m.onnx").write_bytes(b"x")
    assert weights.payload(tmp_path / "m.safetensors") == (None, "m.safetensors",
                                                          "safetensors as trained")
    assert weights.payload(tmp_path / "m.onnx") == (
        None, "m.onnx", "shipped as it is: .onnx is not a PyTorch checkpoint")


def _shipped(digest: str) -> weights.Shipped:
    return weights.Shipped(ref="reg.example.com/t/m-model:1.0.0", weights=(
        weights.Weight("results/train/ckpt.pt", "ckpt.safetensors", digest, 10, "converted"),),
        record="results/train/metrics.json", commit="a" * 40, card="MODEL_CARD.md")


def test_the_card_s_weights_section_is_replaced_and_a_hand_edit_refused() -> None:
    first, second = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    card = "# m\n\nMine.\n\n" + weights.card_block(_shipped(first), "v1.0.0") + "\n\nAlso mine.\n"
    assert weights.card_digests(card) == {"ckpt.safetensors": first}
    replaced = weights._BLOCK.sub(lambda _: weights.card_block(_shipped(second), "v1.0.1"), card)
    assert weights.card_digests(replaced) == {"ckpt.safetensors": second}
    assert replaced.startswith("# m\n\nMine.\n\n")
    assert replaced.endswith("\n\nAlso mine.\n")
    from torchship.release.modelcard import _parse_body

    edited = card.replace("Trained at commit", "Trained (by hand) at commit")
    with pytest.raises(CardError, match="the generated section 'weights' was edited by hand"):
        _parse_body(edited, "MODEL_CARD.md", 1)


def test_the_tag_message_records_and_pins_the_model() -> None:
    shipped = _shipped("sha256:" + "3" * 64)
    message = "Release 1.0.0\n\nImages: none built by this release\n" + shipped.message()
    assert weights.recorded(message) == (shipped.ref, None)
    assert weights.message_digests(message) == {"ckpt.safetensors": "sha256:" + "3" * 64}
    digest = "sha256:" + "4" * 64
    pinned = weights.pin(message, digest)
    assert weights.recorded(pinned) == (shipped.ref, digest)
    assert weights.released(pinned) == (shipped.ref, digest)
    with pytest.raises(weights.WeightsError, match="without a digest"):
        weights.released(message)
