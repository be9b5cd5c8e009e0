"""Lifecycle mail: queue (`outbox`), render (`render`), send (`smtp`), opt out (`unsubscribe`).

Domain code never sends mail; the job layer calls `app.mail.outbox.queue_mail`.
"""
