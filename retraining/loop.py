"""One turn of the loop: check, curate, freeze datasets, train, evaluate, promote or refuse."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.manifests import redact
from core.model.classifier import Features, Head
from core.model.features import FeatureCache, store_loader
from core.model.lifecycle import Lifecycle
from core.model.registry import ModelRegistry
from core.settings import PromotionSettings, Settings
from core.trust import to_answers
from core.warehouse.records import record_event
from retraining import datasets, forgetting
from retraining.check import check
from retraining.consensus import resolve
from retraining.curation import CurationConfig, Labelled, Selection, select
from retraining.evaluate import GateResult, fit_calibration, gate, predict
from retraining.feedback import image_keys
from retraining.lease import Lease, LeaseHeld
from retraining.promote import act, register
from retraining.resources import Resources
from retraining.sequential import SequentialTest
from retraining.snapshot import Snapshot, read_snapshot
from retraining.staging import review
from retraining.train import TrainConfig, head_probabilities, taxonomy_head, train_on_manifest
from retraining.triggers import Decision
from retraining.weak import weak_labelled

log = logging.getLogger(__name__)
ROUND_LEASE_KEY = "locks/retrain.lease"
ROUND_LEASE_SECONDS = 3 * 3600 + 600  # the training task's time limit, and some
Trainer = Callable[[datasets.Manifest, str], Head]  # (training version, parent) -> challenger


@dataclass
class Outcome:
    """What one run did, for the CLI, the worker and the simulator."""

    fired: bool
    rule: str
    status: str  # not fired, nothing new, busy (another round runs), promoted, staged, refused
    production: str
    dataset_version: str | None = None
    test_version: str | None = None
    challenger: str | None = None
    reason: str = ""
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form printed by the CLI."""
        return asdict(self)


def retrain(
    resources: Resources,
    settings: Settings,
    *,
    force: bool = False,
    trainer: Trainer | None = None,
    forced_rule: str = "forced",
    decision: Decision | None = None,
) -> Outcome:
    """Run the policy and, when a rule fires (or forced), one full retraining round.

    A ``decision`` already made (and logged) by the scheduled check is taken as it is.
    """
    started = time.perf_counter()
    promotion, registry, progress = settings.promotion, resources.registry, resources.progress
    staging = None
    if promotion.staging and decision is None:
        staging = review(registry, resources.warehouse, SequentialTest.from_settings(promotion))
    if decision is None:
        decision = check(resources, settings.triggers, force=force, forced_rule=forced_rule)
    progress.phase("check", f"{'fired' if decision.fired else 'not fired'} ({decision.rule})")
    outcome = Outcome(decision.fired, decision.rule, "not fired", registry.production() or "v0")
    if not decision.fired or staging == "waiting":
        outcome.reason = "a staged version is still in shadow" if staging == "waiting" else ""
        return outcome
    try:
        with Lease(resources.store, ROUND_LEASE_KEY, ROUND_LEASE_SECONDS).held():
            _round(resources, settings, outcome, trainer or default_trainer(resources, settings))
    except LeaseHeld as exc:  # one round at a time, across processes and machines
        outcome.status, outcome.reason = "busy", f"another retrain is running ({exc})"
        return outcome
    except Exception as exc:
        record_event(resources.warehouse, "failed", rule=type(exc).__name__,
                     details={"error": str(exc)})  # fmt: skip
        raise
    outcome.production = registry.production() or "v0"
    outcome.seconds = time.perf_counter() - started
    return outcome


