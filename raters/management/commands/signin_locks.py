from django.core.management.base import BaseCommand, CommandError

from raters.signin_limits import signin_status, signin_unlock


class Command(BaseCommand):
    help = (
        "Show or lift the sign-in locks of accounts (usernames) and client addresses, set after "
        "too many failed sign-ins, invite links or API tokens."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("usernames", nargs="*", metavar="USERNAME")
        parser.add_argument("--address", action="append", default=[], help="a client address")
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--list", action="store_true", help="show the state (the default)")
        action.add_argument("--unlock", action="store_true", help="lift the locks, clear counts")

    def handle(self, *args, usernames: list[str], address: list[str], unlock: bool, **options):
        if not usernames and not address:
            raise CommandError("Name at least one USERNAME or --address.")
        subjects = [("account", {"username": name}) for name in usernames]
        subjects += [("address", {"address": value}) for value in address]
        for what, subject in subjects:
            if unlock:
                signin_unlock(**subject)
                self.stdout.write(f"{what} {next(iter(subject.values()))}: unlocked")
            else:
                for line in signin_status(**subject):
                    self.stdout.write(line)
