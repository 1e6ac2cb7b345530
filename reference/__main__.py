"""`python -m reference`: the same as the `nvcf-reference` console script."""

import sys

from reference.cli import main

sys.exit(main())
