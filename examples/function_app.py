"""Every example graph in one app: ``durable-graph serve examples/function_app.py``.

The same file deploys to Azure Functions (the graphs' modules sit beside it).
"""

import content_classifier
import quick_example
import support_agent

from azure_functions_durable_graph import DurableGraphApp

runtime = DurableGraphApp()
for module in (quick_example, content_classifier, support_agent):
    for registration in module.runtime.registrations():
        runtime.register_registration(registration)

app = runtime.function_app
