"""Run results and the reports made from them (YAML certification report, JUnit, allure, HTML, repro bundles).

`model.py` is the contract with the pytest plugin; `build.build_report` turns a results folder into
`reports/<run-id>/`. See verdict.py for the roll-up and verdict rules.
"""
