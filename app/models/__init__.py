"""All models, imported here so metadata is complete for Alembic and tests."""

from app.models.audit import AuditEvent
from app.models.base import Base, utcnow
from app.models.campaign import BonusEvent
from app.models.console import AdjustmentRequest, ConsoleSession, ConsoleSettings, ShopifyStaffLink
from app.models.customer import Customer
from app.models.delivery import WebhookDelivery
from app.models.imports import IMPORT_FORMATS, IMPORT_STATUSES, BalanceImport
from app.models.install import InstallAttempt
from app.models.ledger import ENTRY_KINDS, ENTRY_STATUSES, LedgerEntry
from app.models.mail import MAIL_KINDS, MAIL_STATUSES, MailMessage
from app.models.order import OrderSnapshot
from app.models.redemption import REDEMPTION_STATUSES, Redemption
from app.models.referral import REFERRAL_STATUSES, CustomerFingerprint, Referral
from app.models.reward import REWARD_KINDS, Reward
from app.models.shop import PLATFORMS, Shop
from app.models.staff import ROLES, ApiToken, StaffUser, role_rank
from app.models.tier import Tier, TierChange
from app.models.winback import (
    WINBACK_OFFER_STATUSES,
    WINBACK_STAGES,
    WinbackCampaign,
    WinbackOffer,
    WinbackRhythm,
)

__all__ = [
    "BalanceImport",
    "IMPORT_FORMATS",
    "IMPORT_STATUSES",
    "AdjustmentRequest",
    "ConsoleSession",
    "ConsoleSettings",
    "ShopifyStaffLink",
    "BonusEvent",
    "CustomerFingerprint",
    "MAIL_KINDS",
    "MAIL_STATUSES",
    "MailMessage",
    "REFERRAL_STATUSES",
    "Referral",
    "Tier",
    "TierChange",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Customer",
    "InstallAttempt",
    "ENTRY_KINDS",
    "ENTRY_STATUSES",
    "LedgerEntry",
    "OrderSnapshot",
    "PLATFORMS",
    "REDEMPTION_STATUSES",
    "REWARD_KINDS",
    "Redemption",
    "Reward",
    "ROLES",
    "Shop",
    "StaffUser",
    "WebhookDelivery",
    "WINBACK_OFFER_STATUSES",
    "WINBACK_STAGES",
    "WinbackCampaign",
    "WinbackOffer",
    "WinbackRhythm",
    "role_rank",
    "utcnow",
]
