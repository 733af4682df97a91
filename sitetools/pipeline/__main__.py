import sys

from sitetools.pipeline.cli import main

sys.exit(main())
