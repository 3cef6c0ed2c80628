"""``audiocl decode --model REF`` on CTC models fine-tuned elsewhere: an HF ``Wav2Vec2ForCTC`` served by the
local HF-hub emulator, and a fairseq fine-tuned ``.pt`` with its ``dict.ltr.txt``. The hypotheses must be
what the source toolkit's own greedy decoding gives (whitespace runs compared as one space: Kaldi text
files are split on whitespace)."""

from __future__ import annotations

import argparse
import itertools
import json

import pytest
import soundfile as sf
import torch

from audiocl.cli.main import main

from .test_hf_hub import COMMIT, _hf_config
from .test_safety_and_convert import FAIRSEQ_CFG, _fairseq_model, _fairseq_state

transformers = pytest.importorskip("transformers")

UTTS = {"u1": 0.45, "u2": 0.8, "u3": 1.1, "u4": 0.6}


def _data_dir(builder, root):
    return builder(root, {u: dict(seconds=s, text="A B") for u, s in UTTS.items()}, seed=3)


def _wavs(data_dir) -> dict[str, torch.Tensor]:
    out = {}
    for line in (data_dir / "wav.scp").read_text().splitlines():
        utt, path = line.split(maxsplit=1)
        out[utt] = torch.from_numpy(sf.read(path, dtype="float32")[0])
    return out


def _decode(model_ref: str, data_dir, out, *extra) -> dict[str, str]:
    assert main(["decode", "--model", model_ref, "--data", str(data_dir), "--out", str(out), *extra]) == 0
    rows = [line.split(maxsplit=1) for line in (out / "text").read_text(encoding="utf-8").splitlines()]
    return {r[0]: " ".join(r[1].split()) if len(r) > 1 else "" for r in rows}


# base-960h's layout (group norm, <pad> = id 0 = blank), and the layout of the HF fine-tuning blog
# ([UNK] and [PAD] appended last, named in tokenizer_config.json; pre-LN with the layer-norm conv stack)
HF_CASES = {
    "base960h": dict(vocab=["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N"], tokens={},
                     config={}, batch=["--batch-seconds", "0.01"]),
    "xlsr_blog": dict(vocab=["|", "a", "b", "c", "d", "e", "[UNK]", "[PAD]"],
                      tokens=dict(unk_token="[UNK]", pad_token="[PAD]", word_delimiter_token="|"),
                      config=dict(feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True), batch=[]),
}


