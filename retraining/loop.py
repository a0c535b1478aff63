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
from core.model.features import store_loader
from core.storage.lease import Lease, LeaseHeld
from core.warehouse.records import record_event
from retraining import datasets
from retraining.check import check, held_ids
from retraining.context import LoopContext
from retraining.curation import Labelled, Selection, resolve, select
from retraining.evaluate import GateResult, forgetting, gate, predict
from retraining.feedback import answer_rows, image_keys, to_answers
from retraining.promote import act, register
from retraining.staging import review
from retraining.train import head_probabilities, taxonomy_head, train_on_manifest
from retraining.triggers import Decision
from retraining.weak import weak_labelled, weak_rows

log = logging.getLogger(__name__)
ROUND_LEASE_KEY = "locks/retrain.lease"
ROUND_LEASE_SECONDS = 3 * 3600 + 600  # the training task's time limit, and some
Trainer = Callable[[LoopContext, datasets.Manifest, str], Head]


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
    ctx: LoopContext,
    force: bool = False,
    trainer: Trainer | None = None,
    forced_rule: str = "forced",
    decision: Decision | None = None,
) -> Outcome:
    """Run the policy and, when a rule fires (or forced), one full retraining round.

    A ``decision`` already made (and logged) by the scheduled check is taken as it is.
    """
    started = time.perf_counter()
    staging = review(ctx) if ctx.settings.retrain.staging and decision is None else None
    if decision is None:
        decision = check(ctx, force=force, forced_rule=forced_rule)
    ctx.progress.phase("check", f"{'fired' if decision.fired else 'not fired'} ({decision.rule})")
    production = ctx.registry.production() or "v0"
    outcome = Outcome(decision.fired, decision.rule, "not fired", production)
    if not decision.fired or staging == "waiting":
        outcome.reason = "a staged version is still in shadow" if staging == "waiting" else ""
        return outcome
    try:
        with Lease(ctx.store, ROUND_LEASE_KEY, ROUND_LEASE_SECONDS).held():
            _round(ctx, outcome, trainer or default_trainer(ctx))
    except LeaseHeld as exc:  # one round at a time, across processes and machines
        outcome.status, outcome.reason = "busy", f"another retrain is running ({exc})"
        return outcome
    except Exception as exc:
        record_event(ctx.warehouse, "failed", rule=type(exc).__name__, details={"error": str(exc)})
        raise
    outcome.production = ctx.registry.production() or "v0"
    outcome.seconds = time.perf_counter() - started
    return outcome


def _round(ctx: LoopContext, outcome: Outcome, trainer: Trainer) -> None:
    prepared = prepare(ctx)
    if prepared is None:
        outcome.status, outcome.reason = "nothing new", "no new usable examples"
        return
    train, test = prepared
    outcome.dataset_version, outcome.test_version = train.version, test.version
    champion = outcome.production
    record_event(ctx.warehouse, "train", model_version=champion, dataset_version=train.version,
                 details={"examples": len(train.examples), "test": len(test.examples)})  # fmt: skip
    head = trainer(ctx, train, champion)
    ctx.progress.phase("train", f"challenger of {champion} on {len(train.examples)} examples")
    verdict = evaluate_pair(ctx, champion_head(ctx, champion), head, train, test)
    ctx.progress.phase("evaluate", f"{len(test.examples)} test photos: {verdict.reason}")
    metrics = {**verdict.figures["challenger"], "gate": verdict.reason}
    outcome.challenger = register(ctx, head, champion, train.version, metrics)
    outcome.status = act(ctx, outcome.challenger, champion, verdict)
    ctx.progress.phase("decide", f"{outcome.challenger} {outcome.status}")
    outcome.reason, outcome.figures = verdict.reason, verdict.figures


def default_trainer(ctx: LoopContext) -> Trainer:
    """Train in this process, or on Vertex AI when ``retrain.backend`` says so."""
    if ctx.settings.retrain.backend == "vertex":
        from retraining.vertex import vertex_trainer

        return vertex_trainer
    return local_trainer


def local_trainer(ctx: LoopContext, train: datasets.Manifest, parent: str) -> Head:
    """Train in this process (what the container entry also runs)."""
    champion = ctx.registry.get(parent)
    return train_on_manifest(ctx, train, champion.head, champion.lineage.dataset_version)


def champion_head(ctx: LoopContext, version: str) -> Head | None:
    """Return a version's head (None for the taxonomy model v0)."""
    return ctx.registry.get(version).head


