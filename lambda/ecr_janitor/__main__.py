import sys

from ecr_janitor.cli import main

sys.exit(main())
