"""Email providers behind one protocol: SMTP, SendGrid, Mailgun and the .eml outbox."""

from dropkit.outreach.providers.base import EmailProvider, SendResult
from dropkit.outreach.providers.mailgun import MailgunProvider
from dropkit.outreach.providers.outbox import OutboxProvider
from dropkit.outreach.providers.sendgrid import SendGridProvider
from dropkit.outreach.providers.smtp import SmtpProvider

__all__ = [
    "EmailProvider",
    "MailgunProvider",
    "OutboxProvider",
    "SendGridProvider",
    "SendResult",
    "SmtpProvider",
]
