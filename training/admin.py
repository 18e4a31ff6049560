from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from .models import TradeDecision, TrainingRun
from .services import training_run_request


def progress_bar(run: TrainingRun) -> str:
    return format_html(
        '<progress max="{}" value="{}" data-run="{}"></progress> {}/{}',
        run.epochs or 1,
        run.epochs if run.status == TrainingRun.Status.SUCCEEDED else run.epoch,
        run.pk,
        run.epoch,
        run.epochs,
    )


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    change_list_template = "admin/training/trainingrun/change_list.html"
    list_display = ("__str__", "trigger", "status", "progress", "requested_by", "parent", "result", "started_at")
    list_filter = ("status", "trigger", "kind")
    readonly_fields = [f.name for f in TrainingRun._meta.fields] + ["progress"]

    @admin.display(description="progress")
    def progress(self, obj):
        return progress_bar(obj)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        retrain = self.admin_site.admin_view(self.retrain_now)
        return [path("retrain/", retrain, name="training_trainingrun_retrain"), *super().get_urls()]

    def retrain_now(self, request):
        """The "Retrain now" button (POST only; the changelist carries the form)."""
        if request.method != "POST" or not self.has_change_permission(request):
            return redirect("admin:training_trainingrun_changelist")
        result = training_run_request(trigger=TrainingRun.Trigger.MANUAL, by=request.user.get_username())
        self.message_user(request, result.message, messages.SUCCESS if result.run else messages.WARNING)
        return redirect(reverse("admin:training_trainingrun_changelist"))


@admin.register(TradeDecision)
class TradeDecisionAdmin(admin.ModelAdmin):
    """Read only: a decision is made on /models/, through its service."""

    list_display = ("version", "decision", "by", "decided_at", "reason")
    list_filter = ("decision",)
    readonly_fields = [f.name for f in TradeDecision._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
