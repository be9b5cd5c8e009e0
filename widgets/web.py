"""The widget's web parts in one registration: the script (`widgets.assets`) and the demo
store page (`widgets.demo`)."""

from __future__ import annotations

from flask import Flask

from widgets import assets, demo


def init_app(app: Flask) -> None:
    assets.init_app(app)
    demo.init_app(app)
