"""Decoding a data dir with a fine-tuned CTC model (recipe stage 5): greedy or beam search.

The model is anything :func:`audiocl.hub.resolve` accepts that holds a CTC head: an audiocl
fine-tuning exp dir (or its ``model/``), or a CTC model fine-tuned elsewhere (an HF ``Wav2Vec2ForCTC``
with its ``vocab.json``, a fairseq ``*_960h.pt`` with its ``dict.ltr.txt``), as a path, URL, registry
name or ``hf:`` id (:mod:`audiocl.tasks.foreign_ctc`).

Beam search is torchaudio's flashlight decoder (:mod:`audiocl.models.ctc_decoding`), optionally with a
lexicon from a data dir's transcripts and an n-gram LM (given, or built from the same transcripts).
The hypotheses are written as a Kaldi ``text`` file, which ``audiocl score`` compares with the references.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from audiocl.data.tokenizer import Tokenizer, normalize_text
from audiocl.errors import ConfigError, DataDirError
from audiocl.hub.resolver import resolve
from audiocl.models.ctc_asr import CtcAsrModel
from audiocl.tasks.ctc_model_io import MODEL_DIR, UPSTREAM_FILE, load_ctc_model
from audiocl.tasks.foreign_ctc import is_foreign_ctc, load_foreign_ctc_model

log = logging.getLogger(__name__)


@dataclass
class DecodeConfig:
    beam_size: int = 0
    """0 = greedy; otherwise flashlight beam search with this beam."""
    lexicon_from: str = ""
    """Data dir whose ``text`` gives the lexicon words (and the LM training text when ``lm_order > 0``)."""
    lm: str = ""
    """ARPA/KenLM file; needs a lexicon."""
    lm_order: int = 0
    """> 0: build an n-gram ARPA LM of this order from ``lexicon_from`` (written next to the output)."""
    lm_weight: float = 2.0
    word_score: float = 0.0
    max_batch_seconds: float = 100.0
    num_threads: int = 0
    device: str = "auto"
    """``auto`` = the GPU when there is one, else the CPU."""


def load_decoding_model(ref: str | Path) -> tuple[CtcAsrModel, Tokenizer]:
    """``(model in eval mode, tokenizer)`` behind ``ref``: an audiocl fine-tuned model, or a foreign one."""
    path = resolve(ref)
    if (path / UPSTREAM_FILE).is_file() or (path / MODEL_DIR / UPSTREAM_FILE).is_file():
        model, tokenizer, _ = load_ctc_model(path)
        return model, tokenizer
    if is_foreign_ctc(path):
        return load_foreign_ctc_model(path)
    raise ConfigError(f"{ref}: no CTC model there ({path} has neither an audiocl fine-tuned model nor a "
                      "converted CTC head with its vocabulary); a pretrained model needs fine-tuning first "
                      "(`audiocl finetune`)")


def decode_data_dir(model: str | Path, data_dir: str | Path, out_dir: str | Path,
                    cfg: DecodeConfig | None = None) -> dict[str, str]:
    """Decode every utterance of ``data_dir`` with the CTC model behind the reference ``model``; write
    ``out_dir/text`` (Kaldi format) and return it.

    Utterances too short for the model's receptive field decode to an empty hypothesis (with a
    warning), so the scoring stage still sees every utterance.
    """
    from audiocl.data.datadir import DataDir
    from audiocl.data.dataset import AudioDataset, collate_audio
    from audiocl.data.sampler import DurationBucketBatchSampler
    from audiocl.models.ctc_decoding import BeamSearchConfig, BeamSearchDecoder, build_lexicon, decode_batch, write_arpa

    cfg = cfg or DecodeConfig()
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctc_model, tokenizer = load_decoding_model(model)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device)
    ctc_model.to(device)
    beam = None
    if cfg.beam_size > 0:
        lexicon = None
        lm = cfg.lm or None
        if cfg.lexicon_from:
            lex_data = DataDir.load(cfg.lexicon_from)
            if not lex_data.text:
                raise DataDirError(f"{cfg.lexicon_from}: no 'text' file to build the lexicon from")
            texts = [normalize_text(t, tokenizer.case) for t in lex_data.text.values()]
            lexicon = build_lexicon([w for t in texts for w in t.split()], tokenizer)
            if cfg.lm_order > 0 and not lm:
                lm = str(write_arpa(texts, out_dir / f"lm_{cfg.lm_order}gram.arpa", order=cfg.lm_order))
        bcfg = BeamSearchConfig(beam_size=cfg.beam_size, lm_weight=cfg.lm_weight, word_score=cfg.word_score)
        beam = BeamSearchDecoder(tokenizer, lexicon=lexicon, lm=lm, config=bcfg)
    ds = AudioDataset.from_data_dir(data_dir, crop_seconds=None, skip_bad=False)
    sampler = DurationBucketBatchSampler(ds.durations, cfg.max_batch_seconds, num_buckets=5, shuffle=False)
    hyps: dict[str, str] = {}
    with torch.inference_mode():
        for batch_idx in sampler:
            batch = collate_audio([ds[i] for i in batch_idx])
            log_probs, frame_lengths = ctc_model(batch["wav"].to(device), batch["lengths"].to(device))
            texts = decode_batch(log_probs, frame_lengths, tokenizer, beam)
            for utt, text, n in zip(batch["utt_ids"], texts, frame_lengths.tolist()):
                if n == 0:
                    log.warning("utterance %s: shorter than the model's receptive field; empty hypothesis", utt)
                hyps[utt] = text
    from audiocl.data.kaldi_files import write_keyed_file

    write_keyed_file(out_dir / "text", hyps)
    return hyps
