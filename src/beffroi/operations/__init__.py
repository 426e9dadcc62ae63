"""Control posts, incidents, work orders, SLAs and crisis plans."""
