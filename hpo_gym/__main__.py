"""``python -m hpo_gym`` is the ``hpo-gym`` command."""

import sys

from hpo_gym.cli import main

sys.exit(main())
