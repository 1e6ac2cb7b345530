"""Run results and the reports made from them (YAML certification report, JUnit, HTML, repro bundles)."""
