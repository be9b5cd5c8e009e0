"""The baseline every HTTP figure is compared with: a Flask endpoint that does nothing.

    gunicorn 'bench.bare_app:app'
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/bare", methods=["GET", "POST"])
def bare():
    return jsonify(ok=True)


@app.route("/healthz")
def healthz():
    return jsonify(ok=True)
