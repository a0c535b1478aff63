"""Replay a photo folder as people using the product, and run the real loop round after round.

Each round, a share of the stream is sent by simulated users: the photo is stored, the
production model predicts (interaction row), and the user answers truthfully, except that
unreliable users (a fifth of them) answer wrongly often enough that a fraction ``noise`` of
all answers is wrong. A quarter of the photos get a second opinion from another user. With an
``adversary`` (``retraining.adversaries``), attackers take a share of the answers. Then
the loop runs exactly as the beat task would (trigger check, curation, dataset versions,
training, gate, promotion) and the production model is scored on the test folder. Each
round also reports the accuracy of what it served estimated without labels, beside the true
accuracy of the same predictions, and what the round's trigger check decided
(``retraining.estimates``). A ``Burst`` sends every photo of one label in one round: a
shifted stream.

When stream and test are the same folder it is split, stratified per label, with ``seed``.
Features go to a persistent cache (content-addressed, so reusable between runs); all other
state lives in a fresh work directory.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from core.images import intake
from core.labels import LABEL_INDEX, VALID_LABELS
from core.model.calibration import report
from core.model.calibration import served as calibrated
from core.model.preprocess import decode
from core.photos import photo_key
from core.settings import Settings
from core.trust import answer_rows, reliabilities, to_answers
from core.warehouse import Row
from core.warehouse.records import interaction_row, new_id, utcnow
from retraining import datasets
from retraining.adversaries import Adversary, Attack, detection_auroc
from retraining.estimates import check_figures, rounded, served_figures
from retraining.evaluate import predict, scores_of
from retraining.feedback import last_check
from retraining.folder_evaluation import labelled_photos
from retraining.loop import champion_head, retrain
from retraining.resources import Resources
from retraining.rounds import Burst, Photo, round_photos, rounds_by_answers
from retraining.train import head_probabilities, taxonomy_head

__all__ = ["Burst", "Photo", "Simulation", "round_photos", "rounds_by_answers", "simulate"]

log = logging.getLogger(__name__)
USERS = 10
UNRELIABLE = 2
SECOND_OPINION = 0.25


def load_photos(folder: Path) -> list[Photo]:
    """Return the labelled photos under ``folder/<label>/``."""
    return [
        Photo(path, label, hashlib.sha256(path.read_bytes()).hexdigest())
        for path, label in labelled_photos(folder)
    ]


def stratified_split(
    photos: list[Photo], test_fraction: float, seed: int
) -> tuple[list[Photo], list[Photo]]:
    """Split photos into (stream, test), the same fraction of each label in test."""
    rng = np.random.default_rng(seed)
    stream, test = [], []
    for label in VALID_LABELS:
        group = [p for p in photos if p.label == label]
        group = [group[i] for i in rng.permutation(len(group))]
        cut = round(len(group) * test_fraction)
        test += group[:cut]
        stream += group[cut:]
    return stream, test


class Simulation:
    """The simulated users, the test set and the figures of every round."""

    def __init__(
        self,
        resources: Resources,
        test: list[Photo],
        noise: float,
        seed: int,
        adversary: Adversary | None = None,
    ) -> None:
        self.resources = resources
        self.attack = Attack(adversary, USERS, seed) if adversary else None
        self.truth: dict[str, str] = {}
        self.test = test
        self.rng = np.random.default_rng(seed)
        self.wrong_rate = min(1.0, noise * USERS / UNRELIABLE)
        self.labels_seen = 0
        self._senders: dict[str, list[int]] = {}
        self.best: dict[str, float] = {}

    def features(self, photos: list[Photo]) -> Any:
        """Return cached features of photo files, computing those never seen."""
        paths = {p.image_id: p.path for p in photos}
        return self.resources.features.ensure(
            [p.image_id for p in photos],
            lambda image_id: decode(paths[image_id].read_bytes()),
            self.resources.engine(),
            self.resources.progress,
        )

    def send(self, photos: list[Photo]) -> dict[str, Any]:
        """Users send photos, see the production model's answer and tell whether it is right.

        Rows are written in one batch per table (the warehouse opens a file per call, and a
        round sends hundreds of photos); they are the rows the bot and the server write.
        Returns the label-free estimate of the accuracy of what was served, beside the true
        accuracy on the same photos (``served_figures``).
        """
        version = self.resources.registry.production() or "v0"
        raw = self.raw_probabilities(version, photos)
        calibration = self.resources.registry.calibration(version)
        served = calibrated(raw, calibration)
        self.record(photos, served, version)
        truth = np.asarray([LABEL_INDEX[p.label] for p in photos], np.int64)
        return served_figures(served, truth, calibration)

    def raw_probabilities(self, version: str, photos: list[Photo]) -> np.ndarray:
        """Return a version's uncalibrated probabilities on photos."""
        head = champion_head(self.resources.registry, version) or taxonomy_head()
        return head_probabilities(head, self.features(photos).head_inputs())

    def record(self, photos: list[Photo], probabilities: np.ndarray, version: str) -> None:
        """Store the photos and write the interactions and answers of their senders."""
        rows: dict[str, list[dict[str, Any]]] = {"images": [], "interactions": [], "feedback": []}
        for photo, row in zip(photos, probabilities, strict=True):
            users = self.senders(photo)
            rows["images"].append(self._image_row(photo, users[0]))
            for user in users:
                interaction = _interaction_row(photo.image_id, row, version, user)
                rows["interactions"].append(interaction)
                rows["feedback"].append(self._feedback_row(interaction, photo, user))
        for table, batch in rows.items():
            self.resources.warehouse.insert(table, batch)

    def senders(self, photo: Photo) -> list[int]:
        """Return who sends (and answers about) a photo: one user, a quarter of the time two.

        Drawn once per photo, when first asked, so rounds can be sized by answers.
        """
        users = self._senders.get(photo.image_id)
        if users is None:
            users = [int(self.rng.integers(USERS))]
            if self.rng.random() < SECOND_OPINION:
                users.append((users[0] + 1 + int(self.rng.integers(USERS - 1))) % USERS)
            if self.attack is not None:  # its own generator: the honest draws stay the same
                users = self.attack.senders(users)
            self._senders[photo.image_id] = users
        return users

    def _image_row(self, photo: Photo, user: int) -> dict[str, Any]:
        # The row keeps the photo's id (the file's hash, as its interactions and features
        # do) even where intake stored it turned upright under another hash.
        image = intake(photo.path.read_bytes())
        key = photo_key(image)
        self.resources.store.put(key, image.data, image.content_type)
        return {"image_id": photo.image_id, "created_at": utcnow(), "phash": image.phash,
                "storage_key": key, "content_type": image.content_type, "width": image.width,
                "height": image.height, "size_bytes": len(image.data), "source": "simulate",
                "user_id": f"sim:{user}"}  # fmt: skip

    def _feedback_row(self, interaction: dict[str, Any], photo: Photo, user: int) -> dict[str, Any]:
        label = photo.label
        self.truth[photo.image_id] = photo.label
        if self.attack is not None and user in self.attack.ids:
            label = self.attack.answer(photo.image_id, photo.label)
        elif user < UNRELIABLE and self.rng.random() < self.wrong_rate:
            others = [name for name in VALID_LABELS if name != photo.label]
            label = others[int(self.rng.integers(len(others)))]
        self.labels_seen += 1
        predicted = interaction["predicted_label"]
        return {"feedback_id": new_id(), "created_at": utcnow(),
                "interaction_id": interaction["interaction_id"], "user_id": f"sim:{user}",
                "is_correct": label == predicted, "label": label,
                "predicted_label": predicted, "model_version": interaction["model_version"],
                "channel": "api", "is_admin": False}  # fmt: skip

    def score(self, round_number: int, retrain_seconds: float) -> dict[str, Any]:
        """Score production on the test photos; the round's line of the JSON output."""
        version = self.resources.registry.production() or "v0"
        head = champion_head(self.resources.registry, version)
        truth = np.asarray([LABEL_INDEX[p.label] for p in self.test], np.int64)
        raw = self.raw_probabilities(version, self.test)
        scores = scores_of(truth, raw.argmax(axis=1))
        figures = report(raw, truth, self.resources.registry.calibration(version))
        return {
            "round": round_number,
            "labels_seen": self.labels_seen,
            "model_version": version,
            "accuracy": round(scores.accuracy, 4),
            "macro_f1": round(scores.macro_f1, 4),
            "per_label": {
                k: None if v is None else round(v, 4) for k, v in scores.per_label.items()
            },
            "forgetting": round(self._forgetting(head), 4),
            "calibration": rounded(figures),
            "retrain_seconds": round(retrain_seconds, 2),
            **self.harm(),
        }

    def harm(self) -> dict[str, Any]:
        """What the adversaries achieved: test labels they gave, and how visible they are."""
        if self.attack is None:
            return {"test_labels_from_adversaries": 0, "adversary_detection_auroc": None}
        test = datasets.latest(self.resources.warehouse, self.resources.store, "test")
        labels = {e.image_id: e.label for e in test.examples} if test else {}
        answers = to_answers(answer_rows(self.resources.warehouse))
        found = detection_auroc(reliabilities(answers), {f"sim:{i}" for i in self.attack.ids})
        return {
            "test_labels_from_adversaries": self.attack.test_labels_taken(labels, self.truth),
            "adversary_detection_auroc": None if found is None else round(found, 4),
        }

    def _forgetting(self, head: Any) -> float:
        """Mean drop from the best accuracy ever reached on each dataset version's examples."""
        train = datasets.latest(self.resources.warehouse, self.resources.store, "train")
        if train is None:
            return 0.0
        by_version: dict[str, list[datasets.Example]] = {}
        for example in train.examples:
            by_version.setdefault(example.added_in, []).append(example)
        drops = []
        for version, examples in by_version.items():
            truth = np.asarray(datasets.label_indices(examples))
            feats = self.resources.features.get([e.image_id for e in examples])
            accuracy = float(np.mean(predict(head, feats) == truth))
            best = max(self.best.get(version, accuracy), accuracy)
            self.best[version] = best
            drops.append(best - accuracy)
        return float(np.mean(drops)) if drops else 0.0


