from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from webapp.paginators import EstimatedCountPaginator
from webapp.staff import staff_allowed

from .export import samples_export_npz_bytes
from .models import Contributor, Sample, SampleReview
from .selectors import AGREES, DISAGREES, sample_histories_get
from .services import (
    ReviewError,
    client_samples_forget,
    contributors_quarantine,
    samples_auto_approval_undo,
    samples_delete,
    samples_review_bulk,
)
from .thumbnails import pixels_data_url

DIGITS = [(d, str(d)) for d in range(10)]


class DisagreementFilter(admin.SimpleListFilter):
    title = "prediction disagrees with label"
    parameter_name = "disagrees"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(DISAGREES)
        if self.value() == "no":
            return queryset.filter(AGREES)
        return queryset


class DigitFilter(admin.SimpleListFilter):
    """0 to 9 as choices, whatever the data holds."""

    def lookups(self, request, model_admin):
        return DIGITS

    def queryset(self, request, queryset):
        if self.value() is not None:
            return queryset.filter(**{self.parameter_name: self.value()})
        return queryset


class LabelFilter(DigitFilter):
    title = "label"
    parameter_name = "label"


class PredictedFilter(DigitFilter):
    title = "predicted digit"
    parameter_name = "predicted"


class ReviewActionForm(admin.helpers.ActionForm):
    label = forms.TypedChoiceField(
        choices=[("", "digit…"), *DIGITS], coerce=int, empty_value=None, required=False, label="Relabel as"
    )


class SampleReviewInline(admin.TabularInline):
    model = SampleReview
    fk_name = "sample"
    fields = ("decided_at", "reviewer", "action", "from_status", "to_status", "from_label", "to_label")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "drawing_thumbnail",
        "input_thumbnail",
        "label",
        "predicted",
        "confidence_percent",
        "model_version",
        "label_source",
        "status",
        "triage",
        "created_at",
        "reviewed_by",
    )
    list_display_links = ("id", "drawing_thumbnail")
    list_filter = (
        "status",
        "triage",
        LabelFilter,
        PredictedFilter,
        DisagreementFilter,
        "model_version",
        "label_source",
        "created_at",
    )
    list_select_related = ("model_version", "reviewed_by")
    search_fields = ("id__exact", "client_id")
    search_help_text = "A sample id, or (part of) a client id."
    date_hierarchy = "created_at"
    list_per_page = 50
    # At a million drawings counting is most of the page: no count of the
    # whole table, and an estimated one past 2,000 rows (webapp/paginators.py).
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    action_form = ReviewActionForm
    actions = ["approve", "reject", "relabel", "undo_auto_approval", "export_npz", "forget_clients"]
    inlines = [SampleReviewInline]
    fieldsets = [
        (None, {"fields": ("drawing_large", "input_large", "probabilities_table")}),
        ("Labels", {"fields": ("label", "label_source", "predicted", "confidence", "model_version", "history")}),
        ("Review", {"fields": ("status", "reviewed_by", "reviewed_at")}),
        (
            "Triage",
            {
                "fields": (
                    "triage",
                    "triage_reason",
                    "triaged_at",
                    "audit",
                    "label_quality",
                    "label_probability",
                    "support",
                    "trust_at_triage",
                )
            },
        ),
        ("Origin", {"fields": ("contributor_link", "created_at", "image_file", "image_sha256")}),
    ]

    # Decisions go through the actions (and the review queue), which log them; nothing is edited by hand.
    def get_queryset(self, request):
        # The list never shows the ten probabilities (the detail page does).
        queryset = super().get_queryset(request)
        return queryset if request.resolver_match.url_name.endswith("_change") else queryset.defer("probabilities")

    def get_readonly_fields(self, request, obj=None):
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_review_permission(self, request) -> bool:
        return staff_allowed(request.user, "digits.review_sample")

    # --- columns and the detail page -----------------------------------------

    @staticmethod
    def _drawing_img(obj, size: int, extra: str = ""):
        if not obj.image:
            return "purged"  # the retention rule deleted the original image; the 28x28 input stays
        url = reverse("review:sample_drawing", args=[obj.id])
        return format_html('<img src="{}" alt="drawing {}" width="{}" {}>', url, obj.id, size, extra)

    @staticmethod
    def _input_img(obj, size: int):
        style = "image-rendering: pixelated"
        return format_html(
            '<img src="{}" alt="input {}" width="{}" height="{}" style="{}">',
            pixels_data_url(obj.pixels),
            obj.id,
            size,
            size,
            style,
        )

    @admin.display(description="drawing")
    def drawing_thumbnail(self, obj):
        return self._drawing_img(obj, 56, mark_safe('height="56" loading="lazy"'))

    @admin.display(description="28×28 input")
    def input_thumbnail(self, obj):
        return self._input_img(obj, 28)

    @admin.display(description="confidence", ordering="confidence")
    def confidence_percent(self, obj):
        return "–" if obj.confidence is None else f"{obj.confidence:.0%}"

    @admin.display(description="drawing")
    def drawing_large(self, obj):
        return self._drawing_img(obj, 280, mark_safe('style="border:1px solid #ccc"'))

    @admin.display(description="28×28 input")
    def input_large(self, obj):
        return self._input_img(obj, 140)

    @admin.display(description="image file")
    def image_file(self, obj):
        # Drawings are not public media: link to the staff-only view of the file.
        return format_html('<a href="{}">{}</a>', reverse("review:sample_drawing", args=[obj.id]), obj.image.name)

    @admin.display(description="client id")
    def contributor_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("review:contributor", args=[obj.client_id]), obj.client_id)

    @admin.display(description="read by later versions")
    def history(self, obj):
        """How each version registered since read this drawing (stored by the worker)."""
        readings = sample_histories_get(sample_ids=[obj.id]).get(obj.id, [])
        if not readings:
            return "– (read by versions registered after it was stored, when it is held out or recent)"
        return " → ".join(f"v{r.version}: {r.predicted} ({r.confidence:.0%})" for r in readings)

    @admin.display(description="probabilities")
    def probabilities_table(self, obj):
        if not obj.probabilities:
            return "–"
        rows = format_html_join(
            "",
            '<tr><th>{}</th><td><span style="display:inline-block;height:.8em;width:{}px;background:{}"></span></td>'
            "<td>{}</td></tr>",
            (
                (digit, round(p * 200), "#c0392b" if digit == obj.predicted else "#417690", f"{p:.1%}")
                for digit, p in enumerate(obj.probabilities)
            ),
        )
        return format_html('<table class="probabilities">{}</table>', rows)

    # --- actions (each calls the review services) -------------------------

    def _bulk(self, request, queryset, action, label=None):
        try:
            count = samples_review_bulk(samples=queryset, reviewer=request.user, action=action, label=label)
        except ReviewError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        verb = SampleReview.Action(action).label.lower()
        self.message_user(request, f"{verb.capitalize()}: {count} sample{'s' if count != 1 else ''}.", messages.SUCCESS)

    @admin.action(description="Approve selected samples", permissions=["review"])
    def approve(self, request, queryset):
        self._bulk(request, queryset, SampleReview.Action.APPROVE)

    @admin.action(description="Reject selected samples", permissions=["review"])
    def reject(self, request, queryset):
        self._bulk(request, queryset, SampleReview.Action.REJECT)

    @admin.action(description="Relabel selected samples as the chosen digit (and approve)", permissions=["review"])
    def relabel(self, request, queryset):
        try:  # the digit chosen next to the action (the whole form's action choices are set by the changelist)
            label = ReviewActionForm.base_fields["label"].clean(request.POST.get("label", ""))
        except ValidationError:
            label = None
        if label is None:
            self.message_user(request, "Choose the digit to relabel as, next to the action.", messages.ERROR)
            return
        self._bulk(request, queryset, SampleReview.Action.RELABEL, label=label)

    @admin.action(description="Undo the auto-approval of selected samples (back to people)", permissions=["review"])
    def undo_auto_approval(self, request, queryset):
        count = samples_auto_approval_undo(samples=queryset, by=request.user)
        self.message_user(request, f"Back to people: {count} auto-approved sample(s).", messages.SUCCESS)

    @admin.action(
        description="Delete ALL drawings of the selected samples' clients (a person's data)", permissions=["delete"]
    )
    def forget_clients(self, request, queryset):
        clients = sorted(set(queryset.values_list("client_id", flat=True)))
        count = sum(client_samples_forget(client_id=client_id) for client_id in clients)
        self.message_user(
            request, f"Deleted {count} drawings of {len(clients)} client(s): {', '.join(clients)}.", messages.SUCCESS
        )

    # Deleting goes through the service too, so the counts and files follow.
    def delete_model(self, request, obj):
        samples_delete(samples=Sample.objects.filter(id=obj.id))

    def delete_queryset(self, request, queryset):
        samples_delete(samples=queryset)

    @admin.action(description="Export the approved among selected samples (.npz)", permissions=["review"])
    def export_npz(self, request, queryset):
        data, count = samples_export_npz_bytes(samples=queryset)
        if count == 0:
            self.message_user(request, "None of the selected samples is approved; nothing to export.", messages.ERROR)
            return None
        response = HttpResponse(data, content_type="application/octet-stream")
        name = f"digitlab-samples-{date.today():%Y%m%d}-{count}.npz"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


