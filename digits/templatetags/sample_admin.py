"""The admin's date hierarchy for drawings, drawn from the per-day tallies
(digits/tallies.py) instead of a DISTINCT over the whole samples table."""

from datetime import date

from django import template
from django.utils import formats
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from digits.review.selectors import sample_days

register = template.Library()


@register.inclusion_tag("admin/date_hierarchy.html")
def sample_date_hierarchy(cl):
    """Years, then months, then days that have drawings; the links filter the
    list the way Django's own date hierarchy does."""
    field = cl.date_hierarchy
    year, month, day = (cl.params.get(f"{field}__{part}") for part in ("year", "month", "day"))

    def link(filters):
        return cl.get_query_string(filters, [f"{field}__"])

    def lookup(**parts):
        return {f"{field}__{name}": value for name, value in parts.items()}

    if not (year or month or day):
        years = sorted({d.year for d in sample_days()})
        return {
            "show": True,
            "back": None,
            "choices": [{"link": link(lookup(year=y)), "title": str(y)} for y in years],
        }
    if year and month and day:
        chosen = date(int(year), int(month), int(day))
        return {
            "show": True,
            "back": {
                "link": link(lookup(year=year, month=month)),
                "title": formats.date_format(chosen, "YEAR_MONTH_FORMAT"),
            },
            "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
        }
    if year and month:
        days = sample_days(year=int(year), month=int(month))
        return {
            "show": True,
            "back": {"link": link(lookup(year=year)), "title": str(year)},
            "choices": [
                {
                    "link": link(lookup(year=year, month=month, day=d.day)),
                    "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")),
                }
                for d in days
            ],
        }
    months = sorted({d.replace(day=1) for d in sample_days(year=int(year))})
    return {
        "show": True,
        "back": {"link": link({}), "title": _("All dates")},
        "choices": [
            {
                "link": link(lookup(year=year, month=m.month)),
                "title": capfirst(formats.date_format(m, "YEAR_MONTH_FORMAT")),
            }
            for m in months
        ],
    }
