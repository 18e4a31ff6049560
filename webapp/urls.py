from django.contrib import admin
from django.urls import include, path

from training.views import models_page

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("review/", include("digits.review.urls")),
    path("models/", models_page, name="models-page"),
    path("", include("digits.urls")),
]
