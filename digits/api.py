"""The drawing API (django-ninja router, mounted at /api/digits/): predict,
store a labelled drawing, and the digit collect mode asks for next.

Every input a client can get wrong answers 4xx with ``{"detail", "code"}``
and stores nothing; the POSTs are CSRF-protected for the browser."""

from __future__ import annotations

from dataclasses import asdict
from functools import wraps

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, Router, Schema
from ninja.decorators import decorate_view
from ninja.security import APIKeyCookie

from models.models import ModelVersion
from models.selectors import model_version_get
from models.serving import ArtifactError, NoModelError, serving_process
from webapp.ratelimits import rate_limited

from .collect import (
    client_id_forget,
    client_id_get,
    client_id_peek,
    client_id_remember,
    client_sample_count,
    prompt_choose,
)
from .models import Sample
from .prediction import UnknownLayer, activations_encode, drawing_predict, explanation_encode
from .preprocessing import BlankDrawing, DrawingError, ImageTooLarge, data_url_decode
from .services import InvalidLabel, client_samples_forget, sample_create

router = Router(tags=["digits"])


class BrowserCsrf(APIKeyCookie):
    """No login here: anyone may draw.  The cookie "auth" exists so that ninja
    checks Django's CSRF token (cookie plus X-CSRFToken header) on POSTs, as a
    page served by this site sends them; another site cannot."""

    param_name = settings.CSRF_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None) -> bool:
        return True


csrf_protected = BrowserCsrf()


