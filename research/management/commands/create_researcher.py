"""`manage.py create_researcher USERNAME [--email E] [--no-input]`: a researcher account."""

import getpass
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.studies.researchers import (
    RESEARCHERS_GROUP,
    ResearcherError,
    researcher_check_new,
    researcher_create,
)

ATTEMPTS = 3


class Command(BaseCommand):
    help = (
        f"Create a researcher: a staff account in the {RESEARCHERS_GROUP} group that sees and "
        "changes only its own studies. Asks for a password, or with --no-input makes one up "
        "and prints it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask: generate a random password and print it (for scripts).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username, interactive = options["username"], options["interactive"]
        try:
            researcher_check_new(username=username)
        except ResearcherError as exc:
            raise CommandError(str(exc)) from None
        for attempt in range(1, ATTEMPTS + 1):
            password = self._ask_password() if interactive else secrets.token_urlsafe(18)
            try:
                if password is None:
                    raise ValidationError("The two passwords were empty or did not match.")
                researcher_create(username=username, password=password, email=options["email"])
            except ResearcherError as exc:
                raise CommandError(str(exc)) from None
            except ValidationError as exc:
                if not interactive or attempt == ATTEMPTS:
                    raise CommandError(" ".join(exc.messages)) from None
                self.stderr.write(" ".join(exc.messages) + " Try again.")
                continue
            break
        self.stdout.write(f"Created researcher {username!r} (staff, in {RESEARCHERS_GROUP}).")
        if not interactive:
            self.stdout.write(f"Password: {password}")

    def _ask_password(self) -> str | None:
        try:
            password = getpass.getpass("Password: ")
            again = getpass.getpass("Password (again): ")
        except (EOFError, KeyboardInterrupt):
            raise CommandError("no password given (use --no-input to generate one)") from None
        return password if password and password == again else None
