"""Where the real platform payloads live: `tests/fixtures/`, a copy of the project's
shared fixtures (Shopify's sample payloads, a real WooCommerce store's signed deliveries
and REST answers; each folder's README says what produced what), kept in the repository
so a clone alone runs the tests."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