@pytest.mark.parametrize("case", sorted(HF_CASES))
def test_hf_ctc_model_decodes_like_hf(case, server, hub_env, tmp_path, monkeypatch, data_dir_builder):
    """The group-norm model sees each utterance alone (``--batch-seconds 0.01``): its conv statistics include
    padding, in HF as here. The pre-LN model is decoded in padded batches, which must not change a thing."""
    spec = HF_CASES[case]
    vocab = {s: i for i, s in enumerate(spec["vocab"])}
    vocab_file = tmp_path / "vocab.json"
    vocab_file.write_text(json.dumps(vocab))
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(vocab_file), **spec["tokens"])
    torch.manual_seed(4)
    hf = transformers.Wav2Vec2ForCTC(_hf_config(vocab_size=len(vocab), pad_token_id=tokenizer.pad_token_id,
                                                **spec["config"])).eval()
    with torch.no_grad():  # a head that says something: blanks on some frames, letters on others
        hf.lm_head.weight.normal_(0.0, 1.0)
    folder = tmp_path / "hf"
    hf.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert {"vocab.json", "tokenizer_config.json"} <= set(files)
    server.hf_repos["org/tiny-ctc"] = {"commit": COMMIT, "files": files}
    monkeypatch.setenv("HF_ENDPOINT", server.url)

    data = _data_dir(data_dir_builder, tmp_path / "test")
    expected, frames = {}, []
    with torch.no_grad():
        for utt, wav in _wavs(data).items():
            ids = hf(wav[None]).logits.argmax(-1)[0]
            frames.append(ids)
            expected[utt] = " ".join(tokenizer.decode(ids.tolist()).split())
    frames = torch.cat(frames)
    assert (frames == tokenizer.pad_token_id).any() and (frames != tokenizer.pad_token_id).any()
    assert any(expected.values())

    hyps = _decode(f"hf:org/tiny-ctc@{COMMIT}", data, tmp_path / "dec", *spec["batch"])
    assert hyps == expected
    # flashlight's beam search with one hypothesis follows the best path too: it shares the blank and separator
    assert _decode(f"hf:org/tiny-ctc@{COMMIT}", data, tmp_path / "beam", *spec["batch"], "--beam-size", "1") == expected
    n = len(server.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # decoding again: from the cache, no request
    assert _decode(f"hf:org/tiny-ctc@{COMMIT}", data, tmp_path / "dec2", *spec["batch"]) == expected
    assert len(server.requests) == n


def _save_fine_tuned(src, weight, bias, path) -> None:
    """A fairseq fine-tuned checkpoint: ``src``'s encoder under ``w2v_encoder.w2v_model.`` and a CTC head."""
    state = {f"w2v_encoder.w2v_model.{k}": v for k, v in _fairseq_state(src).items()
             if not k.startswith(("quantizer", "project_q", "final_proj"))}
    state["w2v_encoder.proj.weight"], state["w2v_encoder.proj.bias"] = weight, bias
    torch.save({"model": state, "args": argparse.Namespace(**FAIRSEQ_CFG)}, path)


def _fairseq_greedy(logits: torch.Tensor, symbols: list[str]) -> str:
    """fairseq's letter decoding written out: merge repeats, drop the blank <s> (id 0), Dictionary.string
    (drops <s> and </s>, joins with spaces), then ``letter`` post-processing."""
    ids = [i for i, _ in itertools.groupby(logits.argmax(-1).tolist()) if i != 0]
    sentence = " ".join(symbols[i] for i in ids if i not in (0, 2))
    return " ".join(sentence.replace(" ", "").replace("|", " ").split())


def test_fairseq_fine_tuned_checkpoint_decodes_like_fairseq(tmp_path, hub_env, data_dir_builder):
    letters = ["|", "E", "T", "A", "O", "N", "I"]
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + letters
    src = _fairseq_model()
    g = torch.Generator().manual_seed(5)
    weight, bias = torch.randn(len(symbols), 32, generator=g), torch.zeros(len(symbols))
    bias[1:4] = -50.0  # <pad>, </s> and <unk> are never emitted by a trained model
    bias[0] = 1.0
    ckpt_dir = tmp_path / "release"
    ckpt_dir.mkdir()
    _save_fine_tuned(src, weight, bias, ckpt_dir / "wav2vec_tiny_960h.pt")
    (ckpt_dir / "dict.ltr.txt").write_text("".join(f"{s} {100 - i}\n" for i, s in enumerate(letters)))

    data = _data_dir(data_dir_builder, tmp_path / "test")
    expected, frames = {}, []
    with torch.no_grad():
        for utt, wav in _wavs(data).items():
            layers, _ = src.extract_layers(wav[None])
            logits = torch.nn.functional.linear(layers[-1][0], weight, bias)
            frames.append(logits.argmax(-1))
            expected[utt] = _fairseq_greedy(logits, symbols)
    frames = torch.cat(frames)
    assert (frames == 0).any() and (frames != 0).any() and any(expected.values())
    hyps = _decode(str(ckpt_dir / "wav2vec_tiny_960h.pt"), data, tmp_path / "dec", "--batch-seconds", "0.01")
    assert hyps == expected


def test_fairseq_dictionary_conventions(tmp_path):
    from audiocl.tasks.foreign_ctc import fairseq_tokenizer

    path = tmp_path / "dict.ltr.txt"
    path.write_text("| 10\nE 9\n<ctc_blank> 1\nT 8 #fairseq:overwrite\n")
    tok = fairseq_tokenizer(path)
    assert tok.symbols == ["<s>", "<pad>", "</s>", "<unk>", "|", "E", "<ctc_blank>", "T"]
    assert tok.blank_id == 6 and tok.unk_id == 3 and tok.case == "upper"
    assert tok.decode([5, 0, 4, 7, 2, 6, 7]) == "E TT"
    assert tok.encode("e t") == [5, 4, 7]
    assert tok.vocab[6] == "<blank>" and tok.vocab[0] == "<s>"


def test_a_pretrained_model_without_head_is_refused_with_what_to_do(tmp_path, hub_env, data_dir_builder,
                                                                   tiny_release, capsys):
    release, _ = tiny_release
    data = _data_dir(data_dir_builder, tmp_path / "test")
    assert main(["decode", "--model", str(release), "--data", str(data), "--out", str(tmp_path / "o")]) == 1
    assert "needs fine-tuning first" in capsys.readouterr().err


def test_a_head_that_does_not_fit_its_vocabulary_is_named(tmp_path, hub_env, data_dir_builder, capsys):
    _save_fine_tuned(_fairseq_model(), torch.randn(6, 32), torch.randn(6), tmp_path / "ft.pt")
    (tmp_path / "dict.ltr.txt").write_text("| 3\nE 2\nT 1\n")  # 4 specials + 3 = 7 symbols, head has 6
    data = _data_dir(data_dir_builder, tmp_path / "test")
    assert main(["decode", "--model", str(tmp_path / "ft.pt"), "--data", str(data), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "ctc_head.safetensors" in err and "7-symbol vocabulary" in err

