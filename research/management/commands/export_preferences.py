"""`manage.py export_preferences STUDY`: the study's votes as training records (the options of
GET /api/v1/studies/ID/preferences.jsonl), as JSON Lines, a dataset zip, or pushed to the Hub."""

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from evaluations.models import Study
from research.preferences.dataset_zip import preferences_zip
from research.preferences.export import study_preferences_export
from research.preferences.hub_push import HubPushFailed, preferences_push_to_hub
from research.preferences.options import BOTH_BAD, FORMATS, MODES, TIES, PreferenceOptions


class Command(BaseCommand):
    help = (
        "Export a study's votes as preference records "
        "(trl, trl-kto, openai-dpo, rewardbench, arena)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("--format", choices=FORMATS, default="trl")
        parser.add_argument("--mode", choices=MODES, default=None)
        parser.add_argument("--ties", choices=TIES, default=None)
        parser.add_argument("--both-bad", choices=BOTH_BAD, default=None)
        parser.add_argument("--min-votes", type=int, default=1, metavar="N")
        parser.add_argument("--min-agreement", type=float, default=0.0, metavar="SHARE")
        parser.add_argument("--category", default=None)
        parser.add_argument("--exclude-flagged", action="store_true")
        parser.add_argument("--exclude-gold-failures", action="store_true")
        parser.add_argument(
            "--exclude-rater",
            action="append",
            default=[],
            dest="exclude_raters",
            metavar="ID",
            help="A rater id or pseudonym (rater-...) to leave out; repeat for more.",
        )
        parser.add_argument(
            "--no-contested", action="store_true", help="Only the format's own fields."
        )
        parser.add_argument(
            "--adjudicated",
            action="store_true",
            help="Label adjudicated pairs with the senior rater's verdict (majority mode).",
        )
        parser.add_argument(
            "--output", "-o", type=Path, default=None, help="File (default: stdout)."
        )
        parser.add_argument(
            "--zip",
            action="store_true",
            help="Parquet and a dataset card, zipped (needs --output).",
        )
        parser.add_argument(
            "--push-to-hub",
            metavar="REPO",
            default=None,
            help="Upload the Parquet and card to this Hugging Face dataset repo (needs "
            "huggingface_hub and HF_TOKEN; HF_ENDPOINT for a private Hub).",
        )
        parser.add_argument(
            "--public", action="store_true", help="With --push-to-hub: a public repo."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['study']!r}")
        if options["zip"] and options["output"] is None:
            raise CommandError("--zip writes a file: give --output NAME.zip")
        chosen = PreferenceOptions(
            format=options["format"],
            mode=options["mode"],
            ties=options["ties"],
            both_bad=options["both_bad"],
            min_votes=options["min_votes"],
            min_agreement=options["min_agreement"],
            category=options["category"],
            exclude_flagged=options["exclude_flagged"],
            exclude_gold_failures=options["exclude_gold_failures"],
            exclude_raters=tuple(options["exclude_raters"]),
            contested=not options["no_contested"],
            adjudicated=options["adjudicated"],
        )
        try:
            export = study_preferences_export(study=study, options=chosen)
            if options["push_to_hub"]:
                url = preferences_push_to_hub(
                    study=study,
                    export=export,
                    repo=options["push_to_hub"],
                    private=not options["public"],
                )
                self.stderr.write(f"Pushed to {url}")
                return
            if options["zip"]:
                options["output"].write_bytes(preferences_zip(study=study, export=export))
                self.stderr.write(f"Wrote {options['output']}")
                return
        except (ValueError, HubPushFailed) as exc:
            raise CommandError(str(exc)) from None
        handle = options["output"].open("w", encoding="utf-8") if options["output"] else sys.stdout
        count = 0
        try:
            for record in export.records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        finally:
            if options["output"]:
                handle.close()
        dropped = ", ".join(f"{k}: {v}" for k, v in sorted(export.dropped.items())) or "nothing"
        self.stderr.write(f"{count} records; left out: {dropped}")
