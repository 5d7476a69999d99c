import sys

from pair_cace.export.cli import main

sys.exit(main())
