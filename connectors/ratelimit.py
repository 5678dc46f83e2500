"""Rate-limit governors, one per vendor and credential: the base (clock, budget, Retry-After, the
registry) in :mod:`connectors.ratelimit_base`, the vendors' rules in :mod:`connectors.ratelimit_vendors`.
Import from here. See :mod:`connectors.ratelimit_base` for how a governor slows down before it is throttled.
"""

from connectors.ratelimit_base import *  # noqa: F401,F403
from connectors.ratelimit_base import __all__ as _base_all
from connectors.ratelimit_base import DEFAULT_MAX_WAIT_S, DEFAULT_RESERVE  # noqa: F401
from connectors.ratelimit_vendors import (  # noqa: F401
    XERO_APP_MINUTE_LIMIT, XERO_MAX_CONCURRENT, XERO_MINUTE_LIMIT, HubSpotGovernor, HubSpotRateLimit,
    IntercomGovernor, IntercomRateLimit, XeroGovernor, XeroRateLimit,
)

__all__ = [*_base_all, "HubSpotGovernor", "HubSpotRateLimit", "IntercomGovernor", "IntercomRateLimit",
           "XeroGovernor", "XeroRateLimit"]
