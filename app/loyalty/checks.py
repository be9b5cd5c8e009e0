"""The ledger's invariants (DESIGN.md, "Ledger invariants"), each as one set-based query.

`find_violations` returns the first rows that break each invariant; `loyalty check-ledger`
prints them and exits non-zero. Each query returns (customer_id, detail) rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Violation:
    invariant: str
    customer_id: int | None
    detail: str

    def __str__(self) -> str:
        who = f"customer {self.customer_id}" if self.customer_id is not None else "ledger"
        return f"{self.invariant}: {who}: {self.detail}"


_EARNING = "('earn_order','earn_signup','earn_birthday','earn_referral','earn_action','reversal','import')"

# (name, SQL). Every query takes :shop_id (NULL means every shop) and returns two columns.
INVARIANTS: list[tuple[str, str]] = [
    (
        "balance_equals_posted_sum",
        """SELECT c.id, 'cached ' || c.points_balance || ' but posted entries sum to ' || COALESCE(s.total, 0)
           FROM customers c LEFT JOIN (SELECT customer_id, SUM(points) AS total FROM ledger_entries
                                       WHERE status = 'posted' GROUP BY customer_id) s ON s.customer_id = c.id
           WHERE (CAST(:shop_id AS BIGINT) IS NULL OR c.shop_id = :shop_id) AND c.points_balance <> COALESCE(s.total, 0)""",
    ),
    (
        "pending_equals_pending_sum",
        """SELECT c.id, 'cached ' || c.pending_points || ' but pending entries sum to ' || COALESCE(s.total, 0)
           FROM customers c LEFT JOIN (SELECT customer_id, SUM(points) AS total FROM ledger_entries
                                       WHERE status = 'pending' GROUP BY customer_id) s ON s.customer_id = c.id
           WHERE (CAST(:shop_id AS BIGINT) IS NULL OR c.shop_id = :shop_id) AND c.pending_points <> COALESCE(s.total, 0)""",
    ),
    (
        "lifetime_equals_posted_earnings",
        f"""SELECT c.id, 'cached ' || c.lifetime_points || ' but posted earnings sum to ' || COALESCE(s.total, 0)
           FROM customers c LEFT JOIN (SELECT customer_id, SUM(points) AS total FROM ledger_entries
                                       WHERE status = 'posted' AND kind IN {_EARNING}
                                       GROUP BY customer_id) s ON s.customer_id = c.id
           WHERE (CAST(:shop_id AS BIGINT) IS NULL OR c.shop_id = :shop_id) AND c.lifetime_points <> COALESCE(s.total, 0)""",
    ),
    (
        "posted_sequence_is_complete",
        """SELECT c.id, 'ledger_seq ' || c.ledger_seq || ' but ' || COALESCE(s.n, 0) || ' posted entries, highest seq '
                  || COALESCE(s.top, 0)
           FROM customers c LEFT JOIN (SELECT customer_id, COUNT(*) AS n, MAX(seq) AS top FROM ledger_entries
                                       WHERE status = 'posted' GROUP BY customer_id) s ON s.customer_id = c.id
           WHERE (CAST(:shop_id AS BIGINT) IS NULL OR c.shop_id = :shop_id)
             AND (c.ledger_seq <> COALESCE(s.n, 0) OR c.ledger_seq <> COALESCE(s.top, 0))""",
    ),
    (
        "running_balance_matches",
        """SELECT customer_id, 'entry ' || id || ' (seq ' || seq || ') records balance ' || balance_after
                  || ' but the running sum is ' || running
           FROM (SELECT id, customer_id, seq, balance_after,
                        SUM(points) OVER (PARTITION BY customer_id ORDER BY seq
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
                 FROM ledger_entries WHERE status = 'posted' AND (CAST(:shop_id AS BIGINT) IS NULL OR shop_id = :shop_id)) r
           WHERE balance_after IS NULL OR balance_after <> running""",
    ),
    (
        "only_reversals_overdraw",
        """SELECT customer_id, 'entry ' || id || ' (' || kind || ', ' || points || ') left the balance at '
                  || balance_after
           FROM ledger_entries
           WHERE (CAST(:shop_id AS BIGINT) IS NULL OR shop_id = :shop_id) AND status = 'posted' AND points < 0
             AND balance_after < 0 AND kind <> 'reversal'""",
    ),
    (
        "two_phase_states_are_consistent",
        """SELECT customer_id, 'entry ' || id || ' is ' || status || ' with seq ' || COALESCE(CAST(seq AS TEXT), 'none')
                  || ' and ' || points || ' points'
           FROM ledger_entries
           WHERE (CAST(:shop_id AS BIGINT) IS NULL OR shop_id = :shop_id)
             AND ((status = 'posted' AND (seq IS NULL OR resolved_at IS NULL))
               OR (status = 'pending' AND (seq IS NOT NULL OR resolved_at IS NOT NULL OR points <= 0))
               OR (status = 'voided' AND (seq IS NOT NULL OR resolved_at IS NULL OR points <= 0))
               OR status NOT IN ('pending', 'posted', 'voided')
               OR points = 0)""",
    ),
    (
        "entries_belong_to_customer_shop",
        """SELECT e.customer_id, 'entry ' || e.id || ' is in shop ' || e.shop_id || ' but its customer is in shop '
                  || c.shop_id
           FROM ledger_entries e JOIN customers c ON c.id = e.customer_id
           WHERE (CAST(:shop_id AS BIGINT) IS NULL OR e.shop_id = :shop_id) AND e.shop_id <> c.shop_id""",
    ),
    (
        "idempotency_keys_unique",
        """SELECT MIN(customer_id), 'key ' || idempotency_key || ' used ' || COUNT(*) || ' times in shop ' || shop_id
           FROM ledger_entries WHERE (CAST(:shop_id AS BIGINT) IS NULL OR shop_id = :shop_id)
           GROUP BY shop_id, idempotency_key HAVING COUNT(*) > 1""",
    ),
]


def find_violations(session: Session, shop_id: int | None = None, *, limit: int = 5) -> list[Violation]:
    """Every invariant, checked in order; up to `limit` offending rows each."""
    found: list[Violation] = []
    for name, sql in INVARIANTS:
        rows = session.execute(text(sql + f" LIMIT {int(limit)}"), {"shop_id": shop_id}).all()
        found.extend(Violation(name, row[0], str(row[1])) for row in rows)
    return found


def first_violation(session: Session, shop_id: int | None = None) -> Violation | None:
    for name, sql in INVARIANTS:
        row = session.execute(text(sql + " LIMIT 1"), {"shop_id": shop_id}).first()
        if row is not None:
            return Violation(name, row[0], str(row[1]))
    return None