def features_of(ctx: LoopContext, image_ids: list[str]) -> Features:
    """Return cached features, computing (once) those of photos never seen before."""
    missing = ctx.features.missing(image_ids)
    if missing:
        loader = store_loader(ctx.store, image_keys(ctx.warehouse))
        return ctx.features.ensure(image_ids, loader, ctx.engine, ctx.progress)
    return ctx.features.get(image_ids)


def prepare(ctx: LoopContext) -> tuple[datasets.Manifest, datasets.Manifest] | None:
    """Curate new answers and freeze the next training (and, if it grew, test) version."""
    train = datasets.latest(ctx.warehouse, ctx.store, "train")
    test = datasets.latest(ctx.warehouse, ctx.store, "test")
    labelled = candidates(ctx, held_ids(ctx))
    ctx.progress.phase("curate", f"{len(labelled)} new labelled photos")
    if not labelled:
        return None
    new_features = features_of(ctx, [item.image_id for item in labelled])
    held_examples = train.examples if train else []
    held_features = ctx.features.get([e.image_id for e in held_examples])
    selections = select(labelled, new_features.embeddings, held_features.embeddings,
                        train.counts() if train else {}, ctx.curation)  # fmt: skip
    chosen = [_example(s) for s in selections if s.selected]
    to_train, to_test = datasets.split_new(chosen, test, ctx.split)
    if not to_train:
        return None
    if to_test or test is None:
        test = datasets.freeze(ctx.store, ctx.warehouse, "test", test, to_test)
    train = datasets.freeze(ctx.store, ctx.warehouse, "train", train, to_train)
    _log_selection(ctx, train.version, selections)
    ctx.progress.phase(
        "datasets",
        f"train {train.version} (+{len(to_train)}, {len(train.examples)} in all), "
        f"test {test.version} (+{len(to_test)}, {len(test.examples)} in all)",
    )
    return train, test


def candidates(ctx: LoopContext, held: set[str]) -> list[Labelled]:
    """Return people's labels, then acquired photos' weak labels, of photos not yet held."""
    people = [item for item in resolve(to_answers(answer_rows(ctx.warehouse)), ctx.curation)
              if item.image_id not in held]  # fmt: skip
    rows = weak_rows(ctx.warehouse, held | {item.image_id for item in people})
    if not rows:
        return people
    features = features_of(ctx, [str(row["image_id"]) for row in rows])
    production = champion_head(ctx, ctx.registry.production() or "v0")
    probabilities = head_probabilities(production or taxonomy_head(), features.head_inputs())
    return people + weak_labelled(rows, probabilities, ctx.curation)


def _example(selection: Selection) -> datasets.Example:
    return datasets.Example(
        image_id=selection.image_id,
        label=selection.label,
        source=selection.source,
        weight=round(selection.trust, 4),
        split="train",
        score=round(selection.score, 4),
    )


def _log_selection(ctx: LoopContext, version: str, selections: list[Selection]) -> None:
    key = datasets.selection_key(version)
    body = [asdict(s) for s in selections]
    ctx.store.put(key, json.dumps(body, indent=1).encode(), "application/json")
    redact(ctx.store, key)
    dropped: dict[str, int] = {}
    for s in selections:
        if not s.selected:
            dropped[s.reason.split(" (")[0]] = dropped.get(s.reason.split(" (")[0], 0) + 1
    summary = {"selection_key": key, "candidates": len(selections), "dropped": dropped,
               "selected": sum(s.selected for s in selections)}  # fmt: skip
    record_event(ctx.warehouse, "curate", dataset_version=version, details=summary)


def evaluate_pair(
    ctx: LoopContext,
    champion: Head | None,
    challenger: Head,
    train: datasets.Manifest,
    test: datasets.Manifest,
) -> GateResult:
    """Score both on the held-out test set, gate, and add forgetting per dataset version."""
    truth = np.asarray(datasets.label_indices(test.examples), np.int64)
    features = ctx.features.get([e.image_id for e in test.examples])
    verdict = gate(truth, predict(champion, features), predict(challenger, features),
                   ctx.settings.retrain)  # fmt: skip
    by_version: dict[str, list[datasets.Example]] = {}
    for example in train.examples:
        by_version.setdefault(example.added_in, []).append(example)
    truths, champ, chall = {}, {}, {}
    for version, examples in by_version.items():
        feats = ctx.features.get([e.image_id for e in examples])
        truths[version] = np.asarray(datasets.label_indices(examples), np.int64)
        champ[version], chall[version] = predict(champion, feats), predict(challenger, feats)
    verdict.figures["forgetting"] = forgetting(truths, champ, chall)
    return verdict
