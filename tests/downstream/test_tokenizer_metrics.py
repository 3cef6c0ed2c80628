"""Tokenizers, WER/CER, classification metrics and the RESULTS.md writer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audiocl.data.tokenizer import BpeTokenizer, CharTokenizer, VocabTokenizer, build_tokenizer, load_tokenizer
from audiocl.errors import ConfigError, DataDirError
from audiocl.metrics.asr import cer, count_errors, score_texts, wer
from audiocl.metrics.classification import classification_metrics, plot_confusion
from audiocl.metrics.results import asr_table, collect_results, update_results_section

TEXTS = ["THE QUICK BROWN FOX", "JUMPS OVER THE LAZY DOG", "hello world", "A SMALL TEST SENTENCE"] * 5


def test_char_tokenizer_round_trip_and_save(tmp_path):
    tok = CharTokenizer.build(TEXTS)
    assert tok.vocab[:3] == ["<blank>", "<unk>", "|"]
    ids = tok.encode("the  lazy   fox")
    assert 0 not in ids
    assert tok.decode(ids) == "THE LAZY FOX"
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.vocab == tok.vocab and again.encode("hello") == tok.encode("hello")


def test_char_tokenizer_oov_mapped_and_counted_or_reported():
    tok = CharTokenizer.build(TEXTS)
    ids = tok.encode("HÉLLO 42", utt_id="u1")
    assert ids.count(tok.unk_id) == 3
    assert tok.oov_counts["É"] == 1 and tok.oov_counts["4"] == 1
    assert "3 out-of-vocabulary" in tok.oov_report()
    strict = CharTokenizer.build(TEXTS, oov="error")
    with pytest.raises(DataDirError, match="utterance u7.*'4'"):
        strict.encode("FOX 4", utt_id="u7")


def test_bpe_tokenizer_blank_is_zero_and_round_trips(tmp_path):
    tok = BpeTokenizer.build(TEXTS, vocab_size=40)
    assert tok.vocab[0] == "<blank>" and tok.vocab[1] == "<unk>"
    ids = tok.encode("the quick brown fox")
    assert 0 not in ids and len(ids) < len("THE QUICK BROWN FOX")
    assert tok.decode(ids) == "THE QUICK BROWN FOX"
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode("lazy dog") == tok.encode("lazy dog")
    tok.encode("QUÏCK", utt_id="x")
    assert tok.oov_counts["Ï"] == 1


def test_foreign_vocabulary_keeps_its_ids_and_round_trips(tmp_path):
    tok = VocabTokenizer(["<s>", "<pad>", "</s>", "<unk>", "|", "E", "T"], blank="<s>", silent=("<s>", "</s>"),
                         case="upper")
    assert tok.blank_id == 0 and tok.unk_id == 3
    assert tok.vocab == ["<blank>", "<pad>", "</s>", "<unk>", "|", "E", "T"]
    assert tok.encode("te x") == [6, 5, 4, 3] and tok.oov_counts["X"] == 1
    assert tok.decode([6, 2, 5, 4, 4, 3, 1]) == "TE <unk><pad>"
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert isinstance(again, VocabTokenizer) and again.vocab == tok.vocab and again.blank_id == 0
    assert again.decode([6, 2, 5]) == "TE" and again.encode("et") == [5, 6]
    lowered = VocabTokenizer(["|", "A", "B", "[PAD]"], blank="[PAD]", unk=None, case="upper", lower_output=True)
    assert lowered.unk_id is None and lowered.decode([1, 3, 0, 2]) == "a b"
    with pytest.raises(DataDirError, match="utterance u2: character 'C'.*no unknown symbol"):
        lowered.encode("a c", utt_id="u2")
    with pytest.raises(ConfigError, match="no blank symbol"):
        VocabTokenizer(["|", "A"], blank="<pad>")


def test_build_tokenizer_errors(tmp_path):
    with pytest.raises(ConfigError):
        build_tokenizer("words", TEXTS)
    with pytest.raises(DataDirError, match="empty"):
        build_tokenizer("bpe", ["", "  "])
    with pytest.raises(ConfigError, match="no tokenizer"):
        load_tokenizer(tmp_path)


def test_error_rates_match_hand_counts():
    refs = ["A B C D", "E F"]
    hyps = ["A X C", "E F G"]
    w = count_errors(refs, hyps, "word")
    assert (w.substitutions, w.deletions, w.insertions, w.num_ref) == (1, 1, 1, 6)
    assert w.rate == pytest.approx(3 / 6)
    assert w.sentence_errors == 2
    assert cer(["ABC"], ["ABD"]) == pytest.approx(1 / 3)
    assert wer(["A B"], [""]) == 1.0


def test_empty_reference_counts_insertions_and_missing_is_reported():
    out = score_texts({"u1": "HELLO", "u2": ""}, {"u1": "hello", "u2": "X Y"})
    assert out["wer"]["insertions"] == 2 and out["wer"]["num_ref"] == 1
    with pytest.raises(DataDirError, match="u2"):
        score_texts({"u1": "A", "u2": "B"}, {"u1": "A"})
    with pytest.raises(DataDirError, match="zz"):
        score_texts({"u1": "A"}, {"u1": "A", "zz": "B"})
    assert score_texts({"u1": "A", "u2": "B"}, {"u1": "A"}, allow_missing=True)["wer"]["rate"] == 0.5


def test_classification_metrics_ua_wa_f1(tmp_path):
    refs = [0, 0, 0, 0, 1, 1, 2]
    hyps = [0, 0, 0, 1, 1, 0, 2]
    m = classification_metrics(refs, hyps, ["a", "b", "c"])
    assert m["wa"] == pytest.approx(5 / 7)
    assert m["ua"] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    f1_a = 2 * (3 / 4) * (3 / 4) / (3 / 4 + 3 / 4)
    f1_b = 2 * 0.5 * 0.5 / 1.0
    assert m["macro_f1"] == pytest.approx((f1_a + f1_b + 1.0) / 3)
    assert np.asarray(m["confusion"]).sum() == 7
    png = plot_confusion(m["confusion"], m["labels"], tmp_path / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_tables_and_section_update(tmp_path):
    m = score_texts({"u1": "A B", "u2": "C"}, {"u1": "A", "u2": "C"})
    table = asr_table([("test", m)], "wer")
    assert "|test|2|3|" in table and "33.3" in table
    exp = tmp_path / "exp" / "asr_x" / "decode_test"
    exp.mkdir(parents=True)
    (exp / "metrics.json").write_text(json.dumps(m))
    body = collect_results(tmp_path / "exp")
    assert "### asr_x" in body and "|decode_test|" in body
    results = tmp_path / "RESULTS.md"
    results.write_text("# RESULTS\n\nhand notes\n")
    update_results_section(results, "asr", body, title="ASR")
    update_results_section(results, "asr", "replaced", title="ASR")
    text = results.read_text()
    assert "hand notes" in text and text.count("audiocl:asr begin") == 1 and "replaced" in text


def test_ssl_comparison_pairs_pretrained_with_scratch(tmp_path):
    from audiocl.metrics.results import ssl_comparison_table

    for kind, hyp in (("pretrained", "HELLO WORLD"), ("scratch", "HELO WRLD")):
        d = tmp_path / f"ctc_{kind}_10pct" / "decode_test"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps(score_texts({"u": "HELLO WORLD X"}, {"u": hyp})))
    table = ssl_comparison_table(tmp_path)
    row = [ln for ln in table.splitlines() if ln.startswith("|10pct|test|")][0].split("|")
    pre, scr, ratio = float(row[3]), float(row[4]), float(row[5])
    assert pre < scr and ratio == pytest.approx(pre / scr, abs=0.01)
    assert "ctc_" not in collect_results(tmp_path / "nothing")
