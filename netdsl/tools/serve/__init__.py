"""``netdsl serve``: a run folder's model over HTTP (Starlette on uvicorn, the ``web`` extra).

One module per concern: :mod:`.signature` says what the model takes and gives (from the run
folder's plan, no TensorFlow), :mod:`.decode` turns request bodies into arrays (every bad
value a 4xx naming its field), :mod:`.batcher` gathers concurrent requests into one model
call, :mod:`.app` is the ASGI application and :mod:`.server` runs it on uvicorn with the limits
that keep a hostile client from hurting it. Only :mod:`.server` and :mod:`.app` import the web
stack, and only the model's loading imports TensorFlow.
"""
