"""Why CompA order pairs stay at chance on mini_clap: is it the audio side, the text side, or the held-out
caption templates?

Two measurements, both on a prepared mini_clap data dir (``bash egs/mini_clap/run.sh --stop-stage 1``):

``hard-negatives``: for a trained release, the share of clips whose own caption scores above each of its
hard negatives (order-swapped, count-changed, attribute-changed caption in the same style), on the training
split and on the test split. Chance is 50 %. A model that learned order on its training clips but not in
general scores high on ``train`` and near 50 on ``test``.

``text``: whether the *text tower alone* can read event order from a caption, with held-out joiners. The
task: name the kind of the first event (instrument, percussion, noise, ...) of a two-event sequence caption
whose events are of different kinds; the training examples are the ``train`` split's captions and their
order-swapped hard negatives (whose first event is the other one), the test examples the ``test`` split's.
Readers of all-MiniLM-L6-v2, from cheapest to most expressive:

- ``linear``: logistic regression on the frozen, L2-normalised sentence embedding (what CLAP's projection
  sees); ``mlp``: one hidden layer of 512 on the same embedding;
- ``pooler``: ``audiocl.nn.token_pooling.TokenPooler`` (``model.text.pooling=attention``) on the frozen
  token states, plus a linear head;
- ``finetune``: MiniLM itself fine-tuned with a linear head on its mean-pooled output.

Reported: training accuracy, test accuracy, and the pairwise test score (the caption gives its true first
kind a higher probability than its order-swapped version does; chance 50 %), split by whether the test
caption's joiner names the later event first (``"{1}, coming after {0}"``: held out from training, like
every test joiner) or the earlier one.

    python benchmarks/clap_order_probe.py hard-negatives --data egs/mini_clap/data \
        --release egs/mini_clap/exp/clap/infonce/seed1/release
    python benchmarks/clap_order_probe.py text --data egs/mini_clap/data --reader linear pooler
    python benchmarks/clap_order_probe.py text --data egs/mini_clap/data --reader finetune --steps 800 --lr 1e-4

``text --train-joiners SET`` needs no prepared data: it plans the corpus's scenes (``plan_split``, captions only,
every caption of a clip) and captions the training scenes' two-event sequences with another set of joiners
(``TRAIN_JOINER_SETS``), to ask which training phrasings would let a reader read the held-out test joiners:

    python benchmarks/clap_order_probe.py text --train-joiners varied --reader linear mlp pooler
    python benchmarks/clap_order_probe.py text --train-joiners varied --reader finetune --steps 800
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audiocl.corpora.scene_captions import JOINERS, captions_of, hard_negatives
from audiocl.corpora.scene_plan import plan_split
from audiocl.data.kaldi_files import read_keyed_file
from audiocl.tasks.clap_data import read_jsonl


def read_kaldi_map(path: Path) -> dict[str, str]:
    return read_keyed_file(path, allow_empty_value=True).entries


def read_hard_negatives(data_dir: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in read_jsonl(data_dir / "hard_negatives.jsonl"):
        out[row["utt"]].append(row)
    return out


def names_later_first(caption: str) -> bool:
    """The joiner names the later event first: "B after A" (train) / "B, coming after A" (test)."""
    return " after " in caption and "afterwards" not in caption


def hard_negative_accuracy(release: str, data_dir: Path, limit: int | None) -> dict[str, tuple[int, float]]:
    """kind -> (clips, % whose own caption beats that kind of hard negative for their own audio); order
    negatives split by the joiner of the clip's caption."""
    from audiocl.clap import CLAP

    model = CLAP.from_pretrained(release)
    text, wav, negatives = read_kaldi_map(data_dir / "text"), read_kaldi_map(data_dir / "wav.scp"), \
        read_hard_negatives(data_dir)
    utts = [u for u in text if u in negatives][:limit]
    audio = torch.as_tensor(np.asarray(model.get_audio_embedding_from_filelist([wav[u] for u in utts])))
    own = torch.as_tensor(np.asarray(model.get_text_embedding([text[u] for u in utts])))
    rows = [(i, r) for i, u in enumerate(utts) for r in negatives[u]]
    neg = torch.as_tensor(np.asarray(model.get_text_embedding([r["caption"] for _, r in rows])))
    wins: dict[str, list[bool]] = defaultdict(list)
    for j, (i, r) in enumerate(rows):
        kind = r["kind"]
        if kind == "order":
            kind += ", later-first joiner" if names_later_first(text[utts[i]]) else ", earlier-first joiner"
        wins[kind].append(bool(audio[i] @ own[i] > audio[i] @ neg[j]))
    return {k: (len(v), 100.0 * float(np.mean(v))) for k, v in wins.items()}


