"""The one JSON API of Digit Lab (django-ninja), documented by the OpenAPI
schema it serves at /api/openapi.json (browsable at /api/docs).

Each app adds its own router here; views stay thin and call services."""

from ninja import NinjaAPI

api = NinjaAPI(title="Digit Lab API", version="1", urls_namespace="api")