def _interaction_row(image_id: str, row: np.ndarray, version: str, user: int) -> Row:
    order = np.argsort(-row)[:3]
    return interaction_row(
        interaction_id=new_id(), channel="api", image_id=image_id, model_version=version,
        top3=[(VALID_LABELS[i], float(row[i])) for i in order], probabilities=row.tolist(),
        user_id=f"sim:{user}",
    )  # fmt: skip


def simulate(
    resources: Resources,
    settings: Settings,
    stream: list[Photo],
    test: list[Photo],
    *,
    rounds: int | None,
    noise: float,
    seed: int,
    burst: Burst | None = None,
    labels_per_round: int | None = None,
    adversary: Adversary | None = None,
) -> dict[str, Any]:
    """Run rounds of sending photos and retraining; return the JSON figures.

    ``rounds`` rounds splitting the stream evenly, or (with ``labels_per_round``) rounds of
    that many answers each, at most ``rounds`` of them when given.
    """
    simulation = Simulation(resources, test, noise, seed, adversary)
    if labels_per_round is not None:
        chunks = rounds_by_answers(simulation, stream, labels_per_round, seed, rounds)
    else:
        chunks = round_photos(stream, rounds or 4, seed, burst)
    results = [{**simulation.score(0, 0.0), "estimated_accuracy": None,
                "answered_accuracy": None, "check": None, "outcome": None,
                "challenger": None, "transfer": None}]  # fmt: skip
    rounds = len(chunks)
    with resources.progress.bar(rounds, "rounds", "rounds") as step:
        for number, photos in enumerate(chunks, start=1):
            sent = simulation.send(photos)
            outcome = retrain(resources, settings)
            results.append({**simulation.score(number, outcome.seconds), **sent,
                            "check": check_figures(last_check(resources.warehouse)),
                            "outcome": outcome.status, "challenger": outcome.challenger,
                            "transfer": outcome.figures.get("transfer")})  # fmt: skip
            resources.progress.phase(
                f"round {number}/{rounds}",
                f"{simulation.labels_seen} answers, {outcome.status} "
                f"{outcome.challenger or ''} accuracy {results[-1]['accuracy']:.3f} "
                f"({outcome.reason or outcome.rule})",
            )
            step(1)
    return {"rounds": results}
