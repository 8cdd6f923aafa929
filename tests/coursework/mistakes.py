"""A typical mistake for every autograded exercise: what the synthetic "mistakes" student submits.

Keyed by the grade_id of the exercise's solution cell (nbgrader metadata in notebooks/). Each
entry is the wrong code that replaces the solution block (written without indentation; it
is indented like the block it replaces) and a fragment of the hint that the exercise's
self-check gives for exactly this mistake (eelib/course/checks/). When an exercise is
added or renamed, add or rename its entry here: tests/test_coursework_fixtures.py fails,
naming the grade_id, for an autograded solution cell without one.
"""

from __future__ import annotations

from typing import NamedTuple


class Mistake(NamedTuple):
    """Wrong code for one solution cell, and the fragment of the hint that names the mistake."""

    hint: str
    code: str


MISTAKES: dict[str, Mistake] = {
    "02-ex1-solution": Mistake(
        hint="you used D instead of D²",
        code="""\
d = torch.cdist(embeddings, embeddings)
same = labels[:, None] == labels[None, :]
terms = torch.where(same, 0.5 * d, 0.5 * torch.relu(margin - d))
return terms[torch.ones_like(same).triu(1)].mean()
"""),
    "03-ex1-solution": Mistake(
        hint="you forgot the hinge",
        code="""\
d = torch.cdist(embeddings, embeddings)
same = labels[:, None] == labels[None, :]
pos = same & ~torch.eye(len(labels), dtype=torch.bool)
hardest_pos = d.masked_fill(~pos, float("-inf")).amax(1)
hardest_neg = d.masked_fill(same, float("inf")).amin(1)
valid = pos.any(1) & (~same).any(1)
return (hardest_pos - hardest_neg + margin)[valid].mean()
"""),
    "04-ex1-solution": Mistake(
        hint="the logits are inner products",
        code="""\
first = {}
anchors, positives = [], []
for index, label in enumerate(labels.tolist()):
    if label in first:
        anchors.append(first[label])
        positives.append(index)
    else:
        first[label] = index
logits = -torch.cdist(embeddings[anchors], embeddings[positives])
return F.cross_entropy(logits, torch.arange(len(anchors)))
"""),
    "05-ex1-solution": Mistake(
        hint="J_ij uses the negatives of both ends",
        code="""\
d = torch.cdist(embeddings, embeddings)
same = labels[:, None] == labels[None, :]
pos = same & ~torch.eye(len(labels), dtype=torch.bool)
if not pos.any() or same.all():
    return embeddings.sum() * 0
push = (margin - d).masked_fill(same, float("-inf")).logsumexp(1)
i, j = torch.nonzero(pos.triu(1), as_tuple=True)
return (torch.relu(push[i] + d[i, j]) ** 2).sum() / (2 * len(i))
"""),
    "06-ex1-solution": Mistake(
        hint="a point is never its own positive",
        code="""\
same = labels[:, None] == labels[None, :]
weakest_pos = similarity.masked_fill(~same, float("inf")).amin(1, keepdim=True)
hardest_neg = similarity.masked_fill(same, float("-inf")).amax(1, keepdim=True)
return same & (similarity - epsilon < hardest_neg), ~same & (similarity + epsilon > weakest_pos)
"""),
    "06-ex2-solution": Mistake(
        hint="you skipped the mining step",
        code="""\
sim = embeddings @ embeddings.T
same = labels[:, None] == labels[None, :]
pos = same & ~torch.eye(len(labels), dtype=torch.bool)
zero = torch.zeros(len(labels), 1, dtype=sim.dtype)
pos_term = torch.cat([zero, (-alpha * (sim - base)).masked_fill(~pos, float("-inf"))], 1).logsumexp(1) / alpha
neg_term = torch.cat([zero, (beta * (sim - base)).masked_fill(same, float("-inf"))], 1).logsumexp(1) / beta
return (pos_term + neg_term).mean()
"""),
    "07-ex1-solution": Mistake(
        hint="(a, p) is ordered",
        code="""\
n = n_classes * per_class
positive = n_classes * per_class * (per_class - 1) // 2
return {"positive_pairs": positive, "negative_pairs": n * (n - 1) // 2 - positive,
        "triplets": n * (per_class - 1) * (n - per_class) // 2}
"""),
    "08-ex1-solution": Mistake(
        hint="not including the endpoints",
        code="""\
w = torch.linspace(0, 1, n + 2, dtype=x_i.dtype)[:, None]
points = x_i + w * (x_j - x_i)
return points / points.norm(dim=1, keepdim=True) if normalize else points
"""),
    "08-ex2-solution": Mistake(
        hint="check the sign of the D²_ij term",
        code="""\
return (1 - w) * sq_dist[i, k] + w * sq_dist[j, k] + w * (1 - w) * sq_dist[i, j]
"""),
    "08-ex5-solution": Mistake(
        hint="x_i's share is 1 − w",
        code="""\
raw = (1 - w) * x_i + w * x_j
g = grad_s
if normalize:
    length = raw.norm()
    s = raw / length
    g = (g - s * (s @ g)) / length
return w * g, (1 - w) * g
"""),
}

#: What the "mistakes" student writes in a manually graded answer.
WRONG_ANSWER = "Nothing changes: the loss stays the same whatever we do."


def mistake_for(grade_id: str) -> Mistake:
    """The mistake of the exercise whose solution cell is ``grade_id``.

    Raises
    ------
    KeyError
        Naming the grade_id and this file, when the table has no entry for it.
    """
    if grade_id not in MISTAKES:
        raise KeyError(f"no typical mistake for the exercise {grade_id!r}: add one to tests/coursework/mistakes.py "
                       "(wrong code for its solution block and the fragment of the check's hint that names it)")
    return MISTAKES[grade_id]
