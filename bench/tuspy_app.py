"""tuspyserver (PyPI) as a peer: its FastAPI router on uvicorn, the same stack as upslice.

usage: python bench/tuspy_app.py PORT DIRECTORY
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from tuspyserver import create_tus_router


def app_for(directory: str) -> FastAPI:
    app = FastAPI()
    app.include_router(create_tus_router(prefix="files", files_dir=directory))
    return app


if __name__ == "__main__":
    port, directory = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(app_for(directory), host="127.0.0.1", port=port, log_level="warning")
