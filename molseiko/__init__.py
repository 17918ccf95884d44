"""molseiko."""
