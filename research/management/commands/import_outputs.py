from evaluations.studies.importing import outputs_import
from research.management.study_file_import import StudyFileImportCommand


class Command(StudyFileImportCommand):
    help = (
        "Import existing outputs into a study from CSV or JSONL (prompt_id, model, output, "
        "[label, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd])."
    )
    what = "outputs"

    def import_file(self, **kwargs) -> int:
        return outputs_import(**kwargs)
