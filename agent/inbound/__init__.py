"""What comes back: replies, opt-outs, bounces and receipts, stored once and applied to the campaign.

``store.record_inbound`` keeps each delivery whole and finds a repeat; ``effects`` applies one
(the enrollment moves, suppressions, voided outreaches, the reply thread); ``intent`` reads what a
reply means. The doors (the inbound email endpoint and SMTP receiver, Twilio's webhooks, the
unsubscribe page) parse and match, then call these.
"""
