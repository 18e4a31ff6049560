from django.contrib import admin, messages

from .models import ModelActivation, ModelVersion
from .registry import model_version_activate


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

    @admin.action(description="Activate the selected version (serve it)", permissions=["change"])
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to activate.", messages.ERROR)
            return
        version = queryset.get()
        model_version_activate(version=version, by=request.user.get_username(), reason="activated in the admin")
        self.message_user(request, f"{version} is now active.", messages.SUCCESS)


@admin.register(ModelActivation)
class ModelActivationAdmin(admin.ModelAdmin):
    list_display = ("activated_at", "version", "previous", "by", "reason")
    readonly_fields = ("version", "previous", "activated_at", "by", "reason")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
