from evaluations.studies.importing import prompts_import
from research.management.study_file_import import StudyFileImportCommand


class Command(StudyFileImportCommand):
    help = (
        "Import prompts into a study from CSV or JSONL (id, text, [category, context, reference])."
    )
    what = "prompts"

    def import_file(self, **kwargs) -> int:
        return prompts_import(**kwargs)