@dataclass
class OrderExamples:
    """Captions of two-event sequences with events of different kinds, their order-swapped versions, and
    whether each caption's joiner names the later event first."""

    captions: list[str] = field(default_factory=list)
    swapped: list[str] = field(default_factory=list)
    first: list[str] = field(default_factory=list)
    second: list[str] = field(default_factory=list)
    later_first: list[bool] = field(default_factory=list)

    def add(self, caption: str, swapped: str, first: str, second: str, later_first: bool) -> None:
        self.captions.append(caption)
        self.swapped.append(swapped)
        self.first.append(first)
        self.second.append(second)
        self.later_first.append(later_first)

    @property
    def reversed_joiner(self) -> np.ndarray:
        return np.array(self.later_first, dtype=bool)


def _differ_in_kind(kinds: list[str]) -> bool:
    return len(kinds) == 2 and kinds[0] != kinds[1]


def order_examples(data_dir: Path) -> OrderExamples:
    """From a prepared data dir: each clip's first caption (``text``) and its order-swapped hard negative."""
    text = read_kaldi_map(data_dir / "text")
    labels = {u: json.loads(v) for u, v in read_kaldi_map(data_dir / "utt2labels").items()}
    ex = OrderExamples()
    for utt, rows in read_hard_negatives(data_dir).items():
        kinds = [e["kind"] for e in labels[utt]["events"]]
        if labels[utt]["relation"] != "sequence" or not _differ_in_kind(kinds):
            continue
        for row in rows:
            if row["kind"] == "order":
                ex.add(text[utt], row["caption"], kinds[0], kinds[1], names_later_first(text[utt]))
    return ex


# two-event sequence joiners for training, to ask which training phrasings let a text reader read the test
# split's held-out joiners ("{0}, and afterwards {1}" names the earlier event first, "{1}, coming after {0}"
# the later one). "corpus": the corpus's own; "balanced": as many later-first as earlier-first joiners,
# "after" and "before" each used in both mention orders; "varied": the same and four more, two of each
# direction (listed in the order the probe's runs drew them from).
TRAIN_JOINER_SETS: dict[str, list[str]] = {
    "corpus": list(JOINERS["sequence2"]["train"]),
    "balanced": ["{0}, then {1}", "{0}, followed by {1}", "first {0}, and then {1}", "after {0}, {1}",
                 "{1} after {0}", "{1}, which follows {0}", "{1}, preceded by {0}", "before {1}, {0}"],
    "varied": ["{0}, then {1}", "{0}, followed by {1}", "first {0}, and then {1}", "after {0}, {1}",
               "{0}; after it, {1}", "{0} before {1}",
               "{1} after {0}", "{1}, preceded by {0}", "before {1}, {0}", "{1}, which follows {0}",
               "{1}, but before it {0}", "{1}, once {0} has ended"],
}


def joiner_names_later_first(joiner: str) -> bool:
    return joiner.index("{1}") < joiner.index("{0}")


def with_sequence2_train_joiners(templates: list[str]) -> dict[str, dict[str, list[str]]]:
    """The corpus's joiner table with ``templates`` as the two-event sequence joiners of training."""
    return {**JOINERS, "sequence2": {**JOINERS["sequence2"], "train": list(templates)}}


