"""CLIP's own architecture as an organism: its tokenizer reads the caption language word by word,
it trains like the CNN+GRU, and its export opens through ``load_model`` with the same embeddings."""

from __future__ import annotations

import json

import pytest
import torch

import labclip_lib.organisms as O
from labclip_lib.models import load_model
from labclip_lib.organisms.clip import bpe_vocabulary, write_caption_tokenizer
from labclip_lib.world.captions import ATTRIBUTE_WORDS

TINY = O.organism_config("complete", 1, recipe="clip", n_scenes=300, epochs=2, batch_size=64, embed_dim=16,
                         transformer_width=32, vision_layers=1, text_layers=1)
CAPTIONS = ["red cube and cyan sphere", "a cube, a sphere and an yellow cylinder", "cyan cylinder", "a red cube"]


@pytest.fixture(scope="module")
def trained():
    data = O.build_data(TINY, cache=False)
    network, history = O.train_organism(TINY, data, progress=False)
    return network, history, data


def test_every_word_is_one_bpe_token_for_the_real_tokenizer(tmp_path):
    words = (*O.VOCABULARY[1:], *ATTRIBUTE_WORDS)
    tokenizer = write_caption_tokenizer(tmp_path, words)
    vocab, _ = bpe_vocabulary(words)
    for word in words:  # "an" is merged last, so it cannot split "cyan"
        assert tokenizer(word, add_special_tokens=False)["input_ids"] == [vocab[word + "</w>"]], word
    with pytest.raises(ValueError, match="lower-case ASCII"):
        bpe_vocabulary(["Red"])
    with pytest.raises(ValueError, match="at least one word"):
        bpe_vocabulary([])


def test_training_ids_are_the_tokenizers_ids(tmp_path):
    network = O.build_network(TINY)
    tokenizer = write_caption_tokenizer(tmp_path, network.vocabulary[1:])
    ids, mask = network.clip_input_ids(*O.WordTokenizer(network.vocabulary)(CAPTIONS))
    expected = tokenizer(CAPTIONS, padding=True, return_tensors="pt")
    assert torch.equal(ids, expected["input_ids"]) and torch.equal(mask, expected["attention_mask"])


def test_clip_fields_are_checked_and_keyed():
    with pytest.raises(ValueError, match="shape the 'clip' architecture only"):
        O.organism_config("complete", patch_size=8)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        O.organism_config("complete", recipe="clip", patch_size=6)
    with pytest.raises(ValueError, match="architecture must be one of cnn-gru, clip"):
        O.organism_config("complete", architecture="vit")
    clip = O.organism_config("complete", recipe="clip")
    assert O.recipe_name(clip) == "clip" and clip.key != O.organism_config("complete", recipe="converged").key
    assert O.OrganismConfig.from_dict(json.loads(json.dumps(clip.to_dict()))) == clip
    assert "architecture" not in O.organism_config("complete").to_dict()  # earlier keys unchanged
    rows = {r["part"]: r["parameters"] for r in O.architecture_table(TINY)}
    assert rows["image encoder (ViT)"] > 0 and rows["text encoder (transformer)"] > 0
    assert rows["total"] == sum(p.numel() for p in O.build_network(TINY).parameters())


def test_clip_organism_trains_deterministically(trained):
    network, history, data = trained
    again, history2 = O.train_organism(TINY, data, progress=False)
    assert history.loss == history2.loss and O.weights_digest(network) == O.weights_digest(again)
    assert history.loss[-1] < history.loss[0]
    assert isinstance(network, O.CLIPOrganism) and network.logit_scale is network.clip.logit_scale


def test_export_opens_through_load_model_with_the_same_embeddings(trained, tmp_path):
    network, _, data = trained
    path = O.export_pretrained(network, TINY, tmp_path / "clip-organism")
    assert (path / "model.safetensors").is_file() and "not a pretrained CLIP" in (path / "README.md").read_text()
    assert O.OrganismConfig.from_dict(json.loads((path / "organism.json").read_text())) == TINY
    hub = load_model(path)
    organism = O.OrganismModel(network, TINY, O.organism_vocabulary(TINY))
    assert organism.preprocess_config["mean"] == hub.preprocess_config["mean"]
    images = data.images[:16]
    assert torch.allclose(hub.encode_images(images), organism.encode_images(images), atol=1e-5)
    assert torch.allclose(hub.encode_texts(CAPTIONS), organism.encode_texts(CAPTIONS), atol=1e-5)
    assert hub.dim == TINY.embed_dim and hub.image_size == TINY.resolution
    with pytest.raises(TypeError, match="only a CLIPOrganism"):
        O.export_pretrained(O.build_network(O.organism_config("complete")), TINY, tmp_path / "cnn")


def test_clip_organism_is_cached_and_reloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("LABCLIP_CACHE", str(tmp_path))
    config = O.organism_config("complete", 2, recipe="clip", n_scenes=200, epochs=1, batch_size=64, embed_dim=16,
                               transformer_width=32, vision_layers=1, text_layers=1)
    path = O.get_organism(config)
    network, meta = O.read_organism(path)
    assert isinstance(network, O.CLIPOrganism) and meta["config"]["architecture"] == "clip"
    model = load_model(path)  # the organism directory opens as an organism
    assert model.encode_texts(["red cube"]).shape == (1, 16)
