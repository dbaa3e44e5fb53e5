"""`manage.py analyze VOTES_FILE`: the analysis of a battle-format file, as one JSON document.

Needs no database: it reads the file, calls `evaluations.analysis.analyze` and prints the result.
The options and the output layout are a contract, documented in evaluations/analysis/README.md.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from evaluations.analysis import VoteDataError, votes_read


class Command(BaseCommand):
    help = "Rank models, test differences, measure agreement and bias from a CSV/JSONL vote file."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("votes_file", metavar="VOTES_FILE")
        parser.add_argument("--ties", choices=["half", "davidson"], default="half")
        parser.add_argument("--both-bad", choices=["tie", "exclude"], default="tie")
        parser.add_argument("--bootstrap", type=int, default=0, metavar="N")
        parser.add_argument("--seed", type=int, default=None, metavar="S")
        parser.add_argument("--category", default=None, metavar="C")
        parser.add_argument(
            "--turn", default=None, metavar="T", help="only the votes on turn T (multi-turn)"
        )
        parser.add_argument("--anchor", default=None, metavar="MODEL=VALUE")
        parser.add_argument(
            "--cluster", choices=["auto", "none", "rater", "prompt", "both"], default="auto"
        )
        parser.add_argument("--power", type=float, default=0.8, metavar="P")
        parser.add_argument(
            "--style-feature", action="append", default=[], metavar="NAME", dest="style_features"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["bootstrap"] < 0:
            raise CommandError("--bootstrap must be >= 0")
        if not 0 < options["power"] < 1:
            raise CommandError("--power must be between 0 and 1 (e.g. 0.8)")
        try:
            votes = votes_read(options["votes_file"], features=options["style_features"])
        except FileNotFoundError:
            raise CommandError(f"{options['votes_file']}: no such file") from None
        except VoteDataError as exc:
            raise CommandError(f"{options['votes_file']}: {exc}") from None
        from evaluations.analysis import analyze  # scipy: not for `help analyze`

        try:
            document = analyze(
                votes,
                ties=options["ties"],
                both_bad=options["both_bad"],
                bootstrap=options["bootstrap"],
                seed=options["seed"],
                category=options["category"],
                anchor=options["anchor"],
                cluster=options["cluster"],
                power=options["power"],
                style_features=options["style_features"],
                turn=options["turn"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(document, indent=2, allow_nan=False))