def planned_order_examples(split: str, num: int, corpus_seed: int, joiner_set: str) -> OrderExamples:
    """Captions only, no audio: the scenes ``prepare-mini-clap`` plans for ``split`` (same seed and size give
    the same scenes), with every one of a clip's captions and its order-swapped hard negative; training
    captions use the joiners of ``TRAIN_JOINER_SETS[joiner_set]``."""
    ex = OrderExamples()
    joiners_table = with_sequence2_train_joiners(TRAIN_JOINER_SETS[joiner_set])
    for scene in plan_split(split, num, corpus_seed):
        kinds = [e.kind for e in scene.timeline()]
        if scene.relation != "sequence" or not _differ_in_kind(kinds):
            continue
        captions, styles = captions_of(scene, joiners_table=joiners_table)
        for caption, style in zip(captions, styles):
            for row in hard_negatives(scene, style):
                if row["kind"] == "order":
                    ex.add(caption, row["caption"], kinds[0], kinds[1], joiner_names_later_first(style.joiner))
    return ex


def probe_report(p_own: np.ndarray, p_swapped: np.ndarray, first: np.ndarray, rev: np.ndarray,
                 train_acc: float) -> dict[str, float]:
    rows = np.arange(len(first))
    pairwise = p_own[rows, first] > p_swapped[rows, first]
    return {"train acc": 100 * train_acc, "test acc": 100 * float((p_own.argmax(1) == first).mean()),
            "pairwise": 100 * float(pairwise.mean()),
            "pairwise, later-first joiner": 100 * float(pairwise[rev].mean()),
            "pairwise, earlier-first joiners": 100 * float(pairwise[~rev].mean()),
            "later-first captions": float(rev.sum()), "earlier-first captions": float((~rev).sum())}


