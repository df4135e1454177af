"""The hand-written server ``bench/serve_bench.py`` compares ``netdsl serve`` with: FastAPI and
``model.predict``, as a tutorial writes it (one model call per request, sync endpoint run in
FastAPI's thread pool), speaking TensorFlow Serving's ``{"instances"}`` → ``{"predictions"}``.

    python bench/serve_baseline.py RUN_FOLDER --port 8001     # needs fastapi and uvicorn
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel


class Instances(BaseModel):
    instances: list[list[float]]


def make_app(folder: str) -> FastAPI:
    model = keras.saving.load_model(os.path.join(folder, "model.keras"), compile=False)
    shape = model.input_shape[1:]
    app = FastAPI()

    @app.post("/v1/models/{name}:predict")
    def predict(name: str, body: Instances) -> dict[str, list[list[float]]]:
        x = np.asarray(body.instances, dtype=np.float32).reshape((-1, *shape))
        return {"predictions": model.predict(x, verbose=0).tolist()}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app = make_app(args.folder)
    print(f"baseline on http://127.0.0.1:{args.port}/", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
