"""`manage.py import_votes STUDY FILE`: a battle-format vote file (Arena, MT-Bench) into a study."""

from research.management.study_file_import import StudyFileImportCommand
from research.preferences.battle_import import votes_import


class Command(StudyFileImportCommand):
    help = (
        "Import votes from a battle-format JSON or JSONL file (model_a, model_b, winner, judge, "
        "question_id, [turn, category, tstamp, conversation_a, conversation_b]); all or nothing."
    )
    what = "votes"

    def import_file(self, **kwargs) -> int:
        report = votes_import(**kwargs)
        self.stdout.write(report.summary())
        return report.votes