def text_probe(train: OrderExamples, test: OrderExamples, reader: str, seed: int, steps: int,
               lr: float) -> dict[str, float]:
    from audiocl.nn.text_tower import SentenceEncoder, TextTowerConfig
    from audiocl.nn.token_pooling import TokenPooler, TokenPoolerConfig, TokenStates

    torch.manual_seed(seed)
    kinds = sorted(set(train.first + train.second + test.first + test.second))
    index = {k: i for i, k in enumerate(kinds)}
    x_train = train.captions + train.swapped
    y_train = torch.tensor([index[k] for k in train.first + train.second])
    first_test = np.array([index[k] for k in test.first])
    rev = test.reversed_joiner
    enc = SentenceEncoder(TextTowerConfig()).eval()

    def token_states(texts: list[str]) -> TokenStates:
        parts = []
        for i in range(0, len(texts), 64):
            tok = enc.tokenize(texts[i:i + 64])
            parts.append(enc.token_states(tok["input_ids"], tok["attention_mask"]))
        return TokenStates.cat(parts)

    if reader in ("linear", "mlp"):
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier

        with torch.no_grad():
            emb = lambda texts: F.normalize(enc.encode(texts), dim=-1).numpy()  # noqa: E731
            x_tr, own, swp = emb(x_train), emb(test.captions), emb(test.swapped)
        clf = (LogisticRegression(C=10.0, max_iter=5000) if reader == "linear"
               else MLPClassifier((512,), max_iter=2000, random_state=seed)).fit(x_tr, y_train.numpy())
        return probe_report(clf.predict_proba(own), clf.predict_proba(swp), first_test, rev,
                            clf.score(x_tr, y_train.numpy()))

    head = torch.nn.Linear(enc.dim, len(kinds))
    if reader == "pooler":
        with torch.no_grad():
            s_tr, s_own, s_swp = token_states(x_train), token_states(test.captions), token_states(test.swapped)
        pooler = TokenPooler(s_tr.dim, TokenPoolerConfig())
        params = list(pooler.parameters()) + list(head.parameters())
        forward = lambda ids: head(pooler(s_tr[ids]))  # noqa: E731
        evaluate = lambda states: head(pooler(states))  # noqa: E731
        opt = torch.optim.AdamW(params, lr=lr)
    elif reader == "finetune":
        enc.train()

        def embed(texts: list[str]) -> torch.Tensor:
            tok = enc.tokenize(texts)
            return enc(tok["input_ids"], tok["attention_mask"])

        forward = lambda ids: head(embed([x_train[i] for i in ids.tolist()]))  # noqa: E731
        evaluate = lambda texts: head(embed(texts))  # noqa: E731
        opt = torch.optim.AdamW([{"params": enc.parameters(), "lr": lr}, {"params": head.parameters(), "lr": 1e-3}])
        s_own, s_swp = test.captions, test.swapped
    else:
        raise ValueError(f"unknown reader {reader!r}")
    for _ in range(steps):
        ids = torch.randint(len(y_train), (32,))
        loss = F.cross_entropy(forward(ids), y_train[ids])
        opt.zero_grad()
        loss.backward()
        opt.step()
    enc.eval()
    with torch.no_grad():
        train_acc = float((torch.cat([forward(torch.arange(i, min(i + 64, len(y_train))))
                                      for i in range(0, len(y_train), 64)]).argmax(1) == y_train).float().mean())
        p_own, p_swp = evaluate(s_own).softmax(1).numpy(), evaluate(s_swp).softmax(1).numpy()
    return probe_report(p_own, p_swp, first_test, rev, train_acc)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hard-negatives")
    h.add_argument("--data", type=Path, required=True)
    h.add_argument("--release", required=True)
    h.add_argument("--splits", nargs="+", default=["train", "test"])
    h.add_argument("--limit", type=int, default=400, help="clips per split")
    t = sub.add_parser("text")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="a prepared mini_clap data dir (each clip's first caption)")
    src.add_argument("--train-joiners", choices=sorted(TRAIN_JOINER_SETS),
                     help="no data dir: plan the corpus's scenes and caption them (all captions of a clip), "
                          "training captions with these two-event sequence joiners")
    t.add_argument("--num-train", type=int, default=1000, help="with --train-joiners: training scenes")
    t.add_argument("--num-test", type=int, default=400, help="with --train-joiners: test scenes")
    t.add_argument("--corpus-seed", type=int, default=0, help="with --train-joiners: the corpus's seed")
    t.add_argument("--reader", nargs="+", default=["linear", "pooler"],
                   choices=["linear", "mlp", "pooler", "finetune"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=600)
    t.add_argument("--lr", type=float, default=None, help="default 2e-3 (pooler) / 1e-4 (finetune)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.cmd == "hard-negatives":
        print("| split | kind | clips | own caption wins (%) |\n|---|---|---|---|")
        for split in args.splits:
            for kind, (n, acc) in sorted(hard_negative_accuracy(args.release, args.data / split, args.limit).items()):
                print(f"| {split} | {kind} | {n} | {acc:.1f} |")
        return 0
    if args.data is not None:
        train, test = order_examples(args.data / "train"), order_examples(args.data / "test")
    else:
        train = planned_order_examples("train", args.num_train, args.corpus_seed, args.train_joiners)
        test = planned_order_examples("test", args.num_test, args.corpus_seed, args.train_joiners)
    for reader in args.reader:
        lr = args.lr if args.lr is not None else {"pooler": 2e-3, "finetune": 1e-4}.get(reader, 0.0)
        r = text_probe(train, test, reader, args.seed, args.steps, lr)
        print(f"{reader}: train acc {r['train acc']:.1f}, test acc {r['test acc']:.1f}, pairwise {r['pairwise']:.1f} "
              f"(later-first joiner {r['pairwise, later-first joiner']:.1f} on {int(r['later-first captions'])} "
              f"captions, earlier-first {r['pairwise, earlier-first joiners']:.1f} on "
              f"{int(r['earlier-first captions'])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
