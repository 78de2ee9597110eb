"""A new API key for a user, printed once."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.access import keys
from apps.access.models import SCOPES


def _scopes(raw):
    scopes = [scope.strip() for scope in raw.split(",") if scope.strip()]
    unknown = sorted(set(scopes) - set(SCOPES))
    if not scopes or unknown:
        raise CommandError(f"--scopes must list some of {', '.join(SCOPES)}; got {raw!r}")
    return scopes


DEFAULT_USER, DEFAULT_NAME = "admin", "CLI Generated Key"  # Kirby 1.x's defaults of its positional form


class Command(BaseCommand):
    help = (
        "Create an API key for a user (--create-user makes the user when missing). "
        "Kirby 1.x's form works too: create_api_key [USERNAME] [NAME]."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", help=f"1.x form: the key's owner (default {DEFAULT_USER})")
        parser.add_argument("key_name", nargs="?", help=f"1.x form: the key's name (default {DEFAULT_NAME!r})")
        parser.add_argument("--user", help="Username of the key's owner")
        parser.add_argument("--name", help="What the key is for (50 characters at most)")
        parser.add_argument(
            "--scopes", help="Comma-separated: read, admin (default read; read,admin for an admin user, as 1.x)"
        )
        parser.add_argument("--rate-limit", type=int, help="Requests per minute (default: the deployment's)")
        parser.add_argument("--expires-in-days", type=int)
        parser.add_argument("--unlimited", action="store_true", help="Exempt from rate and connection limits")
        parser.add_argument("--create-user", action="store_true")

    def handle(self, *args, **options):
        User = get_user_model()
        for option, positional in (("user", "username"), ("name", "key_name")):
            if options[option] and options[positional]:
                raise CommandError(f"give the {option} once: as --{option} or as the {positional.upper()} argument")
        options["user"] = options["user"] or options["username"] or DEFAULT_USER
        options["name"] = options["name"] or options["key_name"] or DEFAULT_NAME
        if len(options["name"]) > 50:
            raise CommandError("--name must be at most 50 characters")
        for option, most in (("rate_limit", 1_000_000), ("expires_in_days", 3650)):  # as over REST
            if options[option] is not None and not 1 <= options[option] <= most:
                raise CommandError(f"--{option.replace('_', '-')} must be a positive integer (at most {most})")
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            if not options["create_user"]:
                raise CommandError(f"no user named {options['user']!r} (add --create-user to make one)")
            user = User.objects.create_user(username=options["user"])
        scopes = _scopes(options["scopes"] or ("read,admin" if user.is_staff else "read"))
        days = options["expires_in_days"]
        key, secret = keys.issue(
            user,
            options["name"],
            scopes=scopes,
            rate_limit=options["rate_limit"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
            unlimited=options["unlimited"],
        )
        self.stdout.write(f"API key {key.id} ({', '.join(scopes)}) for {user.username}: {secret}")
        self.stdout.write("Store it now: it is not shown again.")
