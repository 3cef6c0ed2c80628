"""The trainable token pooling: starts as the mean, padding-invariant, order-aware; ragged token states."""

from __future__ import annotations

import torch

from audiocl.nn.token_pooling import TokenPooler, TokenPoolerConfig, TokenStates, sentence_features

DIM = 24


def _states(lengths, seed=0) -> TokenStates:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    return TokenStates(torch.randn(int(lengths.sum()), DIM, generator=g), lengths)


def _trained_pooler(seed=0) -> TokenPooler:
    """A pooler whose zero-initialised parts are non-zero, as after training."""
    torch.manual_seed(seed)
    pooler = TokenPooler(DIM, TokenPoolerConfig(width=16, heads=2, ffn_dim=32))
    with torch.no_grad():
        for lin in (pooler.up, pooler.score_state, pooler.score_branch):
            lin.weight.normal_(0, 0.5)
    return pooler.eval()


def test_untrained_pooler_is_the_masked_mean():
    tokens = _states([3, 7, 5])
    pooler = TokenPooler(DIM, TokenPoolerConfig(width=16, heads=2, ffn_dim=32))
    expected = torch.nn.functional.normalize(torch.stack([tokens.values[:3].mean(0), tokens.values[3:10].mean(0),
                                                          tokens.values[10:].mean(0)]), dim=-1)
    assert torch.allclose(pooler(tokens), expected, atol=1e-6)
    assert torch.allclose(tokens.mean(), expected, atol=1e-6)
    assert torch.equal(sentence_features(tokens), tokens.mean())


def test_a_text_pools_alike_alone_and_beside_longer_texts():
    pooler = _trained_pooler()
    tokens = _states([4, 11, 9, 2])
    together = pooler(tokens)
    for i in range(len(tokens)):
        alone = pooler(tokens[torch.tensor([i])])
        assert (alone[0] - together[i]).abs().max() < 1e-5


def test_pooler_sees_order_where_the_mean_is_blind():
    """The same token states in another order: identical mean, different pooled feature."""
    tokens = _states([9])
    swapped = TokenStates(tokens.values[torch.tensor([0, 5, 6, 7, 4, 1, 2, 3, 8])], tokens.lengths)
    assert torch.allclose(tokens.mean(), swapped.mean(), atol=1e-6)
    pooler = _trained_pooler()
    a, b = pooler(tokens), pooler(swapped)
    assert (a - b).norm() > 1e-2
    assert torch.allclose(a.norm(dim=-1), torch.ones(1), atol=1e-5)


def test_token_states_select_pad_and_round_trip():
    tokens = _states([3, 6, 2, 5])
    sub = tokens[torch.tensor([3, 0])]
    assert sub.lengths.tolist() == [5, 3]
    assert torch.equal(sub.values, torch.cat([tokens.values[11:16], tokens.values[:3]]))
    padding = sub.padding_mask()
    assert padding.shape == (2, 5) and padding[1].tolist() == [False] * 3 + [True] * 2 and not padding[0].any()
    states = torch.zeros(2, 5, DIM)
    states[~padding] = sub.values
    assert torch.equal(states[1, :3], tokens.values[:3])
    back = TokenStates.from_padded(states, padding)
    assert torch.equal(back.values, sub.values) and torch.equal(back.lengths, sub.lengths)
    assert torch.equal(tokens[1:3].values, tokens.values[3:11])
    joined = TokenStates.cat([tokens[torch.tensor([0])], tokens[torch.tensor([2])]])
    assert joined.lengths.tolist() == [3, 2] and torch.equal(joined.values[3:], tokens.values[9:11])


def test_every_pooler_parameter_learns():
    """The zero-initialised up-projection opens the branch: after one step every parameter has a gradient."""
    pooler = TokenPooler(DIM, TokenPoolerConfig(width=16, heads=2, ffn_dim=32))
    opt = torch.optim.SGD(pooler.parameters(), lr=0.5)
    tokens = _states([4, 8, 6], seed=1)
    target = torch.nn.functional.normalize(torch.randn(3, DIM), dim=-1)
    for _ in range(2):
        opt.zero_grad()
        (pooler(tokens) * target).sum().neg().backward()
        opt.step()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in pooler.parameters())
