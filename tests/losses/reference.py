"""Slow, obviously-correct loop implementations of every objective, written from the papers' formulas.

Each works on python loops over rows / positives / negatives with torch scalar ops, so autograd gives
the reference gradient too. Returns the per-anchor losses as a list of 0-dim tensors (0 for rows the
objective skips) and the scalar loss (mean over rows with a positive).
"""

from __future__ import annotations

import math

import torch


def _sets(pos, valid, i):
    m = valid.shape[1]
    P = [j for j in range(m) if bool(valid[i, j]) and bool(pos[i, j])]
    N = [j for j in range(m) if bool(valid[i, j]) and not bool(pos[i, j])]
    V = [j for j in range(m) if bool(valid[i, j])]
    return P, N, V


def _reduce(per, has):
    n = max(1, sum(has))
    total = sum(p for p, h in zip(per, has) if h) if any(has) else per[0] * 0.0
    return per, total / n


def _run(sim, pos, valid, row_fn):
    per, has = [], []
    for i in range(sim.shape[0]):
        P, N, V = _sets(pos, valid, i)
        has.append(bool(P))
        per.append(row_fn(sim[i], P, N, V) if P else sim[i, 0] * 0.0)
    return _reduce(per, has)


def infonce(sim, pos, valid, t):
    def row(s, P, N, V):
        denom = sum(torch.exp(s[j] / t) for j in V)
        return sum(-torch.log(torch.exp(s[p] / t) / denom) for p in P) / len(P)
    return _run(sim, pos, valid, row)


def supcon_in(sim, pos, valid, t):
    def row(s, P, N, V):
        denom = sum(torch.exp(s[j] / t) for j in V)
        return -torch.log(sum(torch.exp(s[p] / t) / denom for p in P) / len(P))
    return _run(sim, pos, valid, row)


def dcl(sim, pos, valid, t):
    def row(s, P, N, V):
        if not N:
            return s[0] * 0.0
        return sum(-s[p] / t for p in P) / len(P) + torch.log(sum(torch.exp(s[n] / t) for n in N))
    return _run(sim, pos, valid, row)


def debiased(sim, pos, valid, t, tau_plus, beta=None):
    def row(s, P, N, V):
        e = {j: torch.exp(s[j] / t) for j in V}
        pos_mean = sum(e[p] for p in P) / len(P)
        if beta is None:
            neg_sum = sum((e[n] for n in N), s[0] * 0.0)
        elif N:
            imp = {n: torch.exp(beta * s[n] / t) for n in N}
            neg_sum = sum(imp[n] * e[n] for n in N) / (sum(imp.values()) / len(N))
        else:
            neg_sum = s[0] * 0.0
        g = (neg_sum - tau_plus * len(N) * pos_mean) / (1 - tau_plus)
        floor = len(N) * math.exp(-1 / t)
        g = torch.clamp(g, min=floor)
        return sum(-torch.log(e[p] / (e[p] + g)) for p in P) / len(P)
    return _run(sim, pos, valid, row)


def nce(sim, pos, valid, t, num_noise=None, log_q=None, correct=True):
    def row(s, P, N, V):
        k = max(1, len(N)) if num_noise is None else num_noise
        q = 1.0 / len(V) if log_q is None else math.exp(log_q)
        G = {j: s[j] / t - (math.log(k * q) if correct else 0.0) for j in V}
        pos_term = sum(-torch.log(torch.sigmoid(G[p])) for p in P) / len(P)
        neg_term = sum((-torch.log(1 - torch.sigmoid(G[n])) for n in N), s[0] * 0.0)
        return pos_term + neg_term
    return _run(sim, pos, valid, row)


def multi_similarity(sim, pos, valid, alpha, beta, lam, eps):
    def row(s, P, N, V):
        if not N:
            return s[0] * 0.0
        min_pos = min(float(s.detach()[p]) for p in P)
        max_neg = max(float(s.detach()[n]) for n in N)
        Pk = [p for p in P if float(s.detach()[p]) - eps < max_neg]
        Nk = [n for n in N if float(s.detach()[n]) + eps > min_pos]
        if not Pk or not Nk:
            return s[0] * 0.0
        a = torch.log(1 + sum(torch.exp(-alpha * (s[p] - lam)) for p in Pk)) / alpha
        b = torch.log(1 + sum(torch.exp(beta * (s[n] - lam)) for n in Nk)) / beta
        return a + b
    return _run(sim, pos, valid, row)


def auc(sim, pos, valid, scale):
    def row(s, P, N, V):
        if not N:
            return s[0] * 0.0
        terms = [-torch.log(torch.sigmoid(scale * (s[p] - s[n]))) for p in P for n in N]
        return sum(terms) / len(terms)
    return _run(sim, pos, valid, row)


def cwcl(sim, weights, valid, t):
    per, has = [], []
    for i in range(sim.shape[0]):
        V = [j for j in range(sim.shape[1]) if bool(valid[i, j])]
        W = [j for j in V if float(weights[i, j]) > 0]
        has.append(bool(W))
        if not W:
            per.append(sim[i, 0] * 0.0)
            continue
        denom = sum(torch.exp(sim[i, j] / t) for j in V)
        wsum = sum(weights[i, j] for j in W)
        per.append(-sum(weights[i, j] * torch.log(torch.exp(sim[i, j] / t) / denom) for j in W) / wsum)
    return _reduce(per, has)
