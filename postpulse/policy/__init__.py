"""The policy engine: may an engagement action run now, and if not, why not?

Plain Python, no Dagster, no database: counts and idempotency answers come in through the
``UsageCounter`` and ``IdempotencyChecker`` protocols, which the store implements.

    from postpulse.policy import PolicyEngine, Blocklist, ActionRequest, AccountState, AccountSettings
    engine = PolicyEngine(Blocklist(entries), usage=counter, idempotency=checker)
    decision = engine.decide(request, account, now)   # Decision(outcome, reason_code, message, ...)
"""

from .actions import ACTION_TYPES, TEXT_ACTIONS, AccountState, ActionRequest, ActionType
from .block_signal import BlockSignal, BlockSignalKind, classify_failure, freeze_message, freeze_until
from .blocklist import Blocklist, BlocklistEntry, BlocklistError, BlocklistMatch, validate_entry
from .decision import Decision, ReasonCode
from .engine import PolicyEngine, auto_approves
from .idempotency import IdempotencyChecker, InMemoryIdempotency, idempotency_key, normalize_text, text_hash
from .opt_out import entry_for as opt_out_entry_for
from .opt_out import is_opt_out
from .quiet_hours import QuietHours
from .rate_limits import InMemoryUsageCounter, UsageCounter, WindowedUsageCounter, check_rate_limits
from .settings import DEFAULT_RATE_LIMITS, AccountSettings, RateLimit, SettingsError
from .templates import TemplateError

__all__ = [
    "ACTION_TYPES",
    "TEXT_ACTIONS",
    "AccountState",
    "ActionRequest",
    "ActionType",
    "BlockSignal",
    "BlockSignalKind",
    "classify_failure",
    "freeze_message",
    "freeze_until",
    "Blocklist",
    "BlocklistEntry",
    "BlocklistError",
    "BlocklistMatch",
    "validate_entry",
    "Decision",
    "ReasonCode",
    "PolicyEngine",
    "auto_approves",
    "IdempotencyChecker",
    "InMemoryIdempotency",
    "idempotency_key",
    "normalize_text",
    "text_hash",
    "is_opt_out",
    "opt_out_entry_for",
    "QuietHours",
    "InMemoryUsageCounter",
    "UsageCounter",
    "WindowedUsageCounter",
    "check_rate_limits",
    "DEFAULT_RATE_LIMITS",
    "AccountSettings",
    "RateLimit",
    "SettingsError",
    "TemplateError",
]
