"""Weighted layer sum, pooling, greedy and beam-search CTC decoding, the ARPA writer."""

from __future__ import annotations

import math

import pytest
import torch

from audiocl.data.tokenizer import BpeTokenizer, CharTokenizer, VocabTokenizer
from audiocl.errors import ConfigError
from audiocl.models.ctc_decoding import BeamSearchDecoder, build_lexicon, greedy_decode, write_arpa
from audiocl.nn.pooling import AttentiveStatsPooling, MeanPooling, build_pooling
from audiocl.nn.weighted_sum import WeightedLayerSum

TEXTS = ["HELLO WORLD", "HELLO THERE", "GOOD WORLD", "GOOD MORNING THERE"]


def test_weighted_sum_starts_uniform_and_learns_the_informative_layer():
    torch.manual_seed(0)
    ws = WeightedLayerSum(3, normalize=False)
    layers = [torch.randn(2, 5, 4) for _ in range(3)]
    assert torch.allclose(ws(layers), sum(layers) / 3, atol=1e-6)
    target = layers[2].detach()
    opt = torch.optim.SGD(ws.parameters(), lr=5.0)
    for _ in range(50):
        opt.zero_grad()
        ((ws(layers) - target) ** 2).mean().backward()
        opt.step()
    assert ws.layer_weights().argmax().item() == 2
    with pytest.raises(ValueError, match="expected 3 layers"):
        ws(layers[:2])


def test_pooling_ignores_padding():
    torch.manual_seed(0)
    x = torch.randn(1, 7, 6)
    padded = torch.cat([x, 100 * torch.randn(1, 3, 6)], dim=1)
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[0, 7:] = True
    for pool in (MeanPooling(6), AttentiveStatsPooling(6, attention_dim=8)):
        assert torch.allclose(pool(x), pool(padded, mask), atol=1e-5)
    assert build_pooling("attentive_stats", 6).output_dim == 12
    with pytest.raises(ConfigError):
        build_pooling("max", 6)


def _emissions(tok, text, blanks=2):
    target = tok.encode(text)
    em = torch.full((1, len(target) * (blanks + 1), len(tok)), -6.0)
    for i, t in enumerate(target):
        em[0, (blanks + 1) * i, t] = 0.0
        for k in range(1, blanks + 1):
            em[0, (blanks + 1) * i + k, tok.blank_id] = 0.0
    return em.log_softmax(-1)


def test_greedy_merges_repeats_and_respects_lengths():
    lp = torch.full((2, 6, 4), -9.0)
    for t, k in enumerate([1, 1, 0, 1, 2, 2]):
        lp[0, t, k] = 0.0
        lp[1, t, k] = 0.0
    assert greedy_decode(lp, torch.tensor([6, 3])) == [[1, 1, 2], [1]]


def test_beam_search_lexicon_and_lm_fix_a_misspelling(tmp_path):
    tok = CharTokenizer.build(TEXTS)
    em = _emissions(tok, "HELO WORLD")
    assert tok.decode(greedy_decode(em)[0]) == "HELO WORLD"
    assert BeamSearchDecoder(tok)(em) == ["HELO WORLD"]
    lex = build_lexicon([w for t in TEXTS for w in t.split()], tok)
    arpa = write_arpa(TEXTS, tmp_path / "lm.arpa", order=2)
    assert BeamSearchDecoder(tok, lexicon=lex)(em) == ["HELLO WORLD"]
    assert BeamSearchDecoder(tok, lexicon=lex, lm=arpa)(em) == ["HELLO WORLD"]
    with pytest.raises(ConfigError, match="lexicon"):
        BeamSearchDecoder(tok, lm=arpa)


def test_beam_search_with_a_foreign_vocabulary_whose_blank_is_last(tmp_path):
    """The HF fine-tuning blog's layout: letters first, then [UNK] and [PAD], the CTC blank."""
    tok = VocabTokenizer(["|", *"DEHLORW", "[UNK]", "[PAD]"], blank="[PAD]", unk="[UNK]", case="upper")
    em = _emissions(tok, "HELO WORLD")
    assert tok.decode(greedy_decode(em, blank_id=tok.blank_id)[0]) == "HELO WORLD"
    assert BeamSearchDecoder(tok)(em) == ["HELO WORLD"]
    lex = build_lexicon(["HELLO", "WORLD", "OLD"], tok)
    assert lex["HELLO"] == ["H", "E", "L", "L", "O", "|"]
    assert BeamSearchDecoder(tok, lexicon=lex)(em) == ["HELLO WORLD"]


def test_beam_search_with_bpe_units():
    tok = BpeTokenizer.build(TEXTS * 5, vocab_size=25)
    em = _emissions(tok, "GOOD MORNING")
    assert BeamSearchDecoder(tok)(em) == ["GOOD MORNING"]
    lex = build_lexicon(["GOOD", "MORNING", "HELLO"], tok)
    assert BeamSearchDecoder(tok, lexicon=lex)(em) == ["GOOD MORNING"]


def test_arpa_bigram_is_normalised(tmp_path):
    path = write_arpa(TEXTS, tmp_path / "lm.arpa", order=2)
    uni, bi, bo = {}, {}, {}
    section = None
    for line in path.read_text().splitlines():
        if line.startswith("\\") and line.endswith("grams:"):
            section = int(line[1])
            continue
        parts = line.split("\t")
        if section == 1 and len(parts) >= 2:
            uni[parts[1]] = 10 ** float(parts[0])
            bo[parts[1]] = 10 ** float(parts[2]) if len(parts) == 3 else 1.0
        elif section == 2 and len(parts) == 2:
            bi[tuple(parts[1].split())] = 10 ** float(parts[0])
    words = [w for w in uni if w != "<s>"]
    assert math.isclose(sum(uni[w] for w in words), 1.0, rel_tol=1e-4)
    for h in ("<s>", "HELLO", "GOOD"):
        total = sum(bi[(h, w)] if (h, w) in bi else bo[h] * uni[w] for w in words)
        assert math.isclose(total, 1.0, rel_tol=1e-4), h
