"""The entropy of a next-token distribution, from the raw logits the model produced, in pure Python.

Why logits: the local model decodes greedily, so the sampler's probability for each chosen token
is always 1.0 and says nothing about how sure the model was. The confidence signal is the
entropy, in nats, of the whole softmax distribution before sampling: 0 when one token takes all
the mass, ln k when k tokens are equally likely.

Rows arrive padded: the vocabulary is rounded up for the GPU kernels and the padding, like any
token the sampler masked out, is -inf (a NaN can appear where a masked row was scaled). Those
entries are not candidate tokens and are left out. This module has no dependencies, so it runs
and is tested anywhere; the local backend has a vectorised torch twin for whole batches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def entropy_from_logits(row: Iterable[float]) -> float:
    """The entropy in nats of softmax(`row`), ignoring -inf and NaN entries (padding).

    Numerically stable for any finite magnitudes (the log-sum-exp is shifted by the largest
    logit). A +inf logit is a certainty: the mass is shared by the +inf entries, so the result is
    ln(their count). The result lies in [0, ln k] for k candidate tokens. A row with no candidate
    at all is not a distribution, and raises ValueError.
    """
    finite: list[float] = []
    certain = 0
    for value in row:
        logit = float(value)
        if math.isnan(logit) or logit == -math.inf:
            continue
        if logit == math.inf:
            certain += 1
            continue
        finite.append(logit)
    if certain:
        return math.log(certain)
    if not finite:
        raise ValueError("the row has no finite logit: it is all padding")
    top = max(finite)
    # Shifted by the top logit, every weight is in (0, 1]: no overflow, and the top one is 1.
    shifted = [logit - top for logit in finite]
    weights = [math.exp(x) for x in shifted]
    total = math.fsum(weights)
    # H = ln Z - E[x - top]; terms whose weight underflowed to 0 contribute nothing (and would
    # give 0 * -inf = NaN if a difference overflowed).
    expected = math.fsum(w * x for w, x in zip(weights, shifted, strict=True) if w > 0.0) / total
    entropy = math.log(total) - expected
    return min(max(entropy, 0.0), math.log(len(finite)))
