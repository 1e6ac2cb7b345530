"""The sample-chart pipeline: case overlays → chart folders → lint → package → push → manifest.

cases.py (load and validate overlays), build.py (materialise a chart), package.py (batched helm lint
and package), cache.py (the content-addressed store), pipeline.py (build with the cache), push.py
(helm push with a push cache), manifest.py (what a harness needs per case), render.py and verify.py
(helm template, and checks of our own charts against their overlays), cli.py (`charts build|push|list`).
"""
