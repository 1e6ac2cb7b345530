"""The `run`, `report` and `repro` commands: drive the suites with pytest and turn results into reports."""
