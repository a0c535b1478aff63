"""The HTTP API on a live uvicorn server with the real registry and a colour backbone."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from core.model.calibration import Calibration
from core.model.handle import open_registry
from core.settings import Settings
from core.storage import open_store
from core.warehouse import open_warehouse
from core.warehouse.records import effective_feedback
from model_server.identity import Identity, session_secret
from model_server.state import SESSION_COOKIE
from tests.integration.server_support import (
    LiveServer,
    colour_factory,
    live_server,
    noisy_photo,
    photo_bytes,
)

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 40), (20, 40, 220)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings, colour_factory()) as running:
        yield running


def _predict(server: LiveServer, data: bytes, **kwargs: object) -> dict[str, object]:
    with server.client(**kwargs) as client:
        response = client.post("/v1/predictions", files={"image": ("p.jpg", data, "image/jpeg")})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_prediction_returns_top3_and_logs_the_interaction(
    server: LiveServer, settings: Settings
) -> None:
    body = _predict(server, photo_bytes(RED))
    top3 = body["top3"]
    assert isinstance(top3, list) and len(top3) == 3
    assert top3[0]["label"] == "dog" and top3[0]["probability"] > 0.9
    assert body["model_version"] == "v0"
    server.written()
    rows = open_warehouse(settings).query(
        "SELECT * FROM interactions WHERE interaction_id = @id", {"id": body["interaction_id"]}
    )
    assert len(rows) == 1
    assert rows[0]["channel"] == "api" and rows[0]["predicted_label"] == "dog"
    assert rows[0]["image_id"] == body["image_id"]
    images = open_store(settings).list("images/")
    assert len(images) == 1 and str(body["image_id"]) in images[0]


def test_feedback_correct_then_corrected_supersedes(server: LiveServer, settings: Settings) -> None:
    interaction = _predict(server, photo_bytes(GREEN))["interaction_id"]
    with server.client() as client:
        first = client.post("/v1/feedback", json={"interaction_id": interaction, "correct": True})
        second = client.post("/v1/feedback", json={"interaction_id": interaction, "label": "lion"})
    assert first.status_code == 200 and first.json()["is_correct"] is True
    assert first.json()["label"] == "cat"
    assert second.status_code == 200 and second.json()["is_correct"] is False
    assert "lion" in second.json()["message"]
    counted = effective_feedback(open_warehouse(settings))
    assert [(row["label"], row["is_correct"]) for row in counted] == [("lion", False)]


def test_feedback_errors_are_readable_json(server: LiveServer, settings: Settings) -> None:
    interaction = _predict(server, photo_bytes(BLUE))["interaction_id"]
    with server.client() as client:
        unknown = client.post("/v1/feedback", json={"interaction_id": "nope", "correct": True})
        bad_label = client.post(
            "/v1/feedback", json={"interaction_id": interaction, "label": "unicorn"}
        )
        no_answer = client.post("/v1/feedback", json={"interaction_id": interaction})
        not_json = client.post(
            "/v1/feedback", content=b"{", headers={"content-type": "application/json"}
        )
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_interaction"
    assert bad_label.status_code == 422 and bad_label.json()["error"] == "invalid_label"
    assert "16" in bad_label.json()["message"]
    assert no_answer.status_code == 422 and no_answer.json()["error"] == "missing_answer"
    assert not_json.status_code == 422 and not_json.json()["error"] == "invalid_request"
    assert effective_feedback(open_warehouse(settings)) == []


def _truncated_jpeg() -> bytes:
    data = photo_bytes(RED, size=(400, 300))
    return data[: len(data) // 2]


def _big_canvas() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 3000), RED).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"", 400, "empty_image"),
        (b"this is not a photo at all", 415, "not_an_image"),
        ("truncated", 422, "truncated_image"),
        ("pixels", 413, "too_many_pixels"),
        ("bytes", 413, "image_too_large"),
        ("huge", 413, "request_too_large"),
        ("bmp", 415, "unsupported_image_format"),
    ],
)
def test_bad_uploads_are_refused_and_leave_nothing(
    settings: Settings,
    payload: object,
    status: int,
    code: str,
) -> None:
    limited = settings.model_copy(
        update={
            "images": settings.images.model_copy(
                update={"max_bytes": 200_000, "max_pixels": 4_000_000}
            )
        }
    )
    data = (
        {
            "truncated": _truncated_jpeg,
            "pixels": _big_canvas,
            "bytes": lambda: noisy_photo(RED, 1, size=(400, 400)),
            "huge": lambda: b"\xff" * 2_000_000,
            "bmp": lambda: photo_bytes(RED, fmt="BMP"),
        }[payload]()
        if isinstance(payload, str)
        else payload
    )
    with live_server(limited, colour_factory()) as server, server.client() as client:
        response = client.post("/v1/predictions", files={"image": ("p.jpg", data, "image/jpeg")})
        images = client.post("/v1/images", files={"image": ("p.jpg", data, "image/jpeg")})
    for answer in (response, images):
        assert answer.status_code == status, answer.text
        assert answer.json()["error"] == code
        assert answer.json()["message"]
    warehouse = open_warehouse(limited)
    assert warehouse.query("SELECT COUNT(*) AS n FROM interactions")[0]["n"] == 0
    assert warehouse.query("SELECT COUNT(*) AS n FROM images")[0]["n"] == 0
    assert open_store(limited).list("images/") == []


def test_missing_file_field_is_a_readable_422(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post("/v1/predictions", data={"something": "else"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "image" in response.json()["message"]


def test_images_are_stored_once_and_duplicates_reported(
    server: LiveServer, settings: Settings
) -> None:
    original = noisy_photo(RED, 7, size=(320, 240))
    reencoded = io.BytesIO()
    Image.open(io.BytesIO(original)).save(reencoded, format="JPEG", quality=85)
    form = {"label": "dog", "license": "CC0", "attribution": "A. Photographer"}
    with server.client() as client:
        added = client.post("/v1/images", files={"image": ("a.png", original)}, data=form)
        again = client.post("/v1/images", files={"image": ("a.png", original)}, data=form)
        near = client.post("/v1/images", files={"image": ("b.jpg", reencoded.getvalue())})
        bad = client.post(
            "/v1/images", files={"image": ("c.png", noisy_photo(BLUE, 8))}, data={"label": "yeti"}
        )
        posing = client.post(  # an upload claiming to be an acquired photo with its weak label
            "/v1/images",
            files={"image": ("d.png", noisy_photo(BLUE, 9))},
            data={"label": "giraffe", "source": "unsplash"},
        )
    assert added.status_code == 201 and added.json()["stored"] is True
    assert again.status_code == 200 and again.json()["duplicate_kind"] == "exact"
    assert near.status_code == 200 and near.json()["duplicate_kind"] == "near"
    assert near.json()["duplicate_of"] == added.json()["image_id"]
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_label"
    assert posing.status_code == 422 and posing.json()["error"] == "reserved_source"
    rows = open_warehouse(settings).query("SELECT * FROM images")
    assert len(rows) == 1
    assert (rows[0]["weak_label"], rows[0]["license"], rows[0]["source"]) == (
        "dog",
        "CC0",
        "upload",
    )
    assert len(open_store(settings).list("images/")) == 1


def test_labels_model_health_and_metrics(server: LiveServer) -> None:
    with server.client() as client:
        client.post("/v1/predictions", files={"image": ("p.jpg", photo_bytes(RED))})
        labels = client.get("/v1/labels").json()["labels"]
        model = client.get("/v1/model").json()
        health = client.get("/healthz")
        page = client.get("/")
        ready = client.get("/readyz").json()
        metrics = client.get("/metrics").text
        openapi = client.get("/openapi.json").json()
    assert [label["label"] for label in labels][:3] == ["dog", "cat", "horse"] and len(labels) == 16
    assert model["production"]["version"] == "v0" and model["serving"] == "v0"
    assert model["production"]["kind"] == "taxonomy"
    assert model["production"]["created_at"] is None  # built into the code, not from 1970
    phrases = {label["label"]: label["phrase"] for label in labels}
    assert phrases["dog"] == "a dog" and phrases["elephant"] == "an elephant"
    assert phrases["other"] == "none of the animals I know"
    assert health.status_code == 200
    for response in (health, page):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert ready["checks"] == {"model": "ok", "store": "ok", "warehouse": "ok"}
    assert 'creature_vis_predictions_total{label="dog",model_version="v0"} 1.0' in metrics
    assert 'creature_vis_model_info{version="v0"} 1.0' in metrics
    assert 'route="/v1/predictions",status="200"' in metrics
    assert "creature_vis_http_request_duration_seconds_bucket" in metrics
    for phase in ("intake", "model", "log"):
        assert f'creature_vis_prediction_phase_seconds_count{{phase="{phase}"}} 1.0' in metrics
    assert "creature_vis_batch_size_count 1.0" in metrics
    assert {"/v1/predictions", "/v1/feedback", "/v1/images", "/v1/model"} <= set(openapi["paths"])


def test_web_session_cookie_makes_web_interactions(server: LiveServer, settings: Settings) -> None:
    with server.client() as client:
        page = client.get("/")
        assert page.status_code == 200 and "creature-vis" in page.text
        session = Identity(session_secret(settings)).web_user(client.cookies[SESSION_COOKIE])
        assert session is not None
        body = client.post("/v1/predictions", files={"image": ("p.jpg", photo_bytes(BLUE))}).json()
        client.post(
            "/v1/feedback", json={"interaction_id": body["interaction_id"], "correct": True}
        )
        status = client.get("/v1/status").json()
    warehouse = open_warehouse(settings)
    interaction = warehouse.query("SELECT channel, user_id FROM interactions")[0]
    feedback = warehouse.query("SELECT channel, user_id FROM feedback")[0]
    assert interaction == {"channel": "web", "user_id": session}
    assert feedback == {"channel": "web", "user_id": session}
    assert status["feedback"] == {"total": 1, "correct": 1, "incorrect": 0, "accuracy": 1.0}
    assert status["predictions"] == 1
    assert status["feedback_by_version"] == [{"version": "v0", "total": 1, "accuracy": 1.0}]
    # agreeing with the model, believed, but anonymous: counted, never more than down-weighted
    assert status["answers_this_week"] == {"trusted": 0, "down_weighted": 1, "refused": 0}
    figures = status["key_figures"]  # the same figures `creature-vis status` prints
    assert (figures["predictions"], figures["answers"], figures["incorrect"]) == (1, 1, 0)
    assert figures["rolling_accuracy"] == 1.0
    assert figures["photos_by_source"] == {"web": 1}


def test_status_estimates_accuracy_once_production_is_calibrated(
    server: LiveServer, settings: Settings
) -> None:
    served = [_predict(server, photo_bytes(colour)) for colour in (RED, GREEN, BLUE)]
    tops = [float(body["top3"][0]["probability"]) for body in served]  # type: ignore[index]
    with server.client() as client:
        before = client.get("/v1/status").json()["estimated_accuracy"]
    # Model v0 before a round calibrated it: raw probabilities, so no figures at all.
    assert before == {"version": "v0", "calibrated": False, "predictions": 3, "cbpe": None,
                      "atc": None, "threshold": None}  # fmt: skip
    threshold = sorted(tops)[1]  # two of the three at or above it
    open_registry(settings).calibrate("v0", Calibration(1.0, None, threshold, 0.9, 60, "t-1"))
    with server.client() as client:
        after = client.get("/v1/status").json()["estimated_accuracy"]
    assert after["calibrated"] is True and after["predictions"] == 3
    assert after["threshold"] == threshold
    cbpe, atc = after["cbpe"], after["atc"]
    assert cbpe["value"] == pytest.approx(sum(tops) / 3, abs=1e-4)
    assert cbpe["low"] <= cbpe["value"] <= cbpe["high"]
    assert atc["value"] == pytest.approx(2 / 3, abs=1e-4)


def test_status_is_empty_on_a_fresh_install(server: LiveServer) -> None:
    with server.client() as client:
        status = client.get("/v1/status").json()
    assert status["feedback"]["total"] == 0 and status["feedback"]["accuracy"] is None
    assert status["estimated_accuracy"]["predictions"] == 0
    assert status["answers_this_week"] == {"trusted": 0, "down_weighted": 0, "refused": 0}
    assert [v["version"] for v in status["model"]["history"]] == ["v0"]


def test_readyz_names_the_failing_check_without_its_error_text() -> None:
    from model_server.routes import health

    class Broken:
        def ping(self) -> None:
            raise OSError("secret-bucket-name: permission denied for sa@project")

    class State:
        model = type("Model", (), {"loaded_version": "v0", "load_error": None})()
        store = Broken()
        warehouse = Broken()

    checks = health._checks(State())  # type: ignore[arg-type]
    assert checks == {"model": "ok", "store": "failed", "warehouse": "failed"}
