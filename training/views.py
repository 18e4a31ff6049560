"""The /models/ dashboard: it needs the registry, the training runs and the
drawings, so it lives here, in the app that may know all three."""

from django.shortcuts import render

from digits.selectors import DrawingsOfVersion, drawings_per_model_version
from models.selectors import activation_history, model_version_list
from webapp.staff import staff_page

from .selectors import training_run_latest, training_run_list

NO_DRAWINGS = DrawingsOfVersion(predicted=0, checked=0, right=0)


@staff_page()
def models_page(request):
    """Versions with metrics, lineage and how each did on real drawings, the
    run in progress, and who served what when."""
    drawings = drawings_per_model_version()
    versions = [(v, drawings.get(v.pk, NO_DRAWINGS)) for v in model_version_list()]
    context = {
        "versions": versions,
        "latest_run": training_run_latest(),
        "runs": training_run_list(limit=10),
        "activations": activation_history(),
    }
    return render(request, "training/models_page.html", context)
