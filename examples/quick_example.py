from pydantic import BaseModel
from azure_functions_durable_graph import DurableGraphApp, ManifestBuilder

class MyState(BaseModel):
    message: str
    processed: bool = False

def process(state: MyState) -> dict:
    return {"processed": True}

def finalize(state: MyState) -> dict:
    return {"message": f"Done: {state.message}"}

builder = ManifestBuilder(graph_name="my_graph", state_model=MyState)
builder.set_entrypoint("process")
builder.add_node("process", process, next_node="finalize")
builder.add_node("finalize", finalize, terminal=True)

runtime = DurableGraphApp()
runtime.register_registration(builder.build())
app = runtime.function_app
