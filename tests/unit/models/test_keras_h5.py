"""Keras H5 → safetensors: tensor placement, forward pass against numpy Keras, refusals.

The H5 files are written here with h5py in the Keras 2 layout of the published PAT files
(``encoder_layer_1_transformer/encoder_layer_1_attention/query/kernel:0``, …); the
reference forward pass below follows Keras' MultiHeadAttention semantics directly on the
Keras-shaped arrays (einsums over (96, heads, 96) kernels), independent of the converter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import torch
from safetensors import safe_open

from consumer import cli
from consumer.errors import ModelLoadError
from consumer.models.keras_h5 import convert_keras_h5
from consumer.models.pat import PAT_CONFIGS, encoder_parameter_count, load_network
from schemas.events import ACTIVITY_MINUTES
from tests.keras_files import keras_weights as _keras_weights
from tests.keras_files import write_h5 as _write_h5

h5py = pytest.importorskip("h5py")

Arrays = dict[str, npt.NDArray[np.float32]]
E, FF, HEAD = 96, 256, 128
S = PAT_CONFIGS["S"]


# ---- an independent numpy implementation of the Keras forward pass ----------------------


def _positions(tokens: int, dim: int) -> npt.NDArray[np.float64]:
    position = np.arange(tokens, dtype=np.float64)[:, None]
    div_term = np.exp(np.arange(0, dim, 2) * (-np.log(10000.0) / dim))
    return np.concatenate([np.sin(position * div_term), np.cos(position * div_term)], axis=-1)


def _layer_norm(
    x: npt.NDArray[np.float64], gamma: npt.NDArray[np.float32], beta: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    normed: npt.NDArray[np.float64] = (x - mu) / np.sqrt(var + 1e-6) * gamma + beta
    return normed


def _keras_mha(x: npt.NDArray[np.float64], w: Arrays, a: str) -> npt.NDArray[np.float64]:
    q = np.einsum("te,ehk->thk", x, w[f"{a}/query/kernel"]) + w[f"{a}/query/bias"]
    k = np.einsum("te,ehk->thk", x, w[f"{a}/key/kernel"]) + w[f"{a}/key/bias"]
    v = np.einsum("te,ehk->thk", x, w[f"{a}/value/kernel"]) + w[f"{a}/value/bias"]
    scores = np.einsum("thk,shk->hts", q / np.sqrt(E), k)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    probs = scores / scores.sum(-1, keepdims=True)
    attended = np.einsum("hts,shk->thk", probs, v)
    out = np.einsum("thk,hke->te", attended, w[f"{a}/attention_output/kernel"])
    projected: npt.NDArray[np.float64] = out + w[f"{a}/attention_output/bias"]
    return projected


def _keras_forward(
    week: npt.NDArray[np.float32],
    w: Arrays,
    mean: npt.NDArray[np.float32],
    std: npt.NDArray[np.float32],
    *,
    patch: int,
    blocks: int,
) -> tuple[npt.NDArray[np.float64], float, float]:
    """Pooled encoder output (96,), logit and P(depression) for one week, as Keras does."""
    x = ((week.astype(np.float64) - mean) / std).reshape(-1, patch)
    x = x @ w["dense/kernel"] + w["dense/bias"]
    x = x + _positions(x.shape[0], E)
    for n in range(1, blocks + 1):
        p = f"encoder_layer_{n}"
        x = _layer_norm(
            x + _keras_mha(x, w, f"{p}_attention"), w[f"{p}_norm1/gamma"], w[f"{p}_norm1/beta"]
        )
        hidden = np.maximum(x @ w[f"{p}_ff1/kernel"] + w[f"{p}_ff1/bias"], 0.0)
        ffn = hidden @ w[f"{p}_ff2/kernel"] + w[f"{p}_ff2/bias"]
        x = _layer_norm(x + ffn, w[f"{p}_norm2/gamma"], w[f"{p}_norm2/beta"])
    pooled = x.mean(axis=0)
    hidden = np.maximum(pooled @ w["dense_128/kernel"] + w["dense_128/bias"], 0.0)
    logit = float((hidden @ w["output/kernel"] + w["output/bias"])[0])
    return pooled, logit, 1.0 / (1.0 + np.exp(-logit))


@pytest.fixture
def standardisation() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(3)
    mean = rng.uniform(0, 50, ACTIVITY_MINUTES).astype(np.float32)
    std = rng.uniform(5, 30, ACTIVITY_MINUTES).astype(np.float32)
    return mean, std


def test_every_tensor_lands_in_place(
    tmp_path: Path, standardisation: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]
) -> None:
    w = _keras_weights(S.blocks, S.heads, S.patch, head=True)
    mean, std = standardisation
    data = convert_keras_h5(_write_h5(tmp_path / "pat.h5", w), size="S", mean=mean, std=std)
    network = load_network(data, size="S")
    assert encoder_parameter_count(network) == 274_720  # the PAT-S encoder summary upstream
    state = {k: v.numpy() for k, v in network.state_dict().items()}
    a = "encoder_layer_1_attention"
    assert state["patch_embed.weight"][5, 3] == w["dense/kernel"][3, 5]
    for proj in ("query", "key", "value"):
        kernel, bias = w[f"{a}/{proj}/kernel"], w[f"{a}/{proj}/bias"]
        for i, h, j in ((0, 0, 0), (17, 4, 95), (95, 5, 1)):
            assert state[f"blocks.0.attn.{proj}.weight"][h * E + j, i] == kernel[i, h, j]
        assert state[f"blocks.0.attn.{proj}.bias"][3 * E + 7] == bias[3, 7]
    out = w[f"{a}/attention_output/kernel"]
    assert state["blocks.0.attn.out.weight"][11, 2 * E + 40] == out[2, 40, 11]
    np.testing.assert_array_equal(state["blocks.0.attn.out.bias"], w[f"{a}/attention_output/bias"])
    np.testing.assert_array_equal(state["blocks.0.norm1.weight"], w["encoder_layer_1_norm1/gamma"])
    np.testing.assert_array_equal(state["blocks.0.norm2.bias"], w["encoder_layer_1_norm2/beta"])
    np.testing.assert_array_equal(state["blocks.0.ffn.0.weight"], w["encoder_layer_1_ff1/kernel"].T)
    np.testing.assert_array_equal(state["blocks.0.ffn.2.weight"], w["encoder_layer_1_ff2/kernel"].T)
    np.testing.assert_array_equal(state["head.0.weight"], w["dense_128/kernel"].T)
    np.testing.assert_array_equal(state["head.2.bias"], w["output/bias"])
    np.testing.assert_array_equal(state["mean"], mean)
    np.testing.assert_array_equal(state["std"], std)


@pytest.mark.parametrize("full_model", [False, True], ids=["save_weights", "model.save"])
def test_forward_matches_numpy_keras(
    tmp_path: Path,
    standardisation: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
    full_model: bool,
) -> None:
    w = _keras_weights(S.blocks, S.heads, S.patch, head=True)
    mean, std = standardisation
    h5 = _write_h5(tmp_path / "pat.h5", w, full_model=full_model)
    network = load_network(
        convert_keras_h5(h5, size="S", mean=mean, std=std, head="file"), size="S"
    )
    week = np.random.default_rng(11).gamma(1.0, 40.0, ACTIVITY_MINUTES).astype(np.float32)
    pooled, logit, prob = _keras_forward(week, w, mean, std, patch=S.patch, blocks=S.blocks)
    with torch.inference_mode():
        x = torch.from_numpy(week[None, :])
        got_pooled = network.encode(x).mean(dim=1)[0].double().numpy()
        got_logit = float(network.logits(x)[0])
        got_prob = float(network(x)[0])
    np.testing.assert_allclose(got_pooled, pooled, atol=1e-4, rtol=0)
    assert 0.05 < prob < 0.95  # not saturated, so the comparison means something
    assert abs(got_logit - logit) < 1e-4
    assert abs(got_prob - prob) < 1e-4


def test_wrong_shape_is_one_line_naming_dataset_and_shapes(tmp_path: Path) -> None:
    w = _keras_weights(S.blocks, S.heads, S.patch, head=False)
    w["encoder_layer_1_ff1/kernel"] = np.zeros((E, 255), np.float32)
    h5 = _write_h5(tmp_path / "pat.h5", w)
    with pytest.raises(ModelLoadError) as err:
        convert_keras_h5(h5, size="S", mean=None, std=None)
    message = str(err.value)
    assert "\n" not in message
    assert "encoder_layer_1_transformer/encoder_layer_1_ff1/kernel:0" in message
    assert "[96, 255]" in message and "[96, 256]" in message


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    m = PAT_CONFIGS["M"]
    h5 = _write_h5(tmp_path / "m.h5", _keras_weights(m.blocks, m.heads, m.patch, head=False))
    with pytest.raises(
        ModelLoadError,
        match=r"query/kernel:0 has shape \[96, 12, 96\] but PAT-S needs \[96, 6, 96\]",
    ):
        convert_keras_h5(h5, size="S", mean=None, std=None)


def test_missing_and_unknown_weights_are_refused(tmp_path: Path) -> None:
    w = _keras_weights(S.blocks, S.heads, S.patch, head=False)
    del w["encoder_layer_1_norm2/beta"]
    w["mask_layer/mask_token"] = np.zeros((1, 1, E), np.float32)  # an MAE, not an encoder
    with pytest.raises(ModelLoadError) as err:
        convert_keras_h5(_write_h5(tmp_path / "pat.h5", w), size="S", mean=None, std=None)
    message = str(err.value)
    assert "\n" not in message
    assert "missing Keras variables: encoder_layer_1_norm2/beta" in message
    assert "unexpected datasets: mask_layer/mask_layer/mask_token:0" in message


def test_encoder_only_file_gets_a_labelled_deterministic_untrained_head(tmp_path: Path) -> None:
    h5 = _write_h5(tmp_path / "pat.h5", _keras_weights(S.blocks, S.heads, S.patch, head=False))
    first = convert_keras_h5(h5, size="S", mean=None, std=None)
    assert convert_keras_h5(h5, size="S", mean=None, std=None, head="init") == first
    out = tmp_path / "pat.safetensors"
    out.write_bytes(first)
    with safe_open(str(out), framework="np") as f:
        meta = f.metadata()
    assert meta["head"] == "untrained" and meta["size"] == "S"
    assert meta["clinically_valid"] == "false"
    assert meta["standardisation"].startswith("none: mean 0, std 1")
    network = load_network(first, size="S")
    assert torch.equal(network.mean, torch.zeros(ACTIVITY_MINUTES))
    assert torch.equal(network.std, torch.ones(ACTIVITY_MINUTES))
    assert float(network.state_dict()["head.0.weight"].abs().sum()) > 0
    with pytest.raises(ModelLoadError, match="no depression head"):
        convert_keras_h5(h5, size="S", mean=None, std=None, head="file")


def test_head_init_refuses_to_drop_a_trained_head(tmp_path: Path) -> None:
    h5 = _write_h5(tmp_path / "pat.h5", _keras_weights(S.blocks, S.heads, S.patch, head=True))
    with pytest.raises(ModelLoadError, match="has a trained head"):
        convert_keras_h5(h5, size="S", mean=None, std=None, head="init")


@pytest.mark.parametrize(
    ("mean", "std", "match"),
    [
        (np.zeros(ACTIVITY_MINUTES), None, "both mean and std"),
        (np.zeros(10), np.ones(10), r"mean has shape \[10\]"),
        (np.zeros(ACTIVITY_MINUTES), np.zeros(ACTIVITY_MINUTES), "std has zero"),
    ],
)
def test_bad_standardisation_is_refused(
    tmp_path: Path, mean: np.ndarray | None, std: np.ndarray | None, match: str
) -> None:
    h5 = _write_h5(tmp_path / "pat.h5", _keras_weights(S.blocks, S.heads, S.patch, head=False))
    with pytest.raises(ModelLoadError, match=match):
        convert_keras_h5(h5, size="S", mean=mean, std=std)


def test_not_hdf5_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "pat.h5"
    bogus.write_bytes(b"not an hdf5 file")
    with pytest.raises(ModelLoadError, match="not a readable HDF5"):
        convert_keras_h5(bogus, size="S", mean=None, std=None)


def test_cli_convert_h5(
    tmp_path: Path,
    standardisation: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    h5 = _write_h5(tmp_path / "pat.h5", _keras_weights(S.blocks, S.heads, S.patch, head=False))
    mean, std = standardisation
    np.save(tmp_path / "mean.npy", mean)
    np.save(tmp_path / "std.npy", std)
    out = tmp_path / "pat-s.safetensors"
    argv = ["models", "convert-h5", str(h5), "--size", "S", "--out", str(out)]
    argv += ["--mean", str(tmp_path / "mean.npy"), "--std", str(tmp_path / "std.npy")]
    assert cli.main(argv) == 0
    assert "head: untrained" in capsys.readouterr().out
    network = load_network(out.read_bytes(), size="S")
    np.testing.assert_array_equal(network.std.numpy(), std)
    assert cli.main(["models", "convert-h5", str(h5), "--size", "M", "--out", str(out)]) == 1
    assert "PAT-M needs" in capsys.readouterr().err
