"""From a leaderboard to a decision (issue 18): which model per category, at what cost, and how
sure. Constraints (`constraints.py`), prices (`prices.py`), the decision (`service.py`), the
recorded decisions (`records.py`), the report (`report.py`) and the pages and API (`views.py`,
`api.py`). The statistics are pure functions in `evaluations.analysis.noninferiority` and
`evaluations.analysis.routing`."""
