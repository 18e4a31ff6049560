"""The one JSON API of Digit Lab (django-ninja), documented by the OpenAPI
schema it serves at /api/openapi.json (browsable at /api/docs).

Each app adds its own router here; views stay thin and call services."""

from ninja import NinjaAPI

from digits.api import router as digits_router
from digits.review_api import router as review_router
from models.api import router as models_router
from training.api import router as training_router

api = NinjaAPI(title="Digit Lab API", version="1", urls_namespace="api")

api.add_router("/digits/", digits_router)
api.add_router("/models/", models_router)
api.add_router("/review/", review_router)
api.add_router("/training/", training_router)
