"""ShopBot: the lecture's returns flow on a real SQLite order database (notebook 10).

A customer wants to return an item. The agent (see :func:`labkit.agents.react`) decides the steps and
calls the tools here: look the order up, request a return label from the shipping partner, verify
the customer's email, and send the label. Everything is real: SQLite on disk, a shipping-label
service over HTTP on loopback (:class:`ShippingLabelService`), and an ``outbox`` table that records
what was "sent". Every query is parameterized - what the model writes never becomes SQL.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SCHEMA = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                     placed_on TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE items (order_id INTEGER NOT NULL REFERENCES orders(id), sku TEXT NOT NULL, name TEXT NOT NULL,
                    quantity INTEGER NOT NULL, price REAL NOT NULL);
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id INTEGER NOT NULL, email TEXT NOT NULL,
                     subject TEXT NOT NULL, body TEXT NOT NULL, label_id TEXT NOT NULL,
                     sent_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
"""
CUSTOMERS = [(1, "Ana Costa", "ana.costa@example.com"), (2, "Ben Okafor", "ben.okafor@example.com"),
             (3, "Chloe Martin", "chloe.m@example.com")]
ORDERS = [(1042, 1, "2026-11-02", "delivered"), (1043, 2, "2026-11-05", "delivered"),
          (1044, 3, "2026-11-10", "shipped"), (1045, 1, "2026-11-12", "delivered")]
ITEMS = [(1042, "JN-32-BLU", "Slim jeans, blue, 32", 1, 59.0), (1042, "TS-M-WHT", "T-shirt, white, M", 2, 15.0),
         (1043, "JK-L-GRN", "Rain jacket, green, L", 1, 89.0), (1044, "SH-42-BLK", "Running shoes, 42", 1, 120.0),
         (1045, "SC-WOOL", "Wool scarf", 1, 25.0)]

# The query a tool uses to find an order: placeholders only (notebook 10, exercise 3 writes its own).
ORDER_QUERY = ("SELECT o.id, o.placed_on, o.status, c.name, c.email FROM orders o "
               "JOIN customers c ON c.id = o.customer_id WHERE o.id = ?")


def create_store(path: str | Path) -> sqlite3.Connection:
    """Create (or reset) the shop's SQLite database with a few customers, orders and items."""
    path = Path(path)
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.executescript(SCHEMA)
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?)", CUSTOMERS)
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ORDERS)
    conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", ITEMS)
    conn.commit()
    return conn


class ShippingLabelService:
    """A stand-in for the shipping partner's API: ``POST /labels`` returns a label id, over HTTP on loopback.

    Use as a context manager; ``requests`` lists what it received.
    """

    def __init__(self):
        self.requests: list[dict] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                try:
                    payload = json.loads(self.rfile.read(length) or b"{}")
                    order_id = int(payload["order_id"])
                except (ValueError, KeyError, TypeError):
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(b'{"error": "order_id (a number) is required"}')
                    return
                service.requests.append(payload)
                body = json.dumps({"label_id": f"RL-{order_id}-{len(service.requests):03d}",
                                   "carrier": "Parcelway", "drop_off": "any Parcelway point within 14 days"})
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ShippingLabelService:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _order_id(text: str) -> int:
    text = text.strip().lstrip("#")
    if not re.fullmatch(r"\d{1,9}", text):
        raise ValueError(f"{text!r} is not an order number (digits only)")
    return int(text)


class ShopTools:
    """The ShopBot's actions, each ``argument -> observation`` text, with the flow's rules enforced."""

    def __init__(self, conn: sqlite3.Connection, shipping_url: str):
        self.conn, self.shipping_url = conn, shipping_url
        self.labels: dict[int, str] = {}
        self.verified: set[int] = set()

    def get_order(self, argument: str) -> str:
        """Look an order up by number: date, status and items (never the customer's email)."""
        order_id = _order_id(argument)
        row = self.conn.execute(ORDER_QUERY, (order_id,)).fetchone()
        if row is None:
            return f"No order {order_id} was found."
        items = self.conn.execute("SELECT name, quantity, price FROM items WHERE order_id = ?", (order_id,)).fetchall()
        listed = "; ".join(f"{q} x {n} (${p:.2f})" for n, q, p in items)
        return f"Order {row[0]} placed on {row[1]} by {row[3]}, status {row[2]}. Items: {listed}."

    def request_label(self, argument: str) -> str:
        """Ask the shipping partner for a return label for an order."""
        order_id = _order_id(argument)
        if self.conn.execute("SELECT 1 FROM orders WHERE id = ?", (order_id,)).fetchone() is None:
            return f"No order {order_id} was found."
        req = urllib.request.Request(f"{self.shipping_url}/labels", method="POST",
                                     data=json.dumps({"order_id": order_id}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            label = json.loads(resp.read())
        self.labels[order_id] = label["label_id"]
        return f"Return label {label['label_id']} created with {label['carrier']}: drop off at {label['drop_off']}."

    def verify_email(self, argument: str) -> str:
        """Check that the email the customer gives matches the one on the order: 'ORDER, EMAIL'."""
        order_text, _, email = argument.partition(",")
        order_id, email = _order_id(order_text), email.strip()
        if not email:
            return "Give the order number and the email, separated by a comma."
        match = self.conn.execute(
            "SELECT 1 FROM orders o JOIN customers c ON c.id = o.customer_id "
            "WHERE o.id = ? AND lower(c.email) = lower(?)",
            (order_id, email)).fetchone()
        if match is None:
            return f"The email does not match order {order_id}."
        self.verified.add(order_id)
        return f"Email verified for order {order_id}."

    def send_label(self, argument: str) -> str:
        """Email the return label to the verified address (into the outbox table)."""
        order_id = _order_id(argument)
        if order_id not in self.labels:
            return f"No return label yet for order {order_id}: request one first."
        if order_id not in self.verified:
            return f"The customer's email for order {order_id} is not verified yet: verify it first."
        email = self.conn.execute("SELECT c.email FROM orders o JOIN customers c ON c.id = o.customer_id "
                                  "WHERE o.id = ?", (order_id,)).fetchone()[0]
        self.conn.execute("INSERT INTO outbox (order_id, email, subject, body, label_id) VALUES (?, ?, ?, ?, ?)",
                          (order_id, email, f"Your return label for order {order_id}",
                           f"Print label {self.labels[order_id]} and drop the parcel off within 14 days.",
                           self.labels[order_id]))
        self.conn.commit()
        return f"Label {self.labels[order_id]} sent to the customer's verified email."

    def tools(self) -> dict:
        return {"get_order": self.get_order, "request_label": self.request_label,
                "verify_email": self.verify_email, "send_label": self.send_label}


SHOPBOT_INTRO = ("You are ShopBot, a returns assistant. Help the customer return an item: find the order, request a "
                 "return label, verify the customer's email, send the label, then finish with a message to the "
                 "customer. Use Thought, Action, Observation steps. Action is one of:")

SHOPBOT_INSTRUCTIONS = (
    "You are ShopBot, a returns assistant. Use Thought, Action, Observation steps. Actions:\n"
    "get_order[order number] - look up an order and its items\n"
    "request_label[order number] - create a return label with the shipping partner\n"
    "verify_email[order number, email] - check the customer's email against the order\n"
    "send_label[order number] - email the label (only after the email is verified)\n"
    "Finish[message to the customer] - end the conversation\n"
)


def outbox(conn: sqlite3.Connection):
    """The emails ShopBot has sent, as a pandas table."""
    import pandas as pd

    return pd.read_sql_query("SELECT id, order_id, email, subject, label_id FROM outbox ORDER BY id", conn)
