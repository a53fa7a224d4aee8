"""PAT: faithful architecture, safe loading, and the BatchModel adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_safetensors

from consumer.errors import ModelLoadError
from consumer.models.pat import (
    PAT_CONFIGS,
    PatModel,
    PatNetwork,
    encoder_parameter_count,
    load_network,
    network_to_bytes,
    sinusoidal_positions,
)
from schemas.events import ACTIVITY_MINUTES

PUBLISHED_ENCODER = {"S": 285_000, "M": 1_000_000, "L": 1_990_000}


def _random_network(size: str, seed: int = 0) -> PatNetwork:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = PatNetwork(PAT_CONFIGS[size])
        network.mean = torch.rand(ACTIVITY_MINUTES) * 50
        network.std = torch.rand(ACTIVITY_MINUTES) * 20 + 1
    return network.eval()


def _weeks(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(1.0, 100.0, (n, ACTIVITY_MINUTES)).astype(np.float32)


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_encoder_parameter_counts_match_the_paper(size: str) -> None:
    with torch.device("meta"):
        network = PatNetwork(PAT_CONFIGS[size])
    count = encoder_parameter_count(network)
    assert abs(count - PUBLISHED_ENCODER[size]) / PUBLISHED_ENCODER[size] < 0.05, count
    assert {"S": 274_720, "M": 993_440, "L": 1_984_192}[size] == count


@pytest.mark.parametrize(
    ("size", "tokens", "heads"), [("S", 560, 6), ("M", 560, 12), ("L", 1120, 12)]
)
def test_shapes_follow_keras_key_dim_per_head(size: str, tokens: int, heads: int) -> None:
    config = PAT_CONFIGS[size]
    assert config.tokens == tokens and config.heads == heads
    with torch.device("meta"):
        network = PatNetwork(config)
    state = network.state_dict()
    assert state["blocks.0.attn.query.weight"].shape == (heads * 96, 96)
    assert state["blocks.0.attn.query.bias"].shape == (heads * 96,)
    assert state["blocks.0.attn.out.weight"].shape == (96, heads * 96)
    assert state["patch_embed.weight"].shape == (96, config.patch)
    assert state["mean"].shape == state["std"].shape == (ACTIVITY_MINUTES,)
    norm = network.blocks[0].norm1
    assert isinstance(norm, torch.nn.LayerNorm) and norm.eps == 1e-6
    assert "positions" not in state  # fixed, rebuilt, never stored


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_output_shapes_and_range(size: str) -> None:
    model = PatModel(_random_network(size), version="t", sub_batch_size=2)
    probs = model.predict_batch(_weeks(3))
    assert probs.shape == (3,) and probs.dtype == np.float64
    assert np.all((probs > 0) & (probs < 1))


def test_positions_are_sin_then_cos_concatenated() -> None:
    table = sinusoidal_positions(560, 96)
    assert table.shape == (560, 96)
    np.testing.assert_array_equal(table[0, :48], 0.0)  # sin(0)
    np.testing.assert_array_equal(table[0, 48:], 1.0)  # cos(0)
    pos, i = 7, 5
    angle = pos / 10_000 ** (2 * i / 96)
    assert table[pos, i] == pytest.approx(np.sin(angle), abs=1e-6)
    assert table[pos, 48 + i] == pytest.approx(np.cos(angle), abs=1e-6)
    assert table[pos, 1] == pytest.approx(np.sin(pos / 10_000 ** (2 / 96)), abs=1e-6)  # not cos


def test_roundtrip_is_exact_and_uses_no_pickle_nor_random_init(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    network = _random_network("S")
    data = network_to_bytes(network, {"version": "t"})

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading must not unpickle")

    def real_init_forbidden(tensor: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        assert tensor.device.type == "meta", "loading must not run random init on real tensors"
        return tensor

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", real_init_forbidden)
    monkeypatch.setattr(torch.nn.init, "uniform_", real_init_forbidden)
    loaded = load_network(data, size="S", source="pat.safetensors")
    assert not any(p.requires_grad for p in loaded.parameters())
    x = torch.from_numpy(_weeks(2))
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), network(x), rtol=0, atol=0)


def test_sub_batches_give_the_same_scores() -> None:
    network = _random_network("S")
    x = _weeks(5)
    one = PatModel(network, version="t", sub_batch_size=1).predict_batch(x)
    three = PatModel(network, version="t", sub_batch_size=3).predict_batch(x)
    np.testing.assert_allclose(one, three, rtol=1e-5, atol=1e-6)
    assert PatModel(network, version="t").predict_batch(x[:0]).shape == (0,)


def test_standardisation_uses_the_stored_buffers() -> None:
    network = _random_network("S")
    x = _weeks(2)
    before = PatModel(network, version="t").predict_batch(x)
    network.std = network.std * 3
    after = PatModel(network, version="t").predict_batch(x)
    assert np.max(np.abs(before - after)) > 1e-4


def test_wrong_tensor_shape_names_the_tensor_and_both_shapes() -> None:
    state = {k: v.clone() for k, v in _random_network("M").state_dict().items()}
    state["blocks.1.attn.query.weight"] = torch.zeros(576, 96)
    data = save_safetensors(state, metadata={"size": "M"})
    with pytest.raises(ModelLoadError) as err:
        load_network(data, size="M", source="pat-m.safetensors")
    message = str(err.value)
    assert "blocks.1.attn.query.weight" in message and "[576, 96]" in message
    assert "[1152, 96]" in message and "\n" not in message


def test_a_size_s_file_is_refused_as_size_m() -> None:
    state = dict(_random_network("S").state_dict())
    data = save_safetensors(state)  # no size metadata: the tensors must speak
    with pytest.raises(
        ModelLoadError, match=r"blocks\.0\.attn\.query\.weight has shape \[576, 96\]"
    ):
        load_network(data, size="M", source="pat.safetensors")
    tagged = network_to_bytes(_random_network("S"))
    with pytest.raises(ModelLoadError, match="metadata says PAT size S"):
        load_network(tagged, size="M", source="pat.safetensors")


def test_non_safetensors_and_bad_suffix_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a safetensors file"):
        load_network(b"\x80\x04garbage-pickle-bytes", size="S", source="pat.safetensors")
    path = tmp_path / "pat.pt"
    with pytest.raises(ModelLoadError, match=r"\.safetensors"):
        PatModel.from_bytes(
            network_to_bytes(_random_network("S")), path=path, size="S", version="t"
        )


def test_zero_std_is_refused() -> None:
    network = _random_network("S")
    network.std = torch.zeros(ACTIVITY_MINUTES)
    with pytest.raises(ModelLoadError, match="std"):
        load_network(network_to_bytes(network), size="S", source="pat.safetensors")


def test_wrong_input_shape_raises_value_error() -> None:
    model = PatModel(_random_network("S"), version="t")
    with pytest.raises(ValueError, match="10080"):
        model.predict_batch(np.zeros((1, 100), dtype=np.float32))
    model.warmup()
