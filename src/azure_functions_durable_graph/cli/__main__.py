"""``python -m azure_functions_durable_graph.cli``: the same as the ``durable-graph`` script."""

import sys

from . import main

sys.exit(main())
