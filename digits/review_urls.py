from django.urls import path

from . import review_views

app_name = "review"

urlpatterns = [
    path("", review_views.queue, name="queue"),
    path("statistics/", review_views.statistics, name="statistics"),
    path("samples/<int:sample_id>/drawing.png", review_views.sample_drawing, name="sample_drawing"),
]
