"""The first admin: a superuser and an admin-scope API key, printed once."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.access import keys
from apps.access.models import ADMIN, READ


class Command(BaseCommand):
    help = (
        "Create the first admin user and an admin API key (refuses when an admin exists, unless --force; "
        "users who are not admins, such as make demo's, do not count)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Password for the Django admin; default: a random one, printed once")
        parser.add_argument("--key-name", default="bootstrap admin key")
        parser.add_argument("--force", action="store_true", help="Run even though an admin exists already")
        parser.add_argument(
            "--if-none",
            action="store_true",
            help="Do nothing (and succeed) when an admin exists: for a deployment's every start (docker-compose)",
        )

    def handle(self, *args, username, email, password, key_name, force, if_none=False, **options):
        User = get_user_model()
        admins = User.objects.filter(is_superuser=True)
        if if_none and admins.exists():
            self.stdout.write("An admin exists already: no new admin or key.")
            return
        if admins.exists() and not force:
            raise CommandError(f"{admins.count()} admin user(s) exist already; use --force to add another admin")
        if User.objects.filter(username=username).exists():
            raise CommandError(f"a user named {username!r} exists already; choose another --username")
        password = password or secrets.token_urlsafe(18)
        with transaction.atomic():
            user = User.objects.create_superuser(username=username, email=email, password=password)
            key, secret = keys.issue(user, key_name, scopes=[READ, ADMIN])
        self.stdout.write(f"Admin user:     {user.username}")
        if not options.get("password"):
            self.stdout.write(f"Password:       {password}")
        self.stdout.write(f"Admin API key:  {secret}")
        self.stdout.write("Store the password and key now: they are not shown again.")
        # Kirby 1.x's banner: scripts (its deploy.sh) take the key with  grep -A 2 "API KEY" | tail -n 1
        self.stdout.write("API KEY (admin scope):")
        self.stdout.write("-" * 40)
        self.stdout.write(secret)
