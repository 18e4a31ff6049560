from django.urls import path

from . import views

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("statistics/", views.statistics, name="statistics"),
    path("contributors/<str:client_id>/", views.contributor, name="contributor"),
    path("samples/<int:sample_id>/drawing.png", views.sample_drawing, name="sample_drawing"),
]
