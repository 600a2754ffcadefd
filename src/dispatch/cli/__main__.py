import sys

from dispatch.cli.parser import main

sys.exit(main())
