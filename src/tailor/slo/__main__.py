import sys

from tailor.slo.cli import main

sys.exit(main())