def _round(resources: Resources, settings: Settings, outcome: Outcome, trainer: Trainer) -> None:
    # Read inside the lease: a round that ran meanwhile has frozen what it took.
    snapshot = read_snapshot(resources.warehouse, resources.store)
    prepared = prepare(resources, snapshot, CurationConfig.from_settings(settings.curation),
                       datasets.SplitPolicy.from_settings(settings.curation))  # fmt: skip
    if prepared is None:
        outcome.status, outcome.reason = "nothing new", "no new usable examples"
        return
    train, test = prepared
    outcome.dataset_version, outcome.test_version = train.version, test.version
    champion, progress = outcome.production, resources.progress
    record_event(resources.warehouse, "train", model_version=champion,
                 dataset_version=train.version,
                 details={"examples": len(train.examples), "test": len(test.examples)})  # fmt: skip
    head = trainer(train, champion)
    progress.phase("train", f"challenger of {champion} on {len(train.examples)} examples")
    champion_model = champion_head(resources.registry, champion)
    verdict = evaluate_pair(resources.features, champion_model, head, test,
                            policy=settings.promotion,
                            diagonal=forgetting.diagonal(resources.registry))  # fmt: skip
    progress.phase("evaluate", f"{len(test.examples)} test photos: {verdict.reason}")
    metrics = {**verdict.figures["challenger"], "gate": verdict.reason,
               "retention": verdict.figures["retention"]["challenger"],
               "retention_group": verdict.figures["retention"]["group"],
               **verdict.figures["transfer"]}  # fmt: skip
    lifecycle = Lifecycle(resources.registry, resources.warehouse)
    outcome.challenger = register(lifecycle, head, champion, train.version, metrics)
    verdict.figures["calibration"] = calibrate(
        resources, {champion: champion_model, outcome.challenger: head}, test,
        settings.model.coverage)  # fmt: skip
    outcome.status = act(lifecycle, outcome.challenger, champion, verdict,
                         staging=settings.promotion.staging)  # fmt: skip
    progress.phase("decide", f"{outcome.challenger} {outcome.status}")
    outcome.reason, outcome.figures = verdict.reason, verdict.figures


def default_trainer(resources: Resources, settings: Settings) -> Trainer:
    """Train in this process, or on Vertex AI when ``training.backend`` says so."""
    if settings.training.backend == "vertex":
        from retraining.vertex import vertex_trainer

        return lambda train, parent: vertex_trainer(resources.store, settings, train, parent)
    config = TrainConfig.from_settings(settings.training)
    return lambda train, parent: local_trainer(
        resources.registry, resources.features, train, parent, config
    )


def local_trainer(
    registry: ModelRegistry,
    features: FeatureCache,
    train: datasets.Manifest,
    parent: str,
    config: TrainConfig,
) -> Head:
    """Train in this process (what the container entry also runs)."""
    champion = registry.get(parent)
    return train_on_manifest(
        features, train, champion.head, champion.lineage.dataset_version, config
    )


def calibrate(
    resources: Resources,
    heads: dict[str, Head | None],
    test: datasets.Manifest,
    coverage: float,
) -> dict[str, Any]:
    """Refit each version's calibration on the current held-out test set and store it."""
    truth = np.asarray(datasets.label_indices(test.examples), np.int64)
    on_test = resources.features.get([e.image_id for e in test.examples])
    fitted = {}
    for version, head in heads.items():
        calibration = fit_calibration(head, on_test, truth, coverage, test.version)
        resources.registry.calibrate(version, calibration)
        fitted[version] = calibration.to_json()
    return fitted


def champion_head(registry: ModelRegistry, version: str) -> Head | None:
    """Return a version's head (None for the taxonomy model v0)."""
    return registry.get(version).head


def features_of(resources: Resources, image_ids: list[str]) -> Features:
    """Return cached features, computing (once) those of photos never seen before."""
    cache = resources.features
    if cache.missing(image_ids):
        loader = store_loader(resources.store, image_keys(resources.warehouse))
        return cache.ensure(image_ids, loader, resources.engine(), resources.progress)
    return cache.get(image_ids)


