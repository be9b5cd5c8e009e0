"""Where the real platform payloads live: `../shared/fixtures/` beside the repository
(Shopify's sample payloads, a real WooCommerce store's signed deliveries and REST answers;
each folder's README says what produced what)."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
if not FIXTURES.exists():  # a checkout that carries its own copy
    FIXTURES = Path(__file__).resolve().parent / "fixtures"
