# The original Python token service reproduced for the baseline: its three routes and rules (a counter
# under a lock, X-API-PASSWORD, a TIMER_DURATION refill timer restarted per issue), run with `flask run`.

import os
import sys
import threading

from flask import Flask, jsonify, request

app = Flask(__name__)

PASSWORD = os.environ.get("API_PASSWORD", "your_password_here")
TOTAL = int(os.environ.get("TOTAL_TOKENS", "1"))
TIMER_SECONDS = float(os.environ.get("TIMER_DURATION", "1800"))

state = {"available": TOTAL, "timer": None}
counter_lock = threading.Lock()
timer_lock = threading.Lock()


def refill_if_empty():
    # The original's answer to clients that die holding a token: all-or-nothing after a quiet period.
    with counter_lock:
        if state["available"] == 0:
            state["available"] = TOTAL
    restart_timer()


def restart_timer():
    # A fresh threading.Timer per issue, as the original did: part of its per-request cost.
    with timer_lock:
        if state["timer"] is not None:
            state["timer"].cancel()
        state["timer"] = threading.Timer(TIMER_SECONDS, refill_if_empty)
        state["timer"].daemon = True
        state["timer"].start()


def authorized():
    return request.headers.get("X-API-PASSWORD") == PASSWORD


def reply(body, status):
    # The original printed every answer to stdout.
    print(f"Response: {body}", file=sys.stdout)
    return jsonify(body), status


@app.route("/issue_token", methods=["GET"])
def issue_token():
    if not authorized():
        return jsonify({"error": "Unauthorized"}), 401
    info = request.args.get("info", "No info provided")
    with counter_lock:
        if state["available"] > 0:
            state["available"] -= 1
            body, status = {"message": "Token issued successfully.", "available_tokens": state["available"], "info": info}, 200
        else:
            body, status = {"message": "No tokens available.", "available_tokens": 0, "info": info}, 429
        restart_timer()
    return reply(body, status)


@app.route("/recycle_token", methods=["GET"])
def recycle_token():
    if not authorized():
        return jsonify({"error": "Unauthorized"}), 401
    info = request.args.get("info", "No info provided")
    with counter_lock:
        if state["available"] < TOTAL:
            state["available"] += 1
            body, status = {"message": "Token recycled successfully.", "available_tokens": state["available"], "info": info}, 200
        else:
            body, status = {"message": "All tokens are already available.", "available_tokens": state["available"], "info": info}, 400
    return reply(body, status)


@app.route("/tokens", methods=["GET"])
def tokens():
    if not authorized():
        return jsonify({"error": "Unauthorized"}), 401
    return jsonify({"available_tokens": state["available"]}), 200


restart_timer()