def body_limited(run):
    """Refuse an oversized body before anything reads it (413)."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args, **kwargs):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.DIGITS_MAX_BODY_BYTES:
            detail = f"The request body is over {settings.DIGITS_MAX_BODY_BYTES} bytes."
            return JsonResponse({"detail": detail, "code": "too_large"}, status=413)
        return run(request, *args, **kwargs)

    return wrapper


class ErrorOut(Schema):
    detail: str
    code: str


# While the first model trains (minutes after a fresh start) or loads.
NO_MODEL_RETRY_AFTER = 5  # seconds
NO_MODEL = (
    "No model is being served yet: the first model is still training or loading "
    f"(the drawing page shows its progress). Please retry in {NO_MODEL_RETRY_AFTER} seconds."
)


def _error(exc: Exception) -> tuple[int, dict] | HttpResponse:
    if isinstance(exc, NoModelError):
        answer = JsonResponse({"detail": NO_MODEL, "code": "no_model"}, status=503)
        answer["Retry-After"] = str(NO_MODEL_RETRY_AFTER)
        return answer
    status = {ImageTooLarge: 413, BlankDrawing: 422}.get(type(exc), 400)
    return status, {"detail": str(exc), "code": getattr(exc, "code", "bad_request")}


ERRORS = {400: ErrorOut, 413: ErrorOut, 422: ErrorOut, 429: ErrorOut}


# --- predict ------------------------------------------------------------------


class PredictIn(Schema):
    image: str = Field(description="The drawing as a PNG or JPEG data URL: data:image/png;base64,...")
    activations: bool | list[str] = Field(
        False,
        description="Also return every conv, pooling and dense layer's output (true), or only the named layers' "
        "(the page asks for those on screen)",
    )
    explanation: bool = Field(
        False, description="Also return why: one occlusion map per digit over the 28x28 input (about 5-15 ms more)"
    )
    version: int | None = Field(
        None, description="Staff only: answer with this registered version (any status) instead of the served one"
    )


class ModelRef(Schema):
    version: int
    sha256: str


class ProcessRef(Schema):
    host: str
    pid: int


class LayerOut(Schema):
    name: str
    type: str
    shape: list[int]
    min: float
    max: float
    data: str = Field(
        description="base64 of uint8 values in (height, width, channel) order; value = min + b/255*(max-min)"
    )


class ExplanationMapOut(Schema):
    digit: int
    scale: float
    data: str = Field(
        description="base64 of 784 uint8, row by row; value = (b - 128) / 127 * scale, "
        "> 0 where the ink pushed toward this digit, < 0 where it pushed against it"
    )


class ExplanationOut(Schema):
    method: str = Field(description="occlusion: each square of ink covered in turn, in one batch")
    patch: int = Field(description="side of the covered square in input pixels")
    maps: list[ExplanationMapOut]


class PredictOut(Schema):
    digit: int
    confidence: float
    probabilities: list[float]
    calibrated_confidence: float = Field(
        description="The confidence after temperature scaling fitted on the version's validation split"
    )
    calibrated_probabilities: list[float]
    unsure: bool = Field(description="The calibrated confidence is below the threshold: ask for the label")
    input: list[list[int]] = Field(description="The 28x28 input the model saw, 0-255, ink white on black")
    model: ModelRef
    served_by: ProcessRef = Field(description="The web process that answered (each swaps versions on its own)")
    activations: list[LayerOut] | None = None
    explanation: ExplanationOut | None = None


@router.post(
    "/predict",
    auth=csrf_protected,
    response={200: PredictOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 503: ErrorOut, **ERRORS},
    summary="Recognise a drawing, optionally with what every layer saw",
)
@decorate_view(
    rate_limited(
        group="predict",
        rate_setting="RATELIMIT_PREDICT",
        address_rate_setting="RATELIMIT_PREDICT_ADDRESS",
        overlap=True,  # predict stores nothing: its work may run while the count is on its way
    ),
    body_limited,
)
def predict(request, payload: PredictIn):
    version, refused = _version_asked(request, payload.version)
    if refused:
        return refused
    try:
        image = data_url_decode(payload.image)
        result = drawing_predict(
            image=image, activations=payload.activations, explanation=payload.explanation, version=version
        )
    except (DrawingError, NoModelError, UnknownLayer) as exc:
        return _error(exc)
    except ArtifactError as exc:
        return 409, {"detail": f"{version} cannot be loaded here: {exc}", "code": "artifact"}
    return _answer(
        {
            "digit": result.prediction.digit,
            "confidence": result.prediction.confidence,
            "probabilities": result.prediction.probabilities.tolist(),
            "calibrated_confidence": float(result.calibrated.max()),
            "calibrated_probabilities": result.calibrated.tolist(),
            "unsure": result.unsure,
            "input": result.pixels,
            "model": {"version": result.served.version, "sha256": result.served.sha256},
            "served_by": serving_process(),
            "activations": activations_encode(result) if payload.activations else None,
            "explanation": explanation_encode(result.explanation) if result.explanation else None,
        }
    )


def _answer(body: dict) -> HttpResponse:
    """A predict answer as JSON, encoded once by orjson.  It skips ninja's
    validation of the answer against PredictOut, which cost 0.4 ms with
    activations, a third of the whole request; the tests validate answers
    against PredictOut instead, and the OpenAPI schema still documents it."""
    return HttpResponse(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), content_type="application/json")


def _version_asked(request, number: int | None) -> tuple[ModelVersion | None, tuple | None]:
    """The version staff asked to compare with, or the refusal to send."""
    if number is None:
        return None, None
    if not request.user.is_staff:
        return None, (403, {"detail": "Only staff may choose a model version.", "code": "forbidden"})
    version = model_version_get(number=number)
    if version is None:
        return None, (404, {"detail": f"There is no model version {number}.", "code": "no_version"})
    return version, None


# --- samples ------------------------------------------------------------------


class SampleIn(Schema):
    image: str = Field(description="The drawing as a PNG or JPEG data URL, as sent to predict")
    # Strict: a JSON true, "7" or 7.0 is a client bug, not a label (true would be stored as 1).
    label: int = Field(ge=0, le=9, strict=True, description="The digit the drawing shows")
    label_source: Sample.LabelSource = Field(description="confirmed, corrected or prompted")


class SampleOut(Schema):
    id: int
    label: int
    count: int = Field(description="How many drawings this browser has given")


@router.post("/samples", auth=csrf_protected, response={200: SampleOut, **ERRORS}, summary="Store a labelled drawing")
@decorate_view(
    rate_limited(group="samples", rate_setting="RATELIMIT_SAMPLES", address_rate_setting="RATELIMIT_SAMPLES_ADDRESS"),
    body_limited,
)
def samples_create(request, payload: SampleIn):
    client_id = client_id_get(request)
    try:
        image = data_url_decode(payload.image)
        sample = sample_create(image=image, label=payload.label, label_source=payload.label_source, client_id=client_id)
    except (DrawingError, InvalidLabel) as exc:
        return _error(exc)
    client_id_remember(request, client_id)
    return 200, {"id": sample.id, "label": sample.label, "count": client_sample_count(client_id=client_id)}


class ForgetOut(Schema):
    deleted: int = Field(description="How many drawings of this browser were deleted")


@router.post(
    "/samples/forget",
    auth=csrf_protected,
    response=ForgetOut,
    summary="Forget my drawings: delete every drawing this browser session gave",
)
def samples_forget(request):
    deleted = client_samples_forget(client_id=client_id_peek(request) or "")
    client_id_forget(request)
    return {"deleted": deleted}


# --- collect mode -------------------------------------------------------------


class PromptOut(Schema):
    digit: int
    reason: str = Field(description="Why this digit, in words the page shows")
    error_rate: float | None = Field(
        None, description="How often the served model got this digit wrong on recent reviewed drawings"
    )
    drawings: int | None = Field(None, description="How many recent reviewed drawings that rate is from")


@router.get("/prompt", response=PromptOut, summary="The digit collect mode asks for next")
def prompt(request):
    """Mostly a digit the served model gets wrong most often lately, on the
    drawings people gave and reviewers approved; sometimes any digit."""
    return asdict(prompt_choose())