def prepare(
    resources: Resources, snapshot: Snapshot, curation: CurationConfig, split: datasets.SplitPolicy
) -> tuple[datasets.Manifest, datasets.Manifest] | None:
    """Curate new answers and freeze the next training (and, if it grew, test) version."""
    train, test = snapshot.train, snapshot.test
    labelled = candidates(resources, snapshot, curation)
    resources.progress.phase("curate", f"{len(labelled)} new labelled photos")
    if not labelled:
        return None
    new_features = features_of(resources, [item.image_id for item in labelled])
    held_examples = train.examples if train else []
    held_features = resources.features.get([e.image_id for e in held_examples])
    selections = select(labelled, new_features.embeddings, held_features.embeddings,
                        train.counts() if train else {}, curation)  # fmt: skip
    chosen = [_example(s) for s in selections if s.selected]
    to_train, to_test = datasets.split_new(chosen, test, split)
    if not to_train:
        return None
    store, warehouse = resources.store, resources.warehouse
    if to_test or test is None:
        test = datasets.freeze(store, warehouse, "test", test, to_test)
    train = datasets.freeze(store, warehouse, "train", train, to_train)
    _log_selection(resources, train.version, selections)
    resources.progress.phase(
        "datasets",
        f"train {train.version} (+{len(to_train)}, {len(train.examples)} in all), "
        f"test {test.version} (+{len(to_test)}, {len(test.examples)} in all)",
    )
    return train, test


def candidates(
    resources: Resources, snapshot: Snapshot, curation: CurationConfig
) -> list[Labelled]:
    """Return people's labels, then acquired photos' weak labels, of photos not yet held."""
    held = snapshot.held
    people = [item for item in resolve(to_answers(snapshot.answers), curation)
              if item.image_id not in held]  # fmt: skip
    if not snapshot.weak:
        return people
    features = features_of(resources, [str(row["image_id"]) for row in snapshot.weak])
    production = champion_head(resources.registry, resources.registry.production() or "v0")
    probabilities = head_probabilities(production or taxonomy_head(), features.head_inputs())
    return people + weak_labelled(snapshot.weak, probabilities, curation)


def _example(selection: Selection) -> datasets.Example:
    return datasets.Example(
        image_id=selection.image_id,
        label=selection.label,
        source=selection.source,
        weight=round(selection.trust, 4),
        split="train",
        score=round(selection.score, 4),
    )


def _log_selection(resources: Resources, version: str, selections: list[Selection]) -> None:
    key = datasets.selection_key(version)
    body = [asdict(s) for s in selections]
    resources.store.put(key, json.dumps(body, indent=1).encode(), "application/json")
    redact(resources.store, key)
    dropped: dict[str, int] = {}
    for s in selections:
        if not s.selected:
            dropped[s.reason.split(" (")[0]] = dropped.get(s.reason.split(" (")[0], 0) + 1
    summary = {"selection_key": key, "candidates": len(selections), "dropped": dropped,
               "selected": sum(s.selected for s in selections)}  # fmt: skip
    record_event(resources.warehouse, "curate", dataset_version=version, details=summary)


def evaluate_pair(
    features: FeatureCache,
    champion: Head | None,
    challenger: Head,
    test: datasets.Manifest,
    *,
    policy: PromotionSettings,
    diagonal: dict[str, float],
) -> GateResult:
    """Score both on the held-out test set, gate, and weigh forgetting (``retraining.forgetting``).

    ``diagonal`` holds R[j][j] of the versions before (``forgetting.diagonal``).
    """
    truth = np.asarray(datasets.label_indices(test.examples), np.int64)
    on_test = features.get([e.image_id for e in test.examples])
    verdict = gate(truth, predict(champion, on_test), predict(challenger, on_test), policy)
    by_group = forgetting.groups(test)
    rows = {"champion": forgetting.retention(features, champion, by_group),
            "challenger": forgetting.retention(features, challenger, by_group)}  # fmt: skip
    own = forgetting.own_group(test, diagonal)
    verdict.figures["retention"] = {**rows, "group": own}
    found = forgetting.transfer(rows["challenger"], own, diagonal)
    return forgetting.refuse_forgetting(verdict, found, policy.min_backward_transfer)
