"""`python -m miniray ...`: the `miniray` command (see miniray/scripts)."""
import sys

from miniray.scripts.scripts import main

sys.exit(main())
