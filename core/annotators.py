"""How reliable each person is, and what each photo shows: a Dawid-Skene estimate.

Every annotator (a person, or the production model answering with its top label) has a
confusion matrix ``C[p, true, answered]``; each photo's label has a posterior proportional to
the label prior times, over the answers about it, ``C[p, label, answer]``. EM alternates the
two (Dawid and Skene 1979), with three changes that make it safe against strangers:

* **Judged by the others.** A person's confusion counts are taken against the posterior of
  the photo *without their own answer* (leave one out), so a person alone on a photo cannot
  confirm themselves, and a pair of ids can only vouch for each other as far as the others
  already trust them.
* **A prior that trusts newcomers little.** Each person's accuracy (the share of their
  answers that are right) is shrunk towards the prior of their population with a number of
  pseudo-answers: a known person starts at ``known_accuracy`` (0.3: one answer out of 16
  labels is weak evidence), an anonymous session at ``anonymous_accuracy`` with a much
  stronger prior, so that anonymous answers stay a low-trust population however consistent
  they look; and however many anonymous answers a photo gets, together they weigh as one
  (sessions cost nothing to open). Admins' matrices are fixed at ``admin_accuracy``.
* **Rows pulled towards one coin.** Each row of a person's matrix is shrunk towards "right
  with their accuracy, otherwise any other label" with ``row_strength`` pseudo-answers: a
  person with few answers of a label is judged by their accuracy overall, one with many by
  what they actually answer (a lion<->tiger swapper's tiger then argues for lion).

A person's **reliability** is that shrunk accuracy. Everything is vectorised over answers
(``np.bincount`` per label), so 100,000 answers of 2,000 people take well under a second per
ten iterations (``bench/annotators.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KNOWN, ANONYMOUS, ADMIN, MODEL = 0, 1, 2, 3


@dataclass(frozen=True)
class Priors:
    """What is believed of an annotator before their answers are compared."""

    known_accuracy: float = 0.3
    known_strength: float = 10.0  # pseudo-answers behind it
    anonymous_accuracy: float = 0.15
    anonymous_strength: float = 60.0
    # The production model as an annotator: its accuracy is held here (the pattern of its
    # errors is learnt), so that it never out-votes people whose answers proved right.
    model_accuracy: float = 0.6
    admin_accuracy: float = 0.99
    row_strength: float = 1.0
    iterations: int = 30
    tolerance: float = 1e-3  # largest change of any reliability that ends EM


@dataclass(frozen=True)
class Answers:
    """Answers as parallel integer arrays; ``kinds`` holds one population per annotator."""

    items: np.ndarray
    people: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    n_items: int
    n_labels: int


@dataclass(frozen=True)
class Estimate:
    """The posterior of every photo's label and every annotator's confusion and reliability."""

    posterior: np.ndarray  # (items, labels)
    confusion: np.ndarray  # (annotators, true, answered)
    reliability: np.ndarray  # (annotators,)
    answered: np.ndarray  # (annotators,) answers given
    iterations: int


def estimate(answers: Answers, priors: Priors | None = None) -> Estimate:
    """Run EM from the priors until no posterior moves more than ``tolerance``."""
    priors = priors or Priors()
    n_labels, kinds = answers.n_labels, np.asarray(answers.kinds)
    n_people = len(kinds)
    base, strength = _population(kinds, priors)
    fixed = kinds == ADMIN
    held = fixed | (kinds == MODEL)  # accuracies that are not estimated
    by_item = _Groups(answers.items, answers.n_items)
    flat = answers.people * n_labels + answers.labels
    by_answer = _Groups(flat, n_people * n_labels)
    # An answer alone on its photo says nothing about its author: it is judged by nobody.
    judged_by_others = (np.bincount(answers.items, minlength=answers.n_items) >= 2)[answers.items]
    weight = _weights(answers, kinds)
    confusion = one_coin(base, n_labels)
    accuracy, log_prior = base.copy(), np.full(n_labels, -np.log(n_labels))
    posterior = np.full((answers.n_items, n_labels), 1.0 / n_labels)
    previous, done = base, 0
    for done in range(1, priors.iterations + 1):  # noqa: B007  (the count is reported)
        # log C[p, :, answered] of each answer, as rows of the (p, answered) x true table
        table = np.log(confusion.transpose(0, 2, 1).reshape(n_people * n_labels, n_labels))
        terms = np.take(table, flat, axis=0) * weight[:, None]
        log_post = by_item.sum(terms) + log_prior
        fresh = _softmax(log_post)
        others = _softmax(np.take(log_post, answers.items, axis=0) - terms)
        others *= judged_by_others[:, None]
        counts = by_answer.sum(others).reshape(n_people, n_labels, n_labels).transpose(0, 2, 1)
        right, judged = _evidence(others, answers, n_people)
        accuracy = np.where(held, base, _accuracy(right, judged, base, strength))
        rows = _rows(counts, accuracy, priors.row_strength)
        confusion = np.where(fixed[:, None, None], confusion, rows)
        log_prior = np.log((fresh.sum(axis=0) + 1.0) / (answers.n_items + n_labels))
        moved = float(np.abs(accuracy - previous).max()) if accuracy.size else 0.0
        posterior, previous = fresh, accuracy
        if moved < priors.tolerance:
            break
    answered = np.bincount(answers.people, minlength=n_people)
    return Estimate(posterior, confusion, accuracy, answered, done)


def _weights(answers: Answers, kinds: np.ndarray) -> np.ndarray:
    """Each answer's weight in a posterior: anonymous answers about a photo share one.

    Sessions cost nothing to open, so however many anonymous answers a photo gets they
    count, together, as one annotator's answer.
    """
    anonymous = kinds[answers.people] == ANONYMOUS
    per_item = np.bincount(answers.items[anonymous], minlength=answers.n_items)
    shared = 1.0 / np.maximum(per_item[answers.items], 1)
    result: np.ndarray = np.where(anonymous, shared, 1.0)
    return result


class _Groups:
    """Row sums of an (answers, labels) array by a key: one ``np.bincount`` per label."""

    def __init__(self, keys: np.ndarray, n_keys: int) -> None:
        self.keys = np.asarray(keys, np.int64)
        self.n_keys = n_keys

    def sum(self, values: np.ndarray) -> np.ndarray:
        columns = np.ascontiguousarray(values.T)
        out = np.empty((values.shape[1], self.n_keys))
        for k, column in enumerate(columns):
            out[k] = np.bincount(self.keys, weights=column, minlength=self.n_keys)
        return out.T


def one_coin(accuracy: np.ndarray, n_labels: int) -> np.ndarray:
    """Return matrices right with each ``accuracy``, otherwise any other label alike."""
    wrong = (1.0 - accuracy) / (n_labels - 1)
    eye = np.eye(n_labels)
    result: np.ndarray = accuracy[:, None, None] * eye + wrong[:, None, None] * (1.0 - eye)
    return result


def _population(kinds: np.ndarray, priors: Priors) -> tuple[np.ndarray, np.ndarray]:
    accuracy = np.select(
        [kinds == ANONYMOUS, kinds == ADMIN, kinds == MODEL],
        [priors.anonymous_accuracy, priors.admin_accuracy, priors.model_accuracy],
        priors.known_accuracy,
    )
    strength = np.where(kinds == ANONYMOUS, priors.anonymous_strength, priors.known_strength)
    return accuracy.astype(np.float64), strength.astype(np.float64)


def _evidence(others: np.ndarray, answers: Answers, n_people: int) -> tuple[np.ndarray, ...]:
    """Return each annotator's answers that were right, and how many were judged, in effect.

    Against a reference that puts ``q`` on each label, an annotator right with probability
    ``a`` (otherwise any other label) puts on average ``a s + (1 - a)(1 - s) / (L - 1)`` on
    their own answer, where ``s = sum(q**2)``: so the mass on their answer minus
    ``(1 - s) / (L - 1)`` counts as right, out of ``s - (1 - s) / (L - 1)`` judged. A sure
    reference judges a whole answer, one that cannot tell the labels apart judges none.
    """
    n_labels = answers.n_labels
    own = others[np.arange(len(others)), answers.labels]
    purity = (others**2).sum(axis=1)
    chance = np.where(purity > 0, (1.0 - purity) / (n_labels - 1), 0.0)
    right = np.bincount(answers.people, weights=own - chance, minlength=n_people)
    judged = np.bincount(answers.people, weights=purity - chance, minlength=n_people)
    return right, judged


def _accuracy(
    right: np.ndarray, judged: np.ndarray, base: np.ndarray, strength: np.ndarray
) -> np.ndarray:
    result: np.ndarray = np.clip((right + strength * base) / (judged + strength), 0.01, 0.99)
    return result


def _rows(counts: np.ndarray, accuracy: np.ndarray, strength: float) -> np.ndarray:
    """Each annotator's matrix: their answers' pattern, rescaled to their accuracy, shrunk.

    The right answers keep the shape of the counts' diagonal and the wrong ones that of the
    rest (a tenth of a uniform spread added, so that an annotator never seen wrong is not
    read as always right, nor one never seen right as always wrong).
    """
    n_labels = counts.shape[1]
    eye = np.eye(n_labels, dtype=bool)
    total = counts.sum(axis=(1, 2), keepdims=True)
    scaled = np.zeros_like(counts)
    for cells, share, size in (
        (eye, accuracy, n_labels),
        (~eye, 1 - accuracy, n_labels**2 - n_labels),
    ):
        part = np.where(cells, counts + 0.1 * total / size, 0.0)
        mass = part.sum(axis=(1, 2), keepdims=True)
        scaled += np.divide(part, mass, out=np.zeros_like(part), where=mass > 0) * (
            share[:, None, None] * total
        )
    result: np.ndarray = (scaled + strength * one_coin(accuracy, n_labels)) / (
        scaled.sum(axis=2, keepdims=True) + strength
    )
    return result


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    result: np.ndarray = shifted / shifted.sum(axis=-1, keepdims=True)
    return result
