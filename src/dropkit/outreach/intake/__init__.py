"""Bounce and complaint intake: verified provider webhooks feeding the suppression list."""

from dropkit.outreach.intake.feedback import Feedback, FeedbackKind, FeedbackProcessor
from dropkit.outreach.intake.mailgun import verify_mailgun
from dropkit.outreach.intake.sendgrid import verify_sendgrid
from dropkit.outreach.intake.sns import SnsCertificates, SnsVerifier

__all__ = [
    "Feedback",
    "FeedbackKind",
    "FeedbackProcessor",
    "SnsCertificates",
    "SnsVerifier",
    "verify_mailgun",
    "verify_sendgrid",
]
