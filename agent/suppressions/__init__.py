"""The workspace's suppression list: addresses Overture must not contact, by channel or on all of them."""
