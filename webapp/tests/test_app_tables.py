"""The apps depend one way.  Imports are checked by import-linter's contracts
(pyproject.toml, run by `make lint`); what they cannot see is the schema."""


def test_the_registry_tables_point_at_nothing_of_drawings_or_training():
    """A foreign key from a registry table to a training or drawings table
    ties the schema (and the migrations) the wrong way.  Training points at
    the versions it made (TrainingRun.result)."""
    from django.apps import apps

    wrong = {
        f"{model.__name__}.{field.name} -> {field.related_model._meta.label}"
        for model in apps.get_app_config("models").get_models()
        for field in model._meta.get_fields()
        if field.is_relation and field.related_model is not None and field.concrete
        if field.related_model._meta.app_label in ("digits", "training")
    }
    assert wrong == set()
