from django.core.management.base import BaseCommand

from digits.review.selectors import review_queue_counts
from digits.tallies import tallies_rebuild


class Command(BaseCommand):
    help = "Recount the drawing tallies (queue counter, statistics, date hierarchy) from the samples table."

    def handle(self, *args, **options):
        tallies_rebuild()
        counts = review_queue_counts()
        self.stdout.write(f"Recounted: {counts.pending} pending, {counts.disagreements} of them disagreeing.")
