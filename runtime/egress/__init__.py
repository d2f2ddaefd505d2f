"""The way out of the customer's network: which proxy each destination takes."""
