"""Small pictures of stored drawings for staff pages: {% load drawings %}."""

from django import template
from django.urls import reverse
from django.utils.html import format_html

from digits.thumbnails import pixels_data_url

register = template.Library()


@register.simple_tag
def drawing_thumbnail(sample, size: int = 56):
    """The 28x28 input of ``sample`` as a thumbnail that opens its admin page."""
    return format_html(
        '<a class="thumb" href="{}" title="sample {}, labelled {}"><img src="{}" alt="sample {}" width="{}" '
        'height="{}" style="image-rendering: pixelated"></a>',
        reverse("admin:digits_sample_change", args=[sample.id]),
        sample.id,
        sample.label,
        pixels_data_url(sample.pixels),
        sample.id,
        size,
        size,
    )


@register.filter
def percent_of(pair) -> str:
    """(right, total) as "97% (33/34)", or "–" when there is nothing to count."""
    right, total = pair
    return f"{right / total:.0%} ({right}/{total})" if total else "–"
