"""Mutation testing of the suites: every rule's tests must FAIL against a reference that breaks it.

`python -m conformance.mutation` starts one `reference serve --violate RULE` process per mutant against
a shared embedded environment, runs the rule's tests at it and reports the mutation score.
"""
