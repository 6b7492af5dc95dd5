"""Attention over an encoder's outputs: additive (Bahdanau et al. 2015) and multiplicative (Luong
et al. 2015: "dot" and "general"), masked over padded source steps, with a hand-written backward.

A decoder state q asks every encoder output k_s how relevant it is (a score e_s), the scores are
normalised over the valid source steps (weights a_s, summing to 1) and the context is the
weighted mean of the encoder outputs. All T queries of a sequence are handled at once, so a
teacher-forced decoder pays one batched matrix product, not a loop.

Shapes: queries Q (T, B, Hq), keys K (S, B, Hk) (the encoder's outputs, also the values), mask
(S, B) (True at valid source steps). Internally batch-first: Q_b (B, T, Hq), K_b (B, S, Hk).

Forward, for query t, source step s of sequence b
    dot:       e[t, s] = q_t . k_s                                   (1)  needs Hq == Hk
    general:   p_t = q_t W,   e[t, s] = p_t . k_s                    (1)  W (Hq, Hk)
    additive:  u[t, s] = tanh(W_q q_t + W_k k_s + b)                 (1)  W_q (A, Hq), W_k (A, Hk)
               e[t, s] = v . u[t, s]                                 (1)  v (A,)
    a[t, :] = softmax over the valid s of e[t, :]  (padded s: a = 0) (2)
    c_t = sum_s a[t, s] k_s                                          (3)

Backward, given dc (T, B, Hk) and optionally da (T, B, S)
    dK[s] = sum_t a[t, s] dc_t                                       (3)
    da[t, s] += dc_t . k_s                                           (3)
    de[t, s] = a[t, s] (da[t, s] - sum_s' a[t, s'] da[t, s'])        (2)  zero at padded s
    dot:       dq_t = sum_s de[t, s] k_s,   dK[s] += sum_t de[t, s] q_t                 (1)
    general:   dp_t = sum_s de[t, s] k_s,   dq_t = dp_t W^T,   dW = sum_t q_t^T dp_t,
               dK[s] += sum_t de[t, s] p_t                                               (1)
    additive:  du = de v,  dv = sum de u,  dz = du (1 - u^2),  db = sum dz,
               dq_t = sum_s dz[t, s] W_q,  dW_q = sum dz^T q,
               dK[s] += sum_t dz[t, s] W_k,  dW_k = sum dz^T k                          (1)
"""

from __future__ import annotations

import numpy as np

from ..nn import Module
from ..nn.core import as_float_array, check_dtype, check_shape, positive_int, uniform_init

KINDS = ("dot", "general", "additive")


