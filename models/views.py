from django.shortcuts import render

from training.selectors import training_run_latest, training_run_list
from webapp.staff import staff_page

from .selectors import activation_history, model_version_list_with_drawings


@staff_page()
def models_page(request):
    """Versions with metrics and lineage, the run in progress, and who served what when."""
    return render(
        request,
        "models/models_page.html",
        {
            "versions": model_version_list_with_drawings(),
            "latest_run": training_run_latest(),
            "runs": training_run_list(limit=10),
            "activations": activation_history(),
        },
    )
