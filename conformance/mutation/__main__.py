import sys

from conformance.mutation.cli import main

sys.exit(main())
