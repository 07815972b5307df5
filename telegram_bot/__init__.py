"""Telegram channel: the shop's assistant as a Telegram bot (python-telegram-bot), webhook or long polling.

`TelegramChannel` (channel.py) turns updates into `ChatService.turn` calls; delivery.py holds Telegram's rules
(one processing per update, flood limits, retries); text.py what the bot writes; `python -m telegram_bot` the
command line (poll, set-webhook, delete-webhook).
"""

import os

# python-telegram-bot 22 warns (PTBDeprecationWarning) whenever it builds a RetryAfter for a 429 unless this opt-in to
# the next major version's behaviour (durations as timedelta) is set; this package reads no such attribute itself.
os.environ.setdefault("PTB_TIMEDELTA", "true")
