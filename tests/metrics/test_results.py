"""The stage-7 RESULTS.md writer: summary tables from training runs, and a block that a re-run reproduces."""

from __future__ import annotations

import json

from audiocl.cli.main import main
from audiocl.metrics.asr import score_texts
from audiocl.metrics.results import collect_results, pretraining_table, training_table


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _train_metrics(tmp_path, step, loss, **extra):
    return {"global_step": step, "final_mean_last_logged": {"train/loss": loss, **extra.pop("last", {})},
            "wall_seconds_this_segment": 123.45, "checkpoint": str(tmp_path / "ckpt" / "last.ckpt"), **extra}


def _exp(tmp_path):
    exp = tmp_path / "exp"
    _write(exp / "pretrain" / "metrics.json", _train_metrics(
        tmp_path, 1000, 2.82, ssl_type="wav2vec2", num_train_utts=96, chance_accuracy=1 / 51,
        chance_accuracy_effective=1 / 33, codebook_entries=64,
        last={"train/acc": 0.344, "train/prob_perplexity": 48.4, "train/code_perplexity": 47.9}))
    for kind, hyp, loss in (("pretrained", "HELLO WORLD", 95.0), ("scratch", "HELO WRLD", 66.0)):
        _write(exp / f"ctc_{kind}_10pct" / "metrics.json", _train_metrics(tmp_path, 100, loss))
        _write(exp / f"ctc_{kind}_10pct" / "decode_test" / "metrics.json", score_texts({"u": "HELLO WORLD X"}, {"u": hyp}))
    return exp


def test_pretraining_row_shows_accuracy_against_chance_and_codebook_use(tmp_path):
    table = pretraining_table(_exp(tmp_path))
    row = [ln for ln in table.splitlines() if ln.startswith("|pretrain|")]
    assert row == ["|pretrain|wav2vec2|96|1000|2.82|0.344|0.0196 (0.0303)|48.4 / 47.9 of 64|"]
    assert "ctc_" not in table  # downstream runs are not pretraining runs


def test_training_table_lists_updates_of_every_downstream_model(tmp_path):
    table = training_table(_exp(tmp_path))
    assert "|ctc_pretrained_10pct|100|95|" in table and "|ctc_scratch_10pct|100|66|" in table
    assert "|pretrain|" not in table


def test_block_holds_no_wall_time_or_path_and_a_rerun_leaves_the_file_unchanged(tmp_path):
    exp = _exp(tmp_path)
    body = collect_results(exp)
    assert body.index("### Self-supervised pretraining") < body.index("### CTC: pretrained upstream")
    assert "123.45" not in body and str(tmp_path) not in body
    results = tmp_path / "RESULTS.md"
    results.write_text("# RESULTS\n\nHow this block was made: a hand-written line.\n")
    assert main(["collect-results", "--exp", str(exp), "--results", str(results)]) == 0
    first = results.read_text()
    assert "a hand-written line" in first and "|10pct|test|" in first
    assert main(["collect-results", "--exp", str(exp), "--results", str(results)]) == 0
    assert results.read_text() == first


def test_fold_mean_averages_each_fold_on_its_own_test_session(tmp_path):
    from audiocl.metrics.results import fold_mean_table

    exp = tmp_path / "exp"
    for k, ua in ((1, 0.5), (2, 0.7)):
        _write(exp / f"emo_fbank_fold{k}_train" / f"eval_fold{k}_test" / "metrics.json",
               {"num_utts": 10, "ua": ua, "wa": ua, "macro_f1": ua})
        # a score on another fold's test set must not enter the mean
        _write(exp / f"emo_fbank_fold{k}_train" / "eval_fold9_test" / "metrics.json",
               {"num_utts": 10, "ua": 0.0, "wa": 0.0, "macro_f1": 0.0})
    _write(exp / "emo_pretrained_fold1_train" / "eval_fold1_test" / "metrics.json",
           {"num_utts": 10, "ua": 0.9, "wa": 0.8, "macro_f1": 0.7})
    table = fold_mean_table(exp)
    assert "|emo_fbank|2|60.0 ± 10.0|60.0 ± 10.0|60.0 ± 10.0|" in table
    assert "|emo_pretrained|1|90.0 ± 0.0|80.0 ± 0.0|70.0 ± 0.0|" in table
    assert "Utterance classification, mean ± std over the cross-validation folds" in collect_results(exp)
    assert fold_mean_table(tmp_path / "no_such_dir") == ""
