import sys

from mini_service.app import main

sys.exit(main())
