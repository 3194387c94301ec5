"""Query schema of the admin analytics routes AN2-AN5 (the original's `analytics.validation.js`)."""
from __future__ import annotations

from .validation import Enum, IsoDate, Schema

BOTH_DATES = "Both startDate and endDate must be provided together"


class AnalyticsQuery(Schema):
    period: Enum("7d", "30d", "90d", "1y") = "30d"
    startDate: IsoDate = None
    endDate: IsoDate = None

    messages = {
        "period": {"any.only": "Period must be one of: 7d, 30d, 90d, 1y"},
        "startDate": {"date.base": "Start date must be a valid date",
                      "date.format": "Start date must be in ISO format (YYYY-MM-DD)"},
        "endDate": {"date.base": "End date must be a valid date",
                    "date.format": "End date must be in ISO format (YYYY-MM-DD)"},
    }

    def check(self) -> str | None:
        if (self.startDate is None) != (self.endDate is None):
            # [fix] the original answered a Joi reference error when only endDate was given.
            return BOTH_DATES
        if self.startDate is not None and self.endDate < self.startDate:
            return "End date must be after start date"
        return None
