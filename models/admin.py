from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from .models import ModelActivation, ModelVersion
from .registry import RegistryError, model_version_activate, model_version_roll_back
from .selectors import active_model_version_get


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "status",
        "mnist_accuracy",
        "heldout_accuracy",
        "parent",
        "created_at",
        "activated_at",
        "load_error_flag",
    )
    list_filter = ("status",)
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    actions = ["activate"]

    @admin.display(boolean=True, description="load error")
    def load_error_flag(self, obj):
        return bool(obj.load_error)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Promote or roll back to the selected version (asks to confirm)", permissions=["change"])
    def activate(self, request, queryset):
        """Promote a candidate or roll back to an earlier version, after a
        confirmation page that says what is served now and what will be."""
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return None
        version = queryset.get()
        current = active_model_version_get()
        rollback = current is not None and version.version < current.version
        if request.POST.get("confirm") == "yes":
            return self._activate_confirmed(request, version, current, rollback)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Roll back' if rollback else 'Promote'} to {version}?",
            "opts": self.model._meta,
            "version": version,
            "current": current,
            "rollback": rollback,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/models/modelversion/activate_confirmation.html", context)

    def _activate_confirmed(self, request, version, current, rollback: bool) -> None:
        reason = request.POST.get("reason", "").strip() or "activated in the admin"
        activate = model_version_roll_back if rollback else model_version_activate
        try:
            activate(version=version, by=request.user.get_username(), reason=reason)
        except RegistryError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{version} is now active (was {current}).", messages.SUCCESS)


@admin.register(ModelActivation)
class ModelActivationAdmin(admin.ModelAdmin):
    list_display = ("activated_at", "version", "previous", "by", "reason")
    readonly_fields = ("version", "previous", "activated_at", "by", "reason")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