class Attention(Module):
    """`Attention(kind, query_size, key_size, attention_size=None)`; forward(Q, K, mask) returns
    the contexts (T, B, key_size) and the weights (T, B, S) (for plots); backward(dcontext,
    dweights=None) returns (dQ, dK) and adds parameter gradients into `.grad`."""

    def __init__(
        self,
        kind: str,
        query_size: int,
        key_size: int,
        attention_size: int | None = None,
        *,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"attention kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        self.query_size = positive_int("query_size", query_size)
        self.key_size = positive_int("key_size", key_size)
        self.dtype = check_dtype(dtype)
        rng = rng if rng is not None else np.random.default_rng()
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                f"dot attention needs query_size == key_size, got {query_size} and {key_size}; "
                "use 'general' (a learned W between them) or 'additive'"
            )
        if kind == "general":
            self.W = self.add_param(
                "weight", uniform_init(rng, (query_size, key_size), 1 / np.sqrt(key_size), self.dtype)
            )
        if kind == "additive":
            A = positive_int("attention_size", attention_size or query_size)
            self.Wq = self.add_param(
                "weight_query", uniform_init(rng, (A, query_size), 1 / np.sqrt(query_size), self.dtype)
            )
            self.Wk = self.add_param("weight_key", uniform_init(rng, (A, key_size), 1 / np.sqrt(key_size), self.dtype))
            self.b = self.add_param("bias", np.zeros(A, self.dtype))
            self.v = self.add_param("weight_score", uniform_init(rng, (A,), 1 / np.sqrt(A), self.dtype))
        self.tape = None

    def __repr__(self) -> str:
        return f"Attention({self.kind!r}, {self.query_size}, {self.key_size}, dtype={self.dtype})"

    def forward(self, queries, keys, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """queries (T, B, Hq), keys (S, B, Hk), mask (S, B) bool or None -> context (T, B, Hk),
        weights (T, B, S) (zero at padded source steps)."""
        Q = as_float_array("queries", queries, self.dtype, (3,))
        K = as_float_array("keys", keys, self.dtype, (3,))
        T, B, Hq = Q.shape
        S = K.shape[0]
        if Hq != self.query_size:
            raise ValueError(f"queries has shape {Q.shape}, expected (T, B, query_size={self.query_size})")
        check_shape("keys", K, (S, B, self.key_size), "(S, B, key_size): the batch of the queries")
        valid = None
        if mask is not None:
            valid = np.asarray(mask, bool)
            check_shape("mask", valid, (S, B), "(S, B): True at valid source steps")
            if not valid.any(axis=0).all():
                raise ValueError("mask leaves a sequence with no valid source step")
        Qb, Kb = Q.transpose(1, 0, 2), K.transpose(1, 0, 2)  # (B, T, Hq), (B, S, Hk)
        P = U = None
        if self.kind == "dot":
            e = Qb @ Kb.transpose(0, 2, 1)  # (1)
        elif self.kind == "general":
            P = Qb @ self.W.data  # (1) (B, T, Hk)
            e = P @ Kb.transpose(0, 2, 1)  # (1)
        else:
            U = np.tanh(
                (Qb @ self.Wq.data.T)[:, :, None, :] + (Kb @ self.Wk.data.T)[:, None, :, :] + self.b.data
            )  # (1) (B, T, S, A)
            e = U @ self.v.data  # (1) (B, T, S)
        if valid is not None:
            e = np.where(valid.T[:, None, :], e, -np.inf)
        e = e - e.max(axis=2, keepdims=True)
        a = np.exp(e)  # (2) exp(-inf) = 0
        a /= a.sum(axis=2, keepdims=True)
        C = a @ Kb  # (3) (B, T, Hk)
        self.tape = (Qb, Kb, P, U, a, valid)
        return np.ascontiguousarray(C.transpose(1, 0, 2)), np.ascontiguousarray(a.transpose(1, 0, 2))

    def backward(self, dcontext, dweights=None) -> tuple[np.ndarray, np.ndarray]:
        """dcontext (T, B, Hk), dweights (T, B, S) or None -> (dQ (T, B, Hq), dK (S, B, Hk))."""
        if self.tape is None:
            raise ValueError("Attention.backward() needs a forward() first")
        Qb, Kb, P, U, a, valid = self.tape
        B, T, _ = Qb.shape
        S = Kb.shape[1]
        dC = as_float_array("dcontext", dcontext, self.dtype, (3,))
        check_shape("dcontext", dC, (T, B, self.key_size), "the shape of the context")
        dCb = dC.transpose(1, 0, 2)
        dK = a.transpose(0, 2, 1) @ dCb  # (3)
        da = dCb @ Kb.transpose(0, 2, 1)  # (3)
        if dweights is not None:
            dw = as_float_array("dweights", dweights, self.dtype, (3,))
            check_shape("dweights", dw, (T, B, S), "the shape of the weights")
            da = da + dw.transpose(1, 0, 2)
        de = a * (da - (a * da).sum(axis=2, keepdims=True))  # (2)
        if self.kind == "dot":
            dQ = de @ Kb  # (1)
            dK += de.transpose(0, 2, 1) @ Qb  # (1)
        elif self.kind == "general":
            dP = de @ Kb  # (1)
            dQ = dP @ self.W.data.T  # (1)
            self.W.grad += Qb.reshape(-1, self.query_size).T @ dP.reshape(-1, self.key_size)
            dK += de.transpose(0, 2, 1) @ P  # (1)
        else:
            self.v.grad += np.einsum("bts,btsa->a", de, U)  # (1)
            dZ = de[..., None] * self.v.data * (1 - U * U)  # (1) (B, T, S, A)
            self.b.grad += dZ.sum(axis=(0, 1, 2))
            dZq, dZk = dZ.sum(axis=2), dZ.sum(axis=1)  # (B, T, A), (B, S, A)
            dQ = dZq @ self.Wq.data  # (1)
            dK += dZk @ self.Wk.data  # (1)
            self.Wq.grad += dZq.reshape(-1, dZq.shape[-1]).T @ Qb.reshape(-1, self.query_size)
            self.Wk.grad += dZk.reshape(-1, dZk.shape[-1]).T @ Kb.reshape(-1, self.key_size)
        return np.ascontiguousarray(dQ.transpose(1, 0, 2)), np.ascontiguousarray(dK.transpose(1, 0, 2))
