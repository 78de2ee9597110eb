from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.markets.config import ConfigFileError, load_config
from apps.markets.models import Interval
from apps.markets.sync import sync_config
from lib.databases import DatabaseUnavailable, database_alias


class Command(BaseCommand):
    help = "Create or update exchanges, coins, trading pairs and starlistings from a starlistings YAML file."

    def add_arguments(self, parser):
        parser.add_argument("--file", default=None, help="YAML file (default: KIRBY_STARLISTINGS_FILE)")
        parser.add_argument("--prune", action="store_true", help="Deactivate starlistings the file no longer lists")
        parser.add_argument("--dry-run", action="store_true", help="Show what would change; change nothing")
        parser.add_argument(
            "--database", default="default", help="default (production) or training (with config/training_stars.yaml)"
        )

    def handle(self, *args, **options):
        path = options["file"] or settings.KIRBY_STARLISTINGS_FILE
        try:
            using = database_alias(options["database"])
        except DatabaseUnavailable as error:
            raise CommandError(str(error)) from None
        if using == "training" and not options["file"]:
            path = settings.KIRBY_TRAINING_STARS_FILE
        known = Interval.objects.using(using).values_list("name", flat=True)
        try:
            config = load_config(path, known)
        except ConfigFileError as error:
            raise CommandError(f"{path} is invalid; nothing was changed:\n  " + "\n  ".join(error.problems)) from None
        changes = sync_config(config, prune=options["prune"], dry_run=options["dry_run"], using=using)
        for verb, description in changes:
            said = f"would {verb}" if options["dry_run"] else f"{verb.removesuffix('e')}ed"
            self.stdout.write(f"  {said} {description}")
        total = len(config.starlistings)
        verdict = f"{len(changes)} change(s)" if changes else "no changes"
        self.stdout.write(
            self.style.SUCCESS(
                f"{'Dry run: ' if options['dry_run'] else ''}{path}: {total} starlisting entries, {verdict}."
            )
        )