@admin.register(SampleReview)
class SampleReviewAdmin(admin.ModelAdmin):
    list_display = ("decided_at", "reviewer", "action", "sample", "from_status", "to_status", "from_label", "to_label")
    list_filter = ("action", "reviewer", "decided_at")
    list_select_related = ("reviewer", "sample")
    search_fields = ("sample__id__exact", "reviewer__username")
    date_hierarchy = "decided_at"
    show_full_result_count = False  # one row per decision: grows like the samples
    paginator = EstimatedCountPaginator

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in SampleReview._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Contributor)
class ContributorAdmin(admin.ModelAdmin):
    """Client ids that gave drawings, with their trust; quarantining one holds
    every drawing of theirs no person decided out of training."""

    list_display = ("client_id", "page_link", "trust", "drawings", "agreed", "judged", "quarantined", "updated_at")
    list_filter = ("quarantined",)
    search_fields = ("client_id",)
    actions = ["quarantine"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Contributor._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_review_permission(self, request) -> bool:
        return staff_allowed(request.user, "digits.review_sample")

    # Whoever reviews drawings sees who drew them (no separate permission to grant).
    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_review_permission(request) or super().has_view_permission(request, obj)

    def has_module_permission(self, request) -> bool:
        return self.has_review_permission(request) or super().has_module_permission(request)

    @admin.display(description="page")
    def page_link(self, obj):
        return format_html('<a href="{}">drawings</a>', reverse("review:contributor", args=[obj.client_id]))

    @admin.action(
        description="Quarantine: hold their drawings out of training until a person decides", permissions=["review"]
    )
    def quarantine(self, request, queryset):
        clients = list(queryset.values_list("client_id", flat=True))
        held = contributors_quarantine(client_ids=clients, by=request.user)
        self.message_user(
            request, f"Quarantined {len(clients)} contributor(s): {held} drawings held.", messages.SUCCESS
        )
