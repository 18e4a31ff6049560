from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from training.views import misread_page, models_page, trade_decide

from .api import api
from .metrics import metrics_view

urlpatterns = [
    # Pages that name no icon (the admin's, JSON) still have the browser ask
    # for /favicon.ico; without this, each asks in vain (a 404 in the console).
    path("favicon.ico", RedirectView.as_view(url=f"{settings.STATIC_URL}webapp/favicon.svg")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("review/", include("digits.review.urls")),
    path("models/", models_page, name="models-page"),
    path("models/v<int:number>/misread/<int:digit>/", misread_page, name="misread-page"),
    path("models/v<int:number>/trade/", trade_decide, name="trade-decide"),
    path("", include("digits.urls")),
]
