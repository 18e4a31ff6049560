from django.contrib import admin
from django.urls import include, path

from training.views import models_page

from .api import api
from .metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("review/", include("digits.review.urls")),
    path("models/", models_page, name="models-page"),
    path("", include("digits.urls")),
]
