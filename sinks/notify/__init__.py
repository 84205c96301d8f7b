"""Notifications of SLA events: e-mail (SMTP), Telegram Bot API and webhooks, plus the daily digest."""
